using System.Globalization;
using System.Text;
using SharpGlance.Evaluation.Lexing;

namespace SharpGlance.Evaluation;

/// <summary>
/// coco-caption's <c>PTBTokenizer.tokenize</c> (pycocoevalcap/tokenizer/ptbtokenizer.py, Python 3), step by step:
/// <list type="number">
/// <item>each caption's '\n' becomes a space, and the captions are joined with '\n', one caption a line;</item>
/// <item>Stanford PTBTokenizer 3.4.1 runs over that text with <c>-preserveLines -lowerCase</c>
///   (<see cref="PtbLexer"/>; tokens are lower-cased by Java's <c>toLowerCase(Locale.ENGLISH)</c> and joined
///   by spaces, a line break per line break);</item>
/// <item>each output line is <c>rstrip()</c>ped, split on ' ', stripped of the tokens in
///   <see cref="Punctuation"/> (an exact, case-sensitive comparison after lower-casing: "-lrb-" stays, as
///   SPEC §12 says) and joined with single spaces.</item>
/// </list>
/// The captions of one call are lexed as one text, as the Java process sees them: a lookahead rule may look
/// past the end of a caption into the next one (e.g. "letter I." before a caption starting "A man" gives
/// "i", not "i."). So tokenise references together and candidates together, in evaluation order.
/// <para>
/// One deliberate difference: in coco-caption a caption holding another line break that the Java lexer
/// honours ('\r', U+2028, U+2029, '\v', '\f') is split into two lines and every later caption of the call
/// receives its neighbour's tokens. Here those characters are read as spaces instead.
/// </para>
/// </summary>
public static class PtbTokenizer
{
    /// <summary>The tokens coco-caption drops after tokenising (ptbtokenizer.py PUNCTUATIONS).</summary>
    public static readonly IReadOnlySet<string> Punctuation = new HashSet<string>(StringComparer.Ordinal)
    {
        "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";",
    };

    /// <summary>Tokenises <paramref name="captions"/> as one coco-caption tokenizer call; one string per caption.</summary>
    public static string[] Tokenize(IReadOnlyList<string> captions)
    {
        ArgumentNullException.ThrowIfNull(captions);
        if (captions.Count == 0) return [];
        var text = new StringBuilder();
        for (int i = 0; i < captions.Count; i++)
        {
            if (i > 0) text.Append('\n');
            foreach (char c in captions[i] ?? throw new ArgumentException($"caption {i} is null", nameof(captions)))
                text.Append(c is '\n' or '\r' or '\u2028' or '\u2029' or '\u000B' or '\u000C' ? ' ' : c);
        }

        // The Java side: one output line per input line, tokens lower-cased and space-separated.
        var lines = new List<string>(captions.Count);
        var line = new StringBuilder();
        bool beginLine = true;
        foreach (var token in PtbLexer.Instance.Tokenize(text.ToString()))
        {
            if (token == PtbLexer.NewlineToken)
            {
                lines.Add(line.ToString());
                line.Clear();
                beginLine = true;
                continue;
            }
            if (!beginLine) line.Append(' ');
            beginLine = false;
            line.Append(JavaLowerCase(token));
        }
        lines.Add(line.ToString());
        if (lines.Count != captions.Count)
            throw new InvalidOperationException($"PTB tokenizer: {lines.Count} lines for {captions.Count} captions");

        // The Python side.
        var result = new string[captions.Count];
        for (int i = 0; i < result.Length; i++)
            result[i] = string.Join(' ', PythonRStrip(lines[i]).Split(' ').Where(w => !Punctuation.Contains(w)));
        return result;
    }

    /// <summary>One caption alone (no neighbour to look ahead into).</summary>
    public static string Tokenize(string caption) => Tokenize([caption])[0];

    /// <summary>Python 3's <c>str.isspace()</c> for one UTF-16 unit (what <c>split()</c> and <c>rstrip()</c> use).</summary>
    public static bool IsPythonWhitespace(char c) => c switch
    {
        >= '\t' and <= '\r' => true,
        >= '\u001C' and <= '\u001F' => true,
        ' ' or '\u0085' or '\u00A0' or '\u1680' or '\u2028' or '\u2029' or '\u202F' or '\u205F' or '\u3000' => true,
        >= '\u2000' and <= '\u200A' => true,
        _ => false,
    };

    /// <summary>Python's <c>s.split()</c>: runs of whitespace separate, no empty pieces.</summary>
    public static string[] PythonSplit(string s)
    {
        var parts = new List<string>();
        int i = 0, n = s.Length;
        while (i < n)
        {
            while (i < n && IsPythonWhitespace(s[i])) i++;
            int start = i;
            while (i < n && !IsPythonWhitespace(s[i])) i++;
            if (i > start) parts.Add(s.Substring(start, i - start));
        }
        return parts.ToArray();
    }

    private static string PythonRStrip(string s)
    {
        int end = s.Length;
        while (end > 0 && IsPythonWhitespace(s[end - 1])) end--;
        return s[..end];
    }

    /// <summary>
    /// Java's <c>String.toLowerCase(Locale.ENGLISH)</c>: simple lower-case mapping per code point, with the two
    /// context rules Java applies outside Turkish/Lithuanian locales: İ (U+0130) → "i̇" and Σ → ς at the end
    /// of a word.
    /// </summary>
    internal static string JavaLowerCase(string s)
    {
        bool ascii = true;
        foreach (char c in s) if (c >= 128 || (c >= 'A' && c <= 'Z')) { ascii = false; break; }
        if (ascii) return s;
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\u0130') sb.Append("i\u0307");
            else if (c == '\u03A3') sb.Append(IsFinalSigma(s, i) ? '\u03C2' : '\u03C3');
            else if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                sb.Append(Rune.ToLowerInvariant(new Rune(c, s[i + 1])).ToString());
                i++;
            }
            else sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Java's final-sigma test (ConditionalSpecialCasing.isFinalCased): within the word around Σ, a cased
    /// character before it and none after it. Java's word breaks (its old rule-based BreakIterator) are
    /// approximated: letters other than CJK ideographs and kana, digits and marks join, and so do dashes,
    /// apostrophes, quotes, periods, underscores and soft hyphens between two letters (probed with Java 17).
    /// </summary>
    private static bool IsFinalSigma(string s, int i)
    {
        bool casedBefore = false;
        for (int j = i - 1; j >= 0 && InWord(s, j); j--)
            if (IsCased(s[j])) { casedBefore = true; break; }
        if (!casedBefore) return false;
        for (int k = i + 1; k < s.Length && InWord(s, k); k++)
            if (IsCased(s[k])) return false;
        return true;
    }

    private static bool InWord(string s, int j)
    {
        if (IsWordChar(s[j])) return true;
        bool joiner = s[j] is '\'' or '"' or '.' or '_' or '\u00AD' or '\u2027' ||
            CharUnicodeInfo.GetUnicodeCategory(s[j]) == UnicodeCategory.DashPunctuation;
        return joiner && j > 0 && j + 1 < s.Length && IsWordLetter(s[j - 1]) && IsWordLetter(s[j + 1]);
    }

    private static bool IsWordLetter(char c) => char.IsLetter(c) && IsWordChar(c);

    private static bool IsWordChar(char c) =>
        (char.IsLetterOrDigit(c) && !(c is >= '\u3041' and <= '\u30FE' or >= '\u4E00' and <= '\u9FA5' or '\u3005' or >= '\uF900' and <= '\uFA2D')) ||
        CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark or UnicodeCategory.Format;   // Java ignores marks and format chars inside words

    private static bool IsCased(char c) => char.IsUpper(c) || char.IsLower(c) ||
        CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;
}
