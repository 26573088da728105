using System.Text;

namespace SharpGlance.Evaluation.Lexing;

/// <summary>A parsed regular expression: character sets combined by concatenation, alternation, repetition.</summary>
internal abstract record PatternNode;
internal sealed record CharsNode(CharSet Set) : PatternNode;
internal sealed record ConcatNode(PatternNode[] Items) : PatternNode;
internal sealed record AltNode(PatternNode[] Items) : PatternNode;
/// <summary><paramref name="Max"/> = -1: unbounded.</summary>
internal sealed record RepeatNode(PatternNode Item, int Min, int Max) : PatternNode;

/// <summary>
/// Parses the JFlex regular-expression syntax that a lexer specification uses, so that our rules read like
/// the specification they reproduce:
/// <c>a|b</c>, concatenation, <c>( )</c>, <c>* + ?</c>, <c>{n}</c> / <c>{n,m}</c>, <c>{MACRO}</c> (expanded as a
/// group), <c>[...]</c> / <c>[^...]</c> classes with ranges and the predefined <c>[:letter:]</c>,
/// <c>[:digit:]</c>, <c>[:uppercase:]</c> (also usable as atoms), <c>[^]</c> (any char), <c>.</c> (any char
/// but \n), <c>~a</c> ("up to": anything without <c>a</c>, then <c>a</c>), and the escapes <c>\uXXXX</c>,
/// <c>\xHH</c>, <c>\t \n \r \f \0</c>, <c>\c</c> = c. JFlex's <c>%caseless</c> is the <paramref name="caseless"/>
/// flag: it widens literal characters outside classes to every case variant and, as JFlex documents, leaves
/// character classes as written (<c>[A]bout</c> matches "About" and "ABOUT" but not "about").
/// </summary>
internal sealed class PatternParser
{
    private readonly IReadOnlyDictionary<string, string> _macros;
    private readonly IReadOnlyDictionary<string, CharSet> _predefined;
    private readonly bool _caseless;
    private readonly Dictionary<string, PatternNode> _parsedMacros = new(StringComparer.Ordinal);
    private readonly HashSet<string> _expanding = new(StringComparer.Ordinal);

    public PatternParser(IReadOnlyDictionary<string, string> macros, IReadOnlyDictionary<string, CharSet> predefined, bool caseless)
    {
        _macros = macros;
        _predefined = predefined;
        _caseless = caseless;
    }

    public PatternNode Parse(string pattern)
    {
        var reader = new Reader(pattern);
        var node = ParseAlt(ref reader);
        if (!reader.AtEnd) throw new FormatException($"pattern '{pattern}': unexpected '{reader.Peek}' at {reader.Position}");
        return node;
    }

    private PatternNode Macro(string name)
    {
        if (_parsedMacros.TryGetValue(name, out var done)) return done;
        if (!_macros.TryGetValue(name, out var text)) throw new FormatException($"unknown macro {{{name}}}");
        if (!_expanding.Add(name)) throw new FormatException($"macro {{{name}}} refers to itself");
        var node = Parse(text);
        _expanding.Remove(name);
        _parsedMacros[name] = node;
        return node;
    }

    private PatternNode ParseAlt(ref Reader r)
    {
        var items = new List<PatternNode> { ParseConcat(ref r) };
        while (!r.AtEnd && r.Peek == '|')
        {
            r.Next();
            items.Add(ParseConcat(ref r));
        }
        return items.Count == 1 ? items[0] : new AltNode(items.ToArray());
    }

    private PatternNode ParseConcat(ref Reader r)
    {
        var items = new List<PatternNode>();
        while (!r.AtEnd && r.Peek != '|' && r.Peek != ')')
            items.Add(ParsePostfix(ref r));
        return items.Count == 1 ? items[0] : new ConcatNode(items.ToArray());
    }

    private PatternNode ParsePostfix(ref Reader r)
    {
        var node = ParseAtom(ref r);
        while (!r.AtEnd)
        {
            char c = r.Peek;
            if (c == '*') { r.Next(); node = new RepeatNode(node, 0, -1); }
            else if (c == '+') { r.Next(); node = new RepeatNode(node, 1, -1); }
            else if (c == '?') { r.Next(); node = new RepeatNode(node, 0, 1); }
            else if (c == '{' && r.Position + 1 < r.Text.Length && char.IsAsciiDigit(r.Text[r.Position + 1]))
            {
                r.Next();
                int min = r.ReadNumber(), max = min;
                if (r.Peek == ',') { r.Next(); max = r.ReadNumber(); }
                r.Expect('}');
                node = new RepeatNode(node, min, max);
            }
            else break;
        }
        return node;
    }

    private PatternNode ParseAtom(ref Reader r)
    {
        char c = r.Next();
        switch (c)
        {
            case '(':
                var inner = ParseAlt(ref r);
                r.Expect(')');
                return inner;
            case '{':
                var name = new StringBuilder();
                while (r.Peek != '}') name.Append(r.Next());
                r.Next();
                return Macro(name.ToString());
            case '[':
                return new CharsNode(ParseClass(ref r));
            case '.':
                return new CharsNode(CharSet.Of('\n').Complement());
            case '~':
                // JFlex's "upto" operator; only ever applied to one character here: [^a]*a.
                var upto = ParseAtom(ref r) as CharsNode ?? throw new FormatException("'~' is supported before one character only");
                return new ConcatNode([new RepeatNode(new CharsNode(upto.Set.Complement()), 0, -1), upto]);
            case '\\':
                return new CharsNode(CharSet.Of(ReadEscape(ref r)));
            default:
                return new CharsNode(_caseless ? CaseVariants(c) : CharSet.Of(c));
        }
    }

    /// <summary>After the opening '[': a class, the predefined "[:name:]", or "[^]".</summary>
    private CharSet ParseClass(ref Reader r)
    {
        if (r.Peek == ':' && TryPredefined(ref r, out var predefined)) return predefined;
        bool negate = false;
        if (r.Peek == '^') { r.Next(); negate = true; }
        var set = CharSet.Empty;
        while (r.Peek != ']')
        {
            if (r.Peek == '[' && r.Position + 1 < r.Text.Length && r.Text[r.Position + 1] == ':')
            {
                r.Next();
                if (!TryPredefined(ref r, out var p)) throw new FormatException($"bad predefined class at {r.Position}");
                set = set.Union(p);
                continue;
            }
            char lo = ClassChar(ref r);
            if (r.Peek == '-' && r.Position + 1 < r.Text.Length && r.Text[r.Position + 1] != ']')
            {
                r.Next();
                char hi = ClassChar(ref r);
                set = set.Union(CharSet.Range(lo, hi));
            }
            else set = set.Union(CharSet.Of(lo));
        }
        r.Next();
        return negate ? set.Complement() : set;
    }

    private bool TryPredefined(ref Reader r, out CharSet set)
    {
        // r is just after '['; the text continues ":name:]".
        int end = r.Text.IndexOf(":]", r.Position + 1, StringComparison.Ordinal);
        set = CharSet.Empty;
        if (end < 0) return false;
        var name = r.Text.Substring(r.Position + 1, end - r.Position - 1);
        if (!_predefined.TryGetValue(name, out var found)) return false;
        set = found;
        r.Position = end + 2;
        return true;
    }

    private static char ClassChar(ref Reader r)
    {
        char c = r.Next();
        return c == '\\' ? ReadEscape(ref r) : c;
    }

    private static char ReadEscape(ref Reader r)
    {
        char c = r.Next();
        switch (c)
        {
            case 'u': return (char)Convert.ToInt32(r.Take(4), 16);
            case 'x': return (char)Convert.ToInt32(r.Take(2), 16);
            case 't': return '\t';
            case 'n': return '\n';
            case 'r': return '\r';
            case 'f': return '\f';
            case '0': return '\0';
            default: return c;
        }
    }

    /// <summary>
    /// The characters a caseless literal matches: itself and every character with the same lower- or
    /// upper-case form (so 'k' also takes KELVIN SIGN, 's' LONG S). Checked against the Java lexer in the
    /// tokenizer tests for ASCII letters, which are the only literals the PTB rules use.
    /// </summary>
    private static CharSet CaseVariants(char c)
    {
        char lower = char.ToLowerInvariant(c), upper = char.ToUpperInvariant(c);
        if (lower == c && upper == c) return CharSet.Of(c);
        var set = CharSet.Of(c).Union(CharSet.Of(lower)).Union(CharSet.Of(upper));
        foreach (var x in CaseFold.Value.TryGetValue(lower, out var list) ? list : [])
            set = set.Union(CharSet.Of(x));
        return set;
    }

    /// <summary>lower-case form → every char whose lower or upper form maps onto it (computed once).</summary>
    private static readonly Lazy<Dictionary<char, List<char>>> CaseFold = new(() =>
    {
        var map = new Dictionary<char, List<char>>();
        for (int i = 0; i <= 0xFFFF; i++)
        {
            char x = (char)i;
            char l = char.ToLowerInvariant(x), u = char.ToUpperInvariant(x);
            if (l == x && u == x) continue;
            foreach (var key in new[] { l, char.ToLowerInvariant(u) }.Distinct())
            {
                if (!map.TryGetValue(key, out var list)) map[key] = list = [];
                if (!list.Contains(x)) list.Add(x);
            }
        }
        return map;
    });

    private struct Reader(string text)
    {
        public readonly string Text = text;
        public int Position;
        public readonly bool AtEnd => Position >= Text.Length;
        public readonly char Peek => Position < Text.Length ? Text[Position] : throw new FormatException($"pattern '{Text}' ends too early");
        public char Next() => Position < Text.Length ? Text[Position++] : throw new FormatException($"pattern '{Text}' ends too early");
        public string Take(int n)
        {
            if (Position + n > Text.Length) throw new FormatException($"pattern '{Text}' ends too early");
            var s = Text.Substring(Position, n);
            Position += n;
            return s;
        }
        public void Expect(char c)
        {
            if (Next() != c) throw new FormatException($"pattern '{Text}': expected '{c}' at {Position - 1}");
        }
        public int ReadNumber()
        {
            int start = Position;
            while (!AtEnd && char.IsAsciiDigit(Text[Position])) Position++;
            return int.Parse(Text.AsSpan(start, Position - start), System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
