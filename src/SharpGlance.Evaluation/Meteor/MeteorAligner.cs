using System.Collections.Concurrent;

namespace SharpGlance.Evaluation.Meteor;

/// <summary>One candidate match: words [Start, Start+Length) of the reference (line 2) against words
/// [MatchStart, MatchStart+MatchLength) of the hypothesis (line 1), found by module <see cref="Module"/>.</summary>
internal sealed class MeteorMatch
{
    public int Start, Length, MatchStart, MatchLength, Module;

    public override string ToString() => $"{Start}:{Length} {MatchStart}:{MatchLength} m{Module}";
}

/// <summary>The aligner's result for one hypothesis/reference pair (Meteor's <c>Alignment</c>).</summary>
internal sealed class MeteorAlignment
{
    public required string[] Words1 { get; init; }   // hypothesis
    public required string[] Words2 { get; init; }   // reference
    public required MeteorMatch?[] Matches { get; init; } // Matches[i]: the match starting at reference word i
    public required int FunctionWords1 { get; init; }
    public required int FunctionWords2 { get; init; }
    public required int[] ContentMatches1 { get; init; }  // per module: matched hypothesis content words
    public required int[] ContentMatches2 { get; init; }
    public required int[] FunctionMatches1 { get; init; }
    public required int[] FunctionMatches2 { get; init; }
    public required int Chunks { get; init; }
}

/// <summary>
/// Meteor 1.5's aligner (<c>edu.cmu.meteor.aligner.Aligner</c>) for English: candidate matches from the
/// exact, stem, synonym and (optional) paraphrase modules, then a left-to-right beam search (beam 40) for
/// the alignment with the most matched words, then fewest chunks, then least distance.
/// </summary>
/// <remarks>
/// Kept as in Java because they decide which alignment wins: words are compared by their Java
/// <c>hashCode</c>; later modules add candidates even for pairs an earlier module matched (only exact
/// duplicates are excluded); the search weights modules 1 / 0.5 / 0.5 / 0.5 and adds them into
/// <c>int</c> fields, so each addition is truncated and a one-word stem or synonym match adds nothing;
/// expanding a path charges each new match's distance to the parent (skip) path rather than to the child;
/// sorting is stable. Identical sentences use the exact module only.
/// </remarks>
internal sealed class MeteorAligner
{
    public const int DefaultBeamSize = 40;

    // Meteor's function words for English (resources/function/english.words; Meteor 1.5, LGPL).
    // Matches of these words count with weight 1 − δ, content words with δ.
    private static readonly HashSet<string> FunctionWords = new(StringComparer.Ordinal)
    {
        "the", ",", ".", "to", "of", "and", "a", "in", "that", "for", "\"", "is", "on", "'s", "it", "with", "was",
        "as", "said", "at", "he", "by", "be", "from", "have", "has", "are", "his", "but", "an", "this", "not", "i",
        "will", "\u2019", "they", ")", "-rrb-", "(", "-lrb-", "who", "their", "had", "we", "which", "were", "been",
        "more", "or", "s", "its", "would", "about", "new", "one", "after", "you", ":", "also", "up", "when", "there",
        "than", "$", "all", "out", "her", "people", "she", "year", "two", "-", "can", "if", "last", "first",
        "\u201C", "over", "other", "\u201D", "into", "some", "what", "so", "--", "no", "time", "years", "could", "?",
        "'t", "\u2014", "'",
    };

    // MeteorScorer sets these weights on its aligner for choosing alignments ("best weights for evaluation").
    private static readonly double[] SearchWeights = [1.0, 0.5, 0.5, 0.5];

    private static readonly ConcurrentDictionary<string, int> StemKeys = new(StringComparer.Ordinal);

    private readonly WordNetSynonyms synonyms;
    private readonly ParaphraseTable? paraphrases;
    private readonly int beamSize;

    public MeteorAligner(WordNetSynonyms synonyms, ParaphraseTable? paraphrases, int beamSize = DefaultBeamSize)
    {
        this.synonyms = synonyms;
        this.paraphrases = paraphrases;
        this.beamSize = beamSize;
    }

    /// <summary>exact, stem, synonym (+ paraphrase).</summary>
    public int ModuleCount => paraphrases is null ? 3 : 4;

    public static bool IsFunctionWord(string word) => FunctionWords.Contains(JavaText.ToLowerCase(word));

    /// <summary>Aligns hypothesis words <paramref name="words1"/> to reference words <paramref name="words2"/>.</summary>
    public MeteorAlignment Align(string[] words1, string[] words2)
    {
        int n1 = words1.Length, n2 = words2.Length;
        var stage = new Stage(words1, words2);

        // Identical sentences only need exact matches ("prevents beam search errors").
        int modulesUsed = ModuleCount;
        if (n1 == n2 && stage.Keys1.AsSpan().SequenceEqual(stage.Keys2)) modulesUsed = 1;
        for (int module = 0; module < modulesUsed; module++)
        {
            switch (module)
            {
                case 0: MatchExact(stage); break;
                case 1: MatchStems(stage); break;
                case 2: MatchSynonyms(stage); break;
                case 3: MatchParaphrases(stage, paraphrases!); break;
            }
        }

        // One-to-one matches that nothing else overlaps are fixed before the search.
        var fixedMatches = new MeteorMatch?[n2];
        var initial = new SearchPath(n1, n2);
        for (int i = 0; i < n2; i++)
        {
            if (stage.Matches[i].Count != 1) continue;
            var m = stage.Matches[i][0];
            bool overlap = false;
            for (int j = 0; j < m.Length; j++)
                if (stage.Coverage2[i + j] != 1) overlap = true;
            for (int j = 0; j < m.MatchLength; j++)
                if (stage.Coverage1[m.MatchStart + j] != 1) overlap = true;
            if (overlap) continue;
            fixedMatches[i] = m;
            initial.SetUsed(m);
        }

        var best = Resolve(stage, initial, fixedMatches);
        var matches = (MeteorMatch?[])fixedMatches.Clone();
        for (var node = best.Chosen; node is not null; node = node.Previous) matches[node.Match.Start] = node.Match;

        var isFunction1 = new bool[n1];
        var isFunction2 = new bool[n2];
        int function1 = 0, function2 = 0;
        for (int i = 0; i < n1; i++)
            if (IsFunctionWord(words1[i])) { isFunction1[i] = true; function1++; }
        for (int i = 0; i < n2; i++)
            if (IsFunctionWord(words2[i])) { isFunction2[i] = true; function2++; }

        int modules = ModuleCount;
        var content1 = new int[modules];
        var content2 = new int[modules];
        var functionM1 = new int[modules];
        var functionM2 = new int[modules];
        foreach (var m in matches)
        {
            if (m is null) continue;
            for (int j = 0; j < m.MatchLength; j++)
            {
                if (isFunction1[m.MatchStart + j]) functionM1[m.Module]++;
                else content1[m.Module]++;
            }
            for (int j = 0; j < m.Length; j++)
            {
                if (isFunction2[m.Start + j]) functionM2[m.Module]++;
                else content2[m.Module]++;
            }
        }

        return new MeteorAlignment
        {
            Words1 = words1,
            Words2 = words2,
            Matches = matches,
            FunctionWords1 = function1,
            FunctionWords2 = function2,
            ContentMatches1 = content1,
            ContentMatches2 = content2,
            FunctionMatches1 = functionM1,
            FunctionMatches2 = functionM2,
            Chunks = CountChunks(matches),
        };
    }

    // ---- matchers ----------------------------------------------------------------------------------

    private static void MatchExact(Stage s)
    {
        for (int j = 0; j < s.Keys2.Length; j++)
            for (int i = 0; i < s.Keys1.Length; i++)
                if (s.Keys1[i] == s.Keys2[j]) s.Add(0, j, 1, i, 1);
    }

    private static void MatchStems(Stage s)
    {
        var stems1 = s.Words1.Select(StemKey).ToArray();
        var stems2 = s.Words2.Select(StemKey).ToArray();
        for (int j = 0; j < stems2.Length; j++)
            for (int i = 0; i < stems1.Length; i++)
                if (stems1[i] == stems2[j] && s.Keys1[i] != s.Keys2[j]) s.Add(1, j, 1, i, 1);
    }

    private static int StemKey(string word) =>
        StemKeys.GetOrAdd(word, w => JavaText.HashCode(SnowballEnglishStemmer.Stem(w)));

    private void MatchSynonyms(Stage s)
    {
        var sets1 = s.Words1.Select(synonyms.MatchSet).ToArray();
        var sets2 = s.Words2.Select(synonyms.MatchSet).ToArray();
        for (int j = 0; j < sets2.Length; j++)
            for (int i = 0; i < sets1.Length; i++)
                if (WordNetSynonyms.Intersects(sets1[i], sets2[j]) && s.Keys1[i] != s.Keys2[j]) s.Add(2, j, 1, i, 1);
    }

    private static void MatchParaphrases(Stage s, ParaphraseTable table)
    {
        var line1 = s.Words1.Select(table.WordId).ToArray();
        var line2 = s.Words2.Select(table.WordId).ToArray();

        // Paraphrases in line 1 of reference phrases in line 2.
        for (int j = 0; j < line2.Length; j++)
        {
            foreach (var (len, index) in table.PathsFrom(line2, j))
            {
                var words = table.Paraphrase(index);
                for (int i = 0; i < line1.Length; i++)
                    if (OccursAt(line1, i, words)) s.Add(3, j, len, i, words.Length);
            }
        }
        // Paraphrases in line 2 of reference phrases in line 1.
        for (int i = 0; i < line1.Length; i++)
        {
            foreach (var (len, index) in table.PathsFrom(line1, i))
            {
                var words = table.Paraphrase(index);
                for (int j = 0; j < line2.Length; j++)
                    if (OccursAt(line2, j, words)) s.Add(3, j, words.Length, i, len);
            }
        }
    }

    private static bool OccursAt(int[] line, int at, int[] words)
    {
        for (int k = 0; k < words.Length; k++)
            if (at + k == line.Length || line[at + k] != words[k]) return false;
        return true;
    }

    // ---- beam search -------------------------------------------------------------------------------

    /// <remarks>Java keeps a full match array per path; here a path holds the matches it chose as a shared
    /// linked list, and the fixed matches live in <paramref name="fixedMatches"/>: when the current word is
    /// in use and no chosen match covers it, Java's <c>matches[idx]</c> can only be the fixed match starting
    /// there (chosen matches never overlap fixed ones), so the two representations agree.</remarks>
    private SearchPath Resolve(Stage s, SearchPath start, MeteorMatch?[] fixedMatches)
    {
        int n2 = s.Matches.Length;
        List<SearchPath> paths;
        var next = new List<SearchPath> { start };
        for (int current = 0; current <= n2; current++)
        {
            paths = next;
            next = new List<SearchPath>(paths.Count * 2);
            StableSort(paths);

            for (int rank = 0; rank < beamSize && rank < paths.Count; rank++)
            {
                var path = paths[rank];

                // Path complete: close the last chunk.
                if (current == n2)
                {
                    if (path.LastMatchEnd != -1) path.Chunks++;
                    next.Add(path);
                    continue;
                }

                // Current reference word already in use.
                if (path.IsUsed2(current))
                {
                    if (current < path.Idx)
                    {
                        next.Add(path); // still inside a match
                    }
                    else if (fixedMatches[path.Idx] is { } m)
                    {
                        // A fixed match starts here.
                        path.MatchCount++;
                        path.Matches1 = (int)(path.Matches1 + m.MatchLength * SearchWeights[m.Module]);
                        path.Matches2 = (int)(path.Matches2 + m.Length * SearchWeights[m.Module]);
                        path.AllMatches1 += m.MatchLength;
                        path.AllMatches2 += m.Length;
                        if (path.LastMatchEnd != -1 && m.MatchStart != path.LastMatchEnd) path.Chunks++;
                        path.Idx = m.Start + m.Length;
                        path.LastMatchEnd = m.MatchStart + m.MatchLength;
                        path.Distance += Math.Abs(m.Start - m.MatchStart);
                        next.Add(path);
                    }
                    continue;
                }

                // Branch on every candidate match starting here.
                foreach (var m in s.Matches[current])
                {
                    if (path.IsUsed(m)) continue;
                    var child = new SearchPath(path);
                    child.SetUsed(m);
                    child.Chosen = new Chosen(m, child.Chosen);
                    child.MatchCount++;
                    child.Matches1 = (int)(child.Matches1 + m.MatchLength * SearchWeights[m.Module]);
                    child.Matches2 = (int)(child.Matches2 + m.Length * SearchWeights[m.Module]);
                    child.AllMatches1 += m.MatchLength;
                    child.AllMatches2 += m.Length;
                    if (child.LastMatchEnd != -1 && m.MatchStart != child.LastMatchEnd) child.Chunks++;
                    child.Idx = m.Start + m.Length;
                    child.LastMatchEnd = m.MatchStart + m.MatchLength;
                    path.Distance += Math.Abs(m.Start - m.MatchStart); // sic: Meteor charges the parent
                    next.Add(child);
                }
                // ... and on skipping this word.
                if (path.LastMatchEnd != -1)
                {
                    path.Chunks++;
                    path.LastMatchEnd = -1;
                }
                path.Idx++;
                next.Add(path);
            }
            if (next.Count == 0) next.Add(paths[0]); // Meteor: "skipping matches until possible to continue"
        }
        // First best path in list order (Java's stable sort, then element 0).
        var best = next[0];
        for (int i = 1; i < next.Count; i++)
            if (Compare(next[i], best) < 0) best = next[i];
        return best;
    }

    /// <summary>Constants.PARTIAL_COMPARE_TOTAL: more (weighted) matches, then fewer chunks, then less distance.</summary>
    private static int Compare(SearchPath x, SearchPath y)
    {
        int matchDiff = (y.Matches1 + y.Matches2) - (x.Matches1 + x.Matches2);
        if (matchDiff > 0) return 1;
        if (matchDiff < 0) return -1;
        int chunkDiff = x.Chunks - y.Chunks;
        if (chunkDiff != 0) return chunkDiff;
        return x.Distance - y.Distance;
    }

    private static void StableSort(List<SearchPath> paths)
    {
        if (paths.Count < 2) return;
        for (int i = 0; i < paths.Count; i++) paths[i].Order = i;
        paths.Sort(static (a, b) =>
        {
            int c = Compare(a, b);
            return c != 0 ? c : a.Order.CompareTo(b.Order);
        });
    }

    /// <summary>Meteor's <c>getCountAndChunks</c>: a chunk ends at a reference gap or a jump in the hypothesis.</summary>
    internal static int CountChunks(MeteorMatch?[] matches)
    {
        int chunks = 0, idx = 0, lastMatchEnd = -1;
        while (idx < matches.Length)
        {
            var m = matches[idx];
            if (m is null)
            {
                if (lastMatchEnd != -1)
                {
                    chunks++;
                    lastMatchEnd = -1;
                }
                idx++;
            }
            else
            {
                if (lastMatchEnd != -1 && m.MatchStart != lastMatchEnd) chunks++;
                idx = m.Start + m.Length;
                lastMatchEnd = m.MatchStart + m.MatchLength;
            }
        }
        if (lastMatchEnd != -1) chunks++;
        return chunks;
    }

    /// <summary>Word keys, candidate matches per reference position and coverage counts (Meteor's <c>Stage</c>).</summary>
    private sealed class Stage
    {
        public readonly string[] Words1, Words2;
        public readonly int[] Keys1, Keys2;
        public readonly List<MeteorMatch>[] Matches;
        public readonly int[] Coverage1, Coverage2;

        public Stage(string[] words1, string[] words2)
        {
            Words1 = words1;
            Words2 = words2;
            Keys1 = words1.Select(JavaText.HashCode).ToArray();
            Keys2 = words2.Select(JavaText.HashCode).ToArray();
            Matches = new List<MeteorMatch>[words2.Length];
            for (int i = 0; i < Matches.Length; i++) Matches[i] = [];
            Coverage1 = new int[words1.Length];
            Coverage2 = new int[words2.Length];
        }

        public void Add(int module, int start, int length, int matchStart, int matchLength)
        {
            Matches[start].Add(new MeteorMatch { Module = module, Start = start, Length = length, MatchStart = matchStart, MatchLength = matchLength });
            for (int k = 0; k < matchLength; k++) Coverage1[matchStart + k]++;
            for (int k = 0; k < length; k++) Coverage2[start + k]++;
        }
    }

    /// <summary>A match the search chose, linked to the ones chosen before it.</summary>
    private sealed record Chosen(MeteorMatch Match, Chosen? Previous);

    /// <summary>A partial alignment on the beam (Meteor's <c>PartialAlignment</c>); used words as bit sets.</summary>
    private sealed class SearchPath
    {
        public Chosen? Chosen;
        public readonly ulong[] Used1, Used2;
        public int MatchCount, Matches1, Matches2, AllMatches1, AllMatches2, Chunks, Idx, LastMatchEnd = -1, Distance;
        public int Order;

        public SearchPath(int n1, int n2)
        {
            Used1 = new ulong[(n1 + 63) >> 6];
            Used2 = new ulong[(n2 + 63) >> 6];
        }

        public SearchPath(SearchPath p)
        {
            Chosen = p.Chosen;
            Used1 = (ulong[])p.Used1.Clone();
            Used2 = (ulong[])p.Used2.Clone();
            MatchCount = p.MatchCount;
            Matches1 = p.Matches1;
            Matches2 = p.Matches2;
            AllMatches1 = p.AllMatches1;
            AllMatches2 = p.AllMatches2;
            Chunks = p.Chunks;
            Idx = p.Idx;
            LastMatchEnd = p.LastMatchEnd;
            Distance = p.Distance;
        }

        private static bool Get(ulong[] bits, int i) => (bits[i >> 6] & (1UL << (i & 63))) != 0;

        private static void Set(ulong[] bits, int i) => bits[i >> 6] |= 1UL << (i & 63);

        public bool IsUsed2(int i) => Get(Used2, i);

        public bool IsUsed(MeteorMatch m)
        {
            for (int i = 0; i < m.Length; i++)
                if (Get(Used2, m.Start + i)) return true;
            for (int i = 0; i < m.MatchLength; i++)
                if (Get(Used1, m.MatchStart + i)) return true;
            return false;
        }

        public void SetUsed(MeteorMatch m)
        {
            for (int i = 0; i < m.Length; i++) Set(Used2, m.Start + i);
            for (int i = 0; i < m.MatchLength; i++) Set(Used1, m.MatchStart + i);
        }
    }
}
