namespace SharpGlance.Evaluation.Lexing;

/// <summary>
/// A set of UTF-16 code units (0..0xFFFF) as sorted, disjoint, inclusive ranges. JFlex 1.5.1, which
/// generated the PTBLexer that coco-caption runs, works on 16-bit chars: a character outside the Basic
/// Multilingual Plane reaches the lexer as two surrogate code units, so that is what these sets hold.
/// </summary>
internal sealed class CharSet
{
    private readonly int[] _ranges; // lo0, hi0, lo1, hi1, ... (inclusive, sorted, disjoint, not adjacent)

    private CharSet(int[] ranges) => _ranges = ranges;

    public static readonly CharSet Empty = new([]);
    public static readonly CharSet Any = new([0, 0xFFFF]);

    public static CharSet Of(char c) => new([c, c]);
    public static CharSet Range(char lo, char hi) => lo <= hi ? new([lo, hi]) : Empty;

    /// <summary>Every code unit for which <paramref name="predicate"/> holds.</summary>
    public static CharSet Where(Func<char, bool> predicate)
    {
        var ranges = new List<int>();
        int start = -1;
        for (int c = 0; c <= 0x10000; c++)
        {
            bool inside = c <= 0xFFFF && predicate((char)c);
            if (inside && start < 0) start = c;
            else if (!inside && start >= 0) { ranges.Add(start); ranges.Add(c - 1); start = -1; }
        }
        return new CharSet(ranges.ToArray());
    }

    public bool Contains(char c)
    {
        int lo = 0, hi = _ranges.Length / 2 - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (c < _ranges[2 * mid]) hi = mid - 1;
            else if (c > _ranges[2 * mid + 1]) lo = mid + 1;
            else return true;
        }
        return false;
    }

    public bool IsEmpty => _ranges.Length == 0;

    public CharSet Union(CharSet other)
    {
        if (other.IsEmpty) return this;
        if (IsEmpty) return other;
        var pairs = new List<(int Lo, int Hi)>(_ranges.Length / 2 + other._ranges.Length / 2);
        for (int i = 0; i < _ranges.Length; i += 2) pairs.Add((_ranges[i], _ranges[i + 1]));
        for (int i = 0; i < other._ranges.Length; i += 2) pairs.Add((other._ranges[i], other._ranges[i + 1]));
        pairs.Sort();
        var merged = new List<int>();
        int curLo = pairs[0].Lo, curHi = pairs[0].Hi;
        foreach (var (lo, hi) in pairs.Skip(1))
        {
            if (lo <= curHi + 1) curHi = Math.Max(curHi, hi);
            else { merged.Add(curLo); merged.Add(curHi); curLo = lo; curHi = hi; }
        }
        merged.Add(curLo); merged.Add(curHi);
        return new CharSet(merged.ToArray());
    }

    public CharSet Complement()
    {
        var result = new List<int>();
        int next = 0;
        for (int i = 0; i < _ranges.Length; i += 2)
        {
            if (_ranges[i] > next) { result.Add(next); result.Add(_ranges[i] - 1); }
            next = _ranges[i + 1] + 1;
        }
        if (next <= 0xFFFF) { result.Add(next); result.Add(0xFFFF); }
        return new CharSet(result.ToArray());
    }

    public CharSet Except(CharSet other) => Complement().Union(other).Complement();
}
