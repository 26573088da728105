using System.Globalization;

namespace SharpGlance.Evaluation.Lexing;

/// <summary>
/// JFlex's predefined classes <c>[:letter:]</c>, <c>[:digit:]</c> and <c>[:uppercase:]</c> over the BMP, from
/// .NET's Unicode tables, less the characters whose class changed since the older tables the scanner
/// coco-caption runs was generated with.
/// </summary>
internal static class UnicodeClasses
{
    /// <summary>
    /// Letters and digits of today's Unicode that were still unassigned in the tables JFlex 1.5.1 compiled
    /// into PTBLexer (Unicode 6.x): the Java scanner deletes them as untokenizable. Found by running every
    /// BMP character through both lexers (in contexts "a{c}b", "1{c}2", "{c}'s", …).
    /// </summary>
    private static readonly (char Lo, char Hi)[] UnassignedInJFlex =
    [
        ('\u037F', '\u037F'), ('\u0528', '\u052F'), ('\u0560', '\u0560'), ('\u0588', '\u0588'), ('\u05EF', '\u05EF'),
        ('\u0860', '\u086A'), ('\u0870', '\u0887'), ('\u0889', '\u088E'), ('\u08A1', '\u08A1'), ('\u08AD', '\u08C9'),
        ('\u0978', '\u0978'), ('\u0980', '\u0980'), ('\u09FC', '\u09FC'), ('\u0AF9', '\u0AF9'), ('\u0C34', '\u0C34'),
        ('\u0C5A', '\u0C5A'), ('\u0C5D', '\u0C5D'), ('\u0C80', '\u0C80'), ('\u0CDD', '\u0CDD'), ('\u0D04', '\u0D04'),
        ('\u0D54', '\u0D56'), ('\u0D5F', '\u0D5F'), ('\u0DE6', '\u0DEF'), ('\u0E86', '\u0E86'), ('\u0E89', '\u0E89'),
        ('\u0E8C', '\u0E8C'), ('\u0E8E', '\u0E93'), ('\u0E98', '\u0E98'), ('\u0EA0', '\u0EA0'), ('\u0EA8', '\u0EA9'),
        ('\u0EAC', '\u0EAC'), ('\u13F5', '\u13F5'), ('\u13F8', '\u13FD'), ('\u16F1', '\u16F8'), ('\u170D', '\u170D'),
        ('\u171F', '\u171F'), ('\u1878', '\u1878'), ('\u191D', '\u191E'), ('\u19B0', '\u19C0'), ('\u19C8', '\u19C9'),
        ('\u1B4C', '\u1B4C'), ('\u1C80', '\u1C8A'), ('\u1C90', '\u1CBA'), ('\u1CBD', '\u1CBF'), ('\u1CF2', '\u1CF3'),
        ('\u1CFA', '\u1CFA'), ('\u2C2F', '\u2C2F'), ('\u2C5F', '\u2C5F'), ('\u312E', '\u312F'), ('\u31BB', '\u31BF'),
        ('\u4DB6', '\u4DBF'), ('\u9FCD', '\u9FFF'), ('\uA698', '\uA69D'), ('\uA78F', '\uA78F'), ('\uA794', '\uA79F'),
        ('\uA7AB', '\uA7CD'), ('\uA7D0', '\uA7D1'), ('\uA7D3', '\uA7D3'), ('\uA7D5', '\uA7DC'), ('\uA7F2', '\uA7F7'),
        ('\uA8FD', '\uA8FE'), ('\uA9E0', '\uA9E4'), ('\uA9E6', '\uA9FE'), ('\uAA7E', '\uAA7F'), ('\uAB30', '\uAB5A'),
        ('\uAB5C', '\uAB69'), ('\uAB70', '\uABBF'),
    ];

    /// <summary>MONGOLIAN LETTER ALI GALI BALUDA / THREE BALUDA: letters then, combining marks since Unicode 9.</summary>
    private static readonly (char Lo, char Hi)[] LettersOnlyInJFlex = [('\u1885', '\u1886')];

    private static bool In((char Lo, char Hi)[] ranges, char c)
    {
        foreach (var (lo, hi) in ranges) if (c >= lo && c <= hi) return true;
        return false;
    }

    public static bool IsLetter(char c) => (char.IsLetter(c) && !In(UnassignedInJFlex, c)) || In(LettersOnlyInJFlex, c);
    public static bool IsDigit(char c) => CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.DecimalDigitNumber && !In(UnassignedInJFlex, c);
    public static bool IsUpper(char c) => char.IsUpper(c) && !In(UnassignedInJFlex, c);

    public static IReadOnlyDictionary<string, CharSet> Predefined => Lazy.Value;

    private static readonly Lazy<Dictionary<string, CharSet>> Lazy = new(() => new Dictionary<string, CharSet>(StringComparer.Ordinal)
    {
        ["letter"] = CharSet.Where(IsLetter),
        ["digit"] = CharSet.Where(IsDigit),
        ["uppercase"] = CharSet.Where(IsUpper),
    });
}
