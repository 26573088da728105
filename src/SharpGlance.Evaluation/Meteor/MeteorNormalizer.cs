using System.Text;
using System.Text.RegularExpressions;

namespace SharpGlance.Evaluation.Meteor;

/// <summary>
/// Meteor 1.5's <c>-norm</c> path for English (<c>edu.cmu.meteor.util.Normalizer.normalizeLine</c> with
/// punctuation kept, then Java's <c>String.toLowerCase()</c>): a Moses-style tokenizer with Meteor's
/// additions (quote and dash normalisation, dashes between words split, dotted abbreviations undotted,
/// English contractions split to the right, e.g. <c>it 's</c> → <c>it ' s</c>).
/// </summary>
/// <remarks>
/// The patterns are Java's, rewritten for .NET with the semantics Java gives them: <c>\s</c> and
/// <c>\p{Digit}</c>, <c>\p{Lower}</c> are ASCII-only in <c>java.util.regex</c>, and Java matches a
/// surrogate pair as one character, so the "separate other symbols" step keeps pairs (emoji) whole.
/// </remarks>
public static class MeteorNormalizer
{
    // Letters Meteor treats as word characters: ASCII, Latin-1/Latin Extended-A, Cyrillic.
    private const string Alpha = "A-Za-z\u0160\u017D\u0161\u017E\u0178\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u017E"
        + "\u0400-\u04FF\u0500-\u0527\uA640-\uA66E\uA67E-\uA697\u1D00-\u1D7F";
    private const string Alnum = "0-9" + Alpha;
    // java.util.regex \s (no UNICODE_CHARACTER_CLASS): [ \t\n\x0B\f\r].
    private const string JavaSpace = " \\t\\n\\x0B\\f\\r";
    private const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.Compiled;

    private static readonly Regex SepOther = new(
        "([\uD800-\uDBFF][\uDC00-\uDFFF]|[^" + Alnum + JavaSpace + "\\.'`,\\-\u2018\u2019])", Options);
    private static readonly Regex MultiDot = new("\\.([\\.]+)", Options);
    private static readonly Regex MultiDot2 = new("DOTMULTI\\.([^\\.])", Options);
    private static readonly Regex Comma = new("([^0-9])[,]([^0-9])", Options);
    private static readonly Regex Comma2 = new("([0-9])[,]([^0-9])", Options);
    private static readonly Regex Comma3 = new("([^0-9])[,]([0-9])", Options);
    private static readonly Regex QuoteNorm = new("([`\u2018\u2019])", Options);
    private static readonly Regex QuoteNorm2 = new("([\u201C\u201D]|'')", Options);
    private static readonly Regex RemoveDash = new("([" + Alnum + "\\.])[\\-]([" + Alnum + "])", Options);
    private static readonly Regex ContEn = new("([^" + Alpha + "])[']([^" + Alpha + "])", Options);
    private static readonly Regex ContEn2 = new("([^" + Alpha + "0-9])[']([" + Alpha + "])", Options);
    private static readonly Regex ContEn3 = new("([" + Alpha + "])[']([^" + Alpha + "])", Options);
    private static readonly Regex ContEn4 = new("([" + Alpha + "])[']([" + Alpha + "])", Options);
    private static readonly Regex ContEn5 = new("([0-9])[']([s])", Options);
    private static readonly Regex White = new("[ \u2000-\u200A\u202F\u205F\u3000\u00A0]+", Options);
    private static readonly Regex Nbp1 = new("[" + Alpha + "]", Options);

    /// <summary>Meteor's English nonbreaking prefixes (<c>resources/nonbreaking/english.prefixes</c>, from
    /// Moses): a word ending in "." whose stem is listed keeps its dot. These three only before a number.</summary>
    private static readonly HashSet<string> NonbreakingAny = new(StringComparer.Ordinal)
    {
        "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U",
        "V", "W", "X", "Y", "Z", "Adj", "Adm", "Adv", "Asst", "Bart", "Bldg", "Brig", "Bros", "Capt", "Cmdr", "Col",
        "Comdr", "Con", "Corp", "Cpl", "DR", "Dr", "Drs", "Ens", "Gen", "Gov", "Hon", "Hr", "Hosp", "Insp", "Lt",
        "MM", "MR", "MRS", "MS", "Maj", "Messrs", "Mlle", "Mme", "Mr", "Mrs", "Ms", "Msgr", "Op", "Ord", "Pfc",
        "Ph", "Prof", "Pvt", "Rep", "Reps", "Res", "Rev", "Rt", "Sen", "Sens", "Sfc", "Sgt", "Sr", "St", "Supt",
        "Surg", "v", "vs", "i.e", "rev", "e.g", "Nos", "Nr",
    };
    private static readonly HashSet<string> NonbreakingNumericOnly = new(StringComparer.Ordinal) { "No", "Art", "pp" };

    /// <summary>Normalise one line as <c>-norm</c> does (punctuation kept) and lower-case it like Java.</summary>
    public static string NormalizeAndLowercase(string line) => JavaText.ToLowerCase(Normalize(line));

    /// <summary>Meteor's <c>normalizeLine(line, LANG_EN, keepPunctuation: true)</c>.</summary>
    public static string Normalize(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        string s = " " + line + " ";

        // Separate all non-alphanumeric characters that aren't special cases.
        s = SepOther.Replace(s, " $1 ");

        // Escape runs of dots.
        s = MultiDot.Replace(s, " DOTMULTI$1");
        while (s.Contains("DOTMULTI.", StringComparison.Ordinal))
        {
            s = MultiDot2.Replace(s, "DOTDOTMULTI $1");
            s = s.Replace("DOTMULTI.", "DOTDOTMULTI", StringComparison.Ordinal);
        }

        // Separate commas except within numbers.
        s = Comma.Replace(s, "$1 , $2");
        s = Comma2.Replace(s, "$1 , $2");
        s = Comma3.Replace(s, "$1 , $2");

        // Meteor addition: normalise quotes and dashes.
        s = QuoteNorm.Replace(s, "'");
        s = QuoteNorm2.Replace(s, " \" ");
        s = s.Replace("\u2013", "-", StringComparison.Ordinal);
        s = s.Replace("--", "-", StringComparison.Ordinal);

        // Meteor addition: split dashes between words (alnum-alnum or dot-alnum, "U.S.-based").
        s = RemoveDash.Replace(s, "$1 $2");

        // English splits contractions to the right.
        s = ContEn.Replace(s, "$1 ' $2");
        s = ContEn2.Replace(s, "$1 ' $2");
        s = ContEn3.Replace(s, "$1 ' $2");
        s = ContEn4.Replace(s, "$1 '$2");
        s = ContEn5.Replace(s, "$1 '$2");

        // Rebuild the line word by word, splitting final dots unless the word is a nonbreaking prefix.
        var words = JavaText.Tokenize(s);
        var sb = new StringBuilder(s.Length + 8);
        for (int i = 0; i < words.Count; i++)
        {
            string w = words[i];
            if (w.Length > 1 && w.EndsWith('.'))
            {
                string pre = w[..^1];
                bool any = NonbreakingAny.Contains(pre);
                bool numericOnly = NonbreakingNumericOnly.Contains(pre);
                bool nextLower = i < words.Count - 1 && words[i + 1][0] is >= 'a' and <= 'z';
                bool nextDigit = i < words.Count - 1 && words[i + 1][0] is >= '0' and <= '9';
                if (pre.Contains('.') && Nbp1.IsMatch(pre))
                    sb.Append(w.Replace(".", "", StringComparison.Ordinal)); // U.S. -> US
                else if (any || nextLower)
                    sb.Append(w);
                else if (numericOnly && nextDigit)
                    sb.Append(w);
                else
                    sb.Append(pre).Append(" .");
            }
            else
            {
                sb.Append(w);
            }
            sb.Append(' ');
        }
        s = sb.ToString();

        // Unescape runs of dots.
        while (s.Contains("DOTDOTMULTI", StringComparison.Ordinal))
            s = s.Replace("DOTDOTMULTI", "DOTMULTI.", StringComparison.Ordinal);
        s = s.Replace("DOTMULTI", ".", StringComparison.Ordinal);

        s = White.Replace(s, " ");
        return JavaText.Trim(s);
    }
}

/// <summary>The few java.lang behaviours Meteor's output depends on.</summary>
internal static class JavaText
{
    /// <summary><c>new StringTokenizer(s)</c>: splits on " \t\n\r\f" only.</summary>
    public static List<string> Tokenize(string s)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && IsDelimiter(s[i])) i++;
            int start = i;
            while (i < s.Length && !IsDelimiter(s[i])) i++;
            if (i > start) tokens.Add(s[start..i]);
        }
        return tokens;
    }

    private static bool IsDelimiter(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f';

    /// <summary><c>String.trim()</c>: strips every char ≤ U+0020 at both ends.</summary>
    public static string Trim(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && s[start] <= ' ') start++;
        while (end > start && s[end - 1] <= ' ') end--;
        return start == 0 && end == s.Length ? s : s[start..end];
    }

    /// <summary><c>String.hashCode()</c>: Meteor's aligner compares words and stems by these keys.</summary>
    public static int HashCode(string s)
    {
        int h = 0;
        foreach (char c in s) h = unchecked(31 * h + c);
        return h;
    }

    /// <summary>
    /// <c>String.toLowerCase()</c> in an English locale: per-code-point simple lower case, plus Java's two
    /// context rules — U+0130 becomes "i̇" (two chars) and a capital sigma ending a word becomes "ς".
    /// </summary>
    public static string ToLowerCase(string s)
    {
        bool ascii = true;
        foreach (char c in s)
            if (c >= 0x80 || c is >= 'A' and <= 'Z') { ascii = false; break; }
        if (ascii) return s;

        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length;)
        {
            if (!Rune.TryGetRuneAt(s, i, out var rune))
            {
                sb.Append(s[i]); // a lone surrogate stays as it is
                i++;
                continue;
            }
            if (rune.Value == 0x0130) sb.Append("i\u0307");
            else if (rune.Value == 0x03A3) sb.Append(IsFinalSigma(s, i) ? '\u03C2' : '\u03C3');
            else sb.Append(Rune.ToLowerInvariant(rune).ToString());
            i += rune.Utf16SequenceLength;
        }
        return sb.ToString();
    }

    // Java's Final_Sigma condition, simplified: a letter before and no letter after (case-ignorable
    // characters in between are not skipped).
    private static bool IsFinalSigma(string s, int i) =>
        i > 0 && char.IsLetter(s[i - 1]) && (i + 1 >= s.Length || !char.IsLetter(s[i + 1]));
}
