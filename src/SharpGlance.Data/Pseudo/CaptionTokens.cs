using System.Text;

namespace SharpGlance.Data.Pseudo;

internal enum TokenKind { Word, Number, Punct }

/// <summary>
/// One non-space token of a caption: a word (letters with inner apostrophes), a number, or one
/// punctuation character. Whitespace is not a token; <see cref="SpaceBefore"/> says whether some came
/// before it. Tokens are offsets into the original text, so text between edits is copied byte for byte.
/// </summary>
internal readonly record struct Token(int Start, int End, TokenKind Kind, bool SpaceBefore, string Lower)
{
    public int Length => End - Start;
}

internal static class CaptionTokens
{
    public static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        int i = 0;
        bool space = false;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c)) { space = true; i++; continue; }
            int start = i;
            TokenKind kind;
            if (char.IsLetter(c))
            {
                kind = TokenKind.Word;
                i++;
                while (i < text.Length)
                {
                    if (char.IsLetter(text[i]) || char.GetUnicodeCategory(text[i]) == System.Globalization.UnicodeCategory.NonSpacingMark) i++;
                    // "man's", "don't": an apostrophe between letters stays inside the word.
                    else if (text[i] is '\'' or '\u2019' && i + 1 < text.Length && char.IsLetter(text[i + 1])) i += 2;
                    else break;
                }
            }
            else if (char.IsAsciiDigit(c))
            {
                kind = TokenKind.Number;
                while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
            }
            else
            {
                kind = TokenKind.Punct;
                i += char.IsSurrogatePair(text, i) ? 2 : 1;
            }
            tokens.Add(new Token(start, i, kind, space, text[start..i].ToLowerInvariant()));
            space = false;
        }
        return tokens;
    }

    /// <summary>
    /// The lookup key of a phrase: its tokens lower-cased, one space where the text had whitespace and none
    /// where it had none, so "In  front of" → "in front of" and "T-shirt" → "t-shirt".
    /// </summary>
    public static string Key(string phrase) => Key(Tokenize(phrase), 0, int.MaxValue);

    public static string Key(IReadOnlyList<Token> tokens, int first, int count)
    {
        var sb = new StringBuilder();
        int end = (int)Math.Min((long)first + count, tokens.Count);
        for (int k = first; k < end; k++)
        {
            if (k > first && tokens[k].SpaceBefore) sb.Append(' ');
            sb.Append(tokens[k].Lower);
        }
        return sb.ToString();
    }
}
