using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace SharpGlance.Tokenization;

/// <summary>
/// GPT-2's pre-tokenisation, <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>,
/// applied to each stretch of text between special tokens, which come out whole (SPEC §6).
/// </summary>
/// <remarks>
/// Hand-written rather than a <see cref="RegexPreTokenizer"/> over that pattern, because parity needs it:
/// .NET's <c>Regex</c> sees UTF-16 code units, so a letter or digit outside the BMP (CJK Extension B
/// "𠀀", mathematical "𝐀", …) is two surrogates of category Cs and would fall into the "other" class,
/// while HF (Python <c>regex</c> in GPT2Tokenizer, Oniguruma in the fast tokenizer) classifies code points.
/// This scanner walks runes and reproduces the pattern's alternation order and its one backtracking
/// case (<c>\s+(?!\S)</c> leaves the last space of a run to start the next word). Whitespace is
/// .NET's <see cref="Rune.IsWhiteSpace"/> (Zs/Zl/Zp, \t–\r, U+0085), the same set as Oniguruma's \s.
/// </remarks>
public sealed class Gpt2PreTokenizer : PreTokenizer
{
    private static readonly string[] Contractions = ["s", "t", "re", "ve", "m", "ll", "d"];
    private readonly string[] _specialTokens;

    /// <param name="specialTokens">Strings split out whole wherever they appear in the text.</param>
    public Gpt2PreTokenizer(IEnumerable<string>? specialTokens = null)
    {
        // Longest first: at one position the longest special token wins (HF's trie does the same).
        _specialTokens = (specialTokens ?? []).Where(s => s.Length > 0).Distinct()
            .OrderByDescending(s => s.Length).ThenBy(s => s, StringComparer.Ordinal).ToArray();
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        text is null ? [] : Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

    /// <summary>The (offset, length) of every piece, in order; the pieces cover the text exactly.</summary>
    public List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int, int)>();
        int segmentStart = 0;
        for (int i = 0; i < text.Length;)
        {
            int special = SpecialAt(text, i);
            if (special == 0) { i++; continue; }
            SplitOrdinary(text, segmentStart, i, pieces);
            pieces.Add((i, special));
            i += special;
            segmentStart = i;
        }
        SplitOrdinary(text, segmentStart, text.Length, pieces);
        return pieces;
    }

    private int SpecialAt(ReadOnlySpan<char> text, int i)
    {
        foreach (var s in _specialTokens)
            if (text[i..].StartsWith(s, StringComparison.Ordinal)) return s.Length;
        return 0;
    }

    private enum CharClass { Letter, Number, Space, Other }

    private static CharClass ClassAt(ReadOnlySpan<char> text, int i, out int width)
    {
        // A lone surrogate decodes as U+FFFD (width 1), which is "other", as Python sees an unpaired one.
        Rune.DecodeFromUtf16(text[i..], out var rune, out width);
        if (Rune.IsWhiteSpace(rune)) return CharClass.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharClass.Number,
            _ => CharClass.Other,
        };
    }

    private static void SplitOrdinary(ReadOnlySpan<char> text, int start, int end, List<(int, int)> pieces)
    {
        var segment = text[..end];
        int i = start;
        while (i < end)
        {
            int next = MatchAt(segment, i);
            pieces.Add((i, next - i));
            i = next;
        }
    }

    /// <summary>End of the pattern's match starting at <paramref name="i"/> (the pattern always matches).</summary>
    private static int MatchAt(ReadOnlySpan<char> text, int i)
    {
        int end = text.Length;

        // 's|'t|'re|'ve|'m|'ll|'d (ASCII apostrophe, case-sensitive, tried in this order)
        if (text[i] == '\'')
            foreach (var c in Contractions)
                if (text[(i + 1)..].StartsWith(c, StringComparison.Ordinal)) return i + 1 + c.Length;

        // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional U+0020, then a run of one class.
        int runStart = i;
        if (text[i] == ' ' && i + 1 < end && ClassAt(text, i + 1, out _) != CharClass.Space) runStart = i + 1;
        var cls = ClassAt(text, runStart, out int width);
        if (cls != CharClass.Space)
        {
            int j = runStart + width;
            while (j < end && ClassAt(text, j, out int w) == cls) j += w;
            return j;
        }

        // '\s+(?!\S)' then '\s+': a whitespace run; when a non-space follows, its last character is left to
        // prefix the next piece, unless the run is a single character. Whitespace is all BMP, width 1.
        int k = i + 1;
        while (k < end && ClassAt(text, k, out _) == CharClass.Space) k++;
        if (k == end || k - 1 == i) return k;
        return k - 1;
    }
}
