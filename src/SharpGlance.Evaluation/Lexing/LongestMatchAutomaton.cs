namespace SharpGlance.Evaluation.Lexing;

/// <summary>
/// A Thompson NFA over several patterns, run as a DFA built lazily (a DFA state is a set of NFA states,
/// made the first time the text leads there and cached). It answers the one question a JFlex scanner asks:
/// from position p, which is the longest prefix any pattern matches, and — on a tie — which pattern comes
/// first. Only states the text visits are built, so the big Unicode classes of the PTB rules cost nothing
/// until used.
/// </summary>
internal sealed class LongestMatchAutomaton
{
    // ---- NFA ----
    private readonly List<List<int>> _epsilon = [];
    private readonly List<CharSet?> _edgeSet = [];
    private readonly List<int> _edgeTarget = [];
    private readonly List<int> _acceptRule = [];
    private readonly int _nfaStart;

    // ---- lazy DFA ----
    private readonly List<int[]> _dfaSets = [];
    private readonly List<int> _dfaAccept = [];
    private readonly List<int[]> _dfaAscii = [];                 // next state for chars < 128 (-1 = not built)
    private readonly List<Dictionary<char, int>?> _dfaOther = [];
    private readonly Dictionary<int[], int> _dfaIndex = new(new SetComparer());
    private readonly Lock _lock = new();   // the lazy DFA grows while scanning: one scanner at a time
    private const int Dead = 0;

    public LongestMatchAutomaton(IReadOnlyList<PatternNode> patterns)
    {
        _nfaStart = NewState();
        for (int rule = 0; rule < patterns.Count; rule++)
        {
            var (start, end) = Build(patterns[rule]);
            _epsilon[_nfaStart].Add(start);
            _acceptRule[end] = rule;
        }
        Intern([]);                           // state 0: dead
        Intern(Closure([_nfaStart]));         // state 1: start
    }

    /// <summary>
    /// The longest match starting at <paramref name="start"/> and ending at or before <paramref name="end"/>:
    /// its length and pattern index (lowest index among equally long matches), or (0, -1) when none.
    /// </summary>
    public (int Length, int Pattern) Longest(string text, int start, int end)
    {
        lock (_lock) return LongestLocked(text, start, end);
    }

    private (int Length, int Pattern) LongestLocked(string text, int start, int end)
    {
        int state = 1, bestLen = 0, bestRule = -1;
        for (int i = start; i < end; i++)
        {
            state = Step(state, text[i]);
            if (state == Dead) break;
            int rule = _dfaAccept[state];
            if (rule >= 0) { bestLen = i - start + 1; bestRule = rule; }
        }
        return (bestLen, bestRule);
    }

    /// <summary>Whether pattern <paramref name="pattern"/> matches exactly text[start..end).</summary>
    public bool MatchesExactly(string text, int start, int end, int pattern = 0)
    {
        lock (_lock) return MatchesExactlyLocked(text, start, end, pattern);
    }

    private bool MatchesExactlyLocked(string text, int start, int end, int pattern)
    {
        int state = 1;
        for (int i = start; i < end && state != Dead; i++) state = Step(state, text[i]);
        return AcceptsPattern(state, pattern);
    }

    /// <summary>For k = 0..(end-start): whether pattern 0 matches text[start..start+k) exactly.</summary>
    public bool[] PrefixMatches(string text, int start, int end)
    {
        lock (_lock) return PrefixMatchesLocked(text, start, end);
    }

    private bool[] PrefixMatchesLocked(string text, int start, int end)
    {
        var result = new bool[end - start + 1];
        int state = 1;
        result[0] = AcceptsPattern(state, 0);
        for (int i = start; i < end; i++)
        {
            state = Step(state, text[i]);
            if (state == Dead) break;
            result[i - start + 1] = AcceptsPattern(state, 0);
        }
        return result;
    }

    private bool AcceptsPattern(int state, int pattern)
    {
        foreach (int s in _dfaSets[state])
            if (_acceptRule[s] == pattern) return true;
        return false;
    }

    private int Step(int state, char c)
    {
        if (c < 128)
        {
            int cached = _dfaAscii[state][c];
            if (cached >= 0) return cached;
        }
        else if (_dfaOther[state] is { } other && other.TryGetValue(c, out int hit)) return hit;

        {
            var next = new List<int>();
            foreach (int s in _dfaSets[state])
                if (_edgeSet[s] is { } set && set.Contains(c)) next.Add(_edgeTarget[s]);
            int id = next.Count == 0 ? Dead : Intern(Closure(next));
            if (c < 128) _dfaAscii[state][c] = id;
            else
            {
                var map = _dfaOther[state] ??= [];
                map[c] = id;
            }
            return id;
        }
    }

    private int Intern(int[] set)
    {
        if (_dfaIndex.TryGetValue(set, out int id)) return id;
        id = _dfaSets.Count;
        int accept = -1;
        foreach (int s in set)
            if (_acceptRule[s] >= 0 && (accept < 0 || _acceptRule[s] < accept)) accept = _acceptRule[s];
        var ascii = new int[128];
        Array.Fill(ascii, -1);
        _dfaAscii.Add(ascii);
        _dfaOther.Add(null);
        _dfaAccept.Add(accept);
        _dfaSets.Add(set);
        _dfaIndex[set] = id;
        return id;
    }

    private int[] Closure(IEnumerable<int> seeds)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(seeds);
        while (stack.Count > 0)
        {
            int s = stack.Pop();
            if (!seen.Add(s)) continue;
            foreach (int t in _epsilon[s]) stack.Push(t);
        }
        // Only states with a character edge or an accepting mark matter for the DFA.
        var kept = seen.Where(s => _edgeSet[s] is not null || _acceptRule[s] >= 0).ToArray();
        Array.Sort(kept);
        return kept;
    }

    private int NewState()
    {
        _epsilon.Add([]);
        _edgeSet.Add(null);
        _edgeTarget.Add(-1);
        _acceptRule.Add(-1);
        return _epsilon.Count - 1;
    }

    private (int Start, int End) Build(PatternNode node)
    {
        switch (node)
        {
            case CharsNode chars:
            {
                int s = NewState(), e = NewState();
                _edgeSet[s] = chars.Set;
                _edgeTarget[s] = e;
                return (s, e);
            }
            case ConcatNode concat:
            {
                int s = NewState(), cur = s;
                foreach (var item in concat.Items)
                {
                    var (a, b) = Build(item);
                    _epsilon[cur].Add(a);
                    cur = b;
                }
                return (s, cur);
            }
            case AltNode alt:
            {
                int s = NewState(), e = NewState();
                foreach (var item in alt.Items)
                {
                    var (a, b) = Build(item);
                    _epsilon[s].Add(a);
                    _epsilon[b].Add(e);
                }
                return (s, e);
            }
            case RepeatNode rep:
            {
                int s = NewState(), cur = s;
                for (int i = 0; i < rep.Min; i++)
                {
                    var (a, b) = Build(rep.Item);
                    _epsilon[cur].Add(a);
                    cur = b;
                }
                int e = NewState();
                if (rep.Max < 0)
                {
                    var (a, b) = Build(rep.Item);
                    _epsilon[cur].Add(a);
                    _epsilon[b].Add(a);
                    _epsilon[b].Add(e);
                    _epsilon[cur].Add(e);
                }
                else
                {
                    _epsilon[cur].Add(e);
                    for (int i = rep.Min; i < rep.Max; i++)
                    {
                        var (a, b) = Build(rep.Item);
                        _epsilon[cur].Add(a);
                        _epsilon[b].Add(e);
                        cur = b;
                    }
                }
                return (s, e);
            }
            default:
                throw new ArgumentException($"unknown pattern node {node.GetType().Name}");
        }
    }

    private sealed class SetComparer : IEqualityComparer<int[]>
    {
        public bool Equals(int[]? a, int[]? b) => a is not null && b is not null && a.AsSpan().SequenceEqual(b);
        public int GetHashCode(int[] set)
        {
            var h = new HashCode();
            foreach (int s in set) h.Add(s);
            return h.ToHashCode();
        }
    }
}
