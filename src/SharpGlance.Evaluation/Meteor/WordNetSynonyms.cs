using System.Collections.Concurrent;

namespace SharpGlance.Evaluation.Meteor;

/// <summary>
/// Meteor 1.5's synonym dictionary (<c>edu.cmu.meteor.aligner.SynonymDictionary</c>) rebuilt at run time
/// from a WordNet 3.0 dictionary folder (Debian <c>wordnet-base</c>: <c>/usr/share/wordnet</c>).
/// </summary>
/// <remarks>
/// <para>Meteor ships <c>english.synsets</c> (word → synset offsets, from WordNet's index.sense) and
/// <c>english.exceptions</c> (inflected form → base forms, from the four *.exc files). We derive the same
/// two tables from <c>index.{noun,verb,adj,adv}</c> and the *.exc files. Two Meteor quirks are kept on
/// purpose: synset ids are bare byte offsets with the part of speech dropped, so a noun and a verb synset
/// that happen to share an offset count as one "synset"; and a word's synsets are its own plus those of
/// its base form (exception list, else WordNet's morphy suffix rules, <see cref="Morph"/>).</para>
/// <para>Debian's 3.0 data files carry two small upstream fixes that move byte offsets: data.verb entries
/// in [613036, 2422967) sit 18 bytes later and data.adj entries from 1681478 on sit 1 byte later than in
/// Princeton's release, which Meteor's files come from. Because offsets double as ids across parts of
/// speech, we map them back; <see cref="Load"/> then checks the finished tables against fingerprints of
/// Meteor's own files and refuses a WordNet that would give different matches.</para>
/// </remarks>
public sealed class WordNetSynonyms
{
    // Fingerprints (entry count, sum of FNV-1a-64 of "key\tsorted,values") of Meteor 1.5's
    // resources/synonym/english.synsets and english.exceptions.
    private const int ExpectedSynsetWords = 147306;
    private const ulong ExpectedSynsetSum = 14576733736654650767UL;
    private const int ExpectedExceptionForms = 5940;
    private const ulong ExpectedExceptionSum = 6737211310022102697UL;

    private static readonly ConcurrentDictionary<string, Lazy<WordNetSynonyms>> Cache = new(StringComparer.Ordinal);

    private readonly Dictionary<string, int[]> wordToSynsets;
    private readonly Dictionary<string, string[]> formToBases;
    private readonly ConcurrentDictionary<string, int[]> matchSets = new(StringComparer.Ordinal);

    private WordNetSynonyms(Dictionary<string, int[]> wordToSynsets, Dictionary<string, string[]> formToBases)
    {
        this.wordToSynsets = wordToSynsets;
        this.formToBases = formToBases;
    }

    /// <summary>Number of words with synsets (147,306 for WordNet 3.0).</summary>
    public int WordCount => wordToSynsets.Count;

    /// <summary>Loads (once per folder, then cached) and validates the tables built from <paramref name="wordNetDir"/>.</summary>
    public static WordNetSynonyms Load(string wordNetDir)
    {
        ArgumentNullException.ThrowIfNull(wordNetDir);
        var full = Path.GetFullPath(wordNetDir);
        var lazy = Cache.GetOrAdd(full, dir => new Lazy<WordNetSynonyms>(() => Build(dir)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Cache.TryRemove(new KeyValuePair<string, Lazy<WordNetSynonyms>>(full, lazy)); // retry after a fix
            throw;
        }
    }

    /// <summary>Synset ids of the word itself (Meteor's <c>getSynSets</c>); empty when unknown.</summary>
    public IReadOnlyList<int> SynSets(string word) => wordToSynsets.TryGetValue(word, out var s) ? s : [];

    /// <summary>Synset ids of the word's base form(s) (Meteor's <c>getStemSynSets</c>).</summary>
    public IReadOnlyList<int> StemSynSets(string word)
    {
        if (formToBases.TryGetValue(word, out var bases))
        {
            var set = new SortedSet<int>();
            foreach (var b in bases) set.UnionWith(SynSets(b));
            return [.. set];
        }
        return SynSets(Morph(word));
    }

    /// <summary>
    /// The sorted union of <see cref="SynSets"/> and <see cref="StemSynSets"/>: two different words are
    /// Meteor synonyms when these sets intersect. Cached per word.
    /// </summary>
    public int[] MatchSet(string word) => matchSets.GetOrAdd(word, w =>
    {
        var set = new SortedSet<int>(SynSets(w));
        set.UnionWith(StemSynSets(w));
        return [.. set];
    });

    /// <summary>True when two sorted id arrays share an element.</summary>
    public static bool Intersects(int[] a, int[] b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            if (a[i] == b[j]) return true;
            if (a[i] < b[j]) i++;
            else j++;
        }
        return false;
    }

    // WordNet's morphy detachment rules as Meteor transcribes them: noun, verb, adjective suffixes.
    private static readonly string[] Suffixes =
        ["s", "ses", "xes", "zes", "ches", "shes", "men", "ies", "s", "ies", "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"];
    private static readonly string[] Endings =
        ["", "s", "x", "z", "ch", "sh", "man", "y", "", "y", "e", "", "e", "", "e", "", "", "", "e", "e"];

    /// <summary>
    /// Meteor's <c>morph</c>: the first rule whose result is a WordNet word wins. Quirks kept: words of
    /// two characters or ending in "ss" come back unchanged, a word ending in "ful" gets "ful" appended to
    /// the base it finds, and no hit gives "" (which has no synsets).
    /// </summary>
    internal string Morph(string word)
    {
        string end = word.EndsWith("ful", StringComparison.Ordinal) ? "ful" : "";
        if (word.EndsWith("ss", StringComparison.Ordinal) || word.Length <= 2) return word;
        for (int i = 0; i < Suffixes.Length; i++)
        {
            if (!word.EndsWith(Suffixes[i], StringComparison.Ordinal)) continue;
            string candidate = string.Concat(word.AsSpan(0, word.Length - Suffixes[i].Length), Endings[i]);
            if (wordToSynsets.ContainsKey(candidate)) return candidate + end;
        }
        return "";
    }

    private static readonly string[] PartsOfSpeech = ["noun", "verb", "adj", "adv"];
    private static readonly string[] ExceptionFiles = ["adj.exc", "adv.exc", "noun.exc", "verb.exc"];

    private static WordNetSynonyms Build(string dir)
    {
        if (!Directory.Exists(dir))
            throw GlanceException.ForFile(dir, "WordNet folder not found; METEOR's synonym module needs WordNet 3.0 " +
                "(install wordnet-base: bash scripts/setup.sh, or set MeteorOptions.WordNetDir)");
        foreach (var f in PartsOfSpeech.Select(p => "index." + p).Concat(ExceptionFiles))
            if (!File.Exists(Path.Combine(dir, f)))
                throw GlanceException.ForFile(Path.Combine(dir, f), "missing; METEOR's synonym module needs WordNet 3.0 " +
                    "(install wordnet-base: bash scripts/setup.sh)");

        var synsets = new Dictionary<string, List<int>>(160_000, StringComparer.Ordinal);
        foreach (var pos in PartsOfSpeech)
        {
            var path = Path.Combine(dir, "index." + pos);
            var entries = ReadIndex(path);
            var correct = OffsetCorrection(pos, entries);
            foreach (var (lemma, offsets) in entries)
            {
                if (!synsets.TryGetValue(lemma, out var list)) synsets[lemma] = list = new List<int>(offsets.Length);
                foreach (var o in offsets) list.Add(correct(o));
            }
        }
        var wordToSynsets = new Dictionary<string, int[]>(synsets.Count, StringComparer.Ordinal);
        foreach (var (w, list) in synsets) wordToSynsets[w] = [.. list.Distinct().Order()];

        var bases = new Dictionary<string, List<string>>(6_000, StringComparer.Ordinal);
        foreach (var f in ExceptionFiles)
        {
            foreach (var line in File.ReadLines(Path.Combine(dir, f)))
            {
                var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (t.Length < 2) continue;
                if (!bases.TryGetValue(t[0], out var list)) bases[t[0]] = list = [];
                for (int i = 1; i < t.Length; i++) list.Add(t[i]);
            }
        }
        var formToBases = new Dictionary<string, string[]>(bases.Count, StringComparer.Ordinal);
        foreach (var (form, list) in bases) formToBases[form] = [.. list.Distinct().Order(StringComparer.Ordinal)];

        var (nSyn, sumSyn) = Fingerprint(wordToSynsets, ids => string.Join(',', ids));
        var (nExc, sumExc) = Fingerprint(formToBases, b => string.Join(',', b));
        if (nSyn != ExpectedSynsetWords || sumSyn != ExpectedSynsetSum || nExc != ExpectedExceptionForms || sumExc != ExpectedExceptionSum)
            throw GlanceException.ForFile(dir, "this WordNet does not reproduce Meteor 1.5's synonym tables " +
                $"({nSyn} words, {nExc} exception forms; expected {ExpectedSynsetWords} and {ExpectedExceptionForms} with " +
                "matching contents): METEOR needs WordNet 3.0 as packaged by Debian wordnet-base or Princeton");

        return new WordNetSynonyms(wordToSynsets, formToBases);
    }

    private static List<(string Lemma, int[] Offsets)> ReadIndex(string path)
    {
        var entries = new List<(string, int[])>(150_000);
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0 || line[0] == ' ') continue; // license header lines start with two spaces
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
            if (t.Length < 6 || !int.TryParse(t[2], out var n) || !int.TryParse(t[3], out var p) || t.Length != 6 + p + n)
                throw GlanceException.ForFile(path, $"not a WordNet index line: '{line[..Math.Min(line.Length, 60)]}'");
            var offsets = new int[n];
            for (int i = 0; i < n; i++) offsets[i] = int.Parse(t[6 + p + i]);
            entries.Add((t[0], offsets));
        }
        return entries;
    }

    /// <summary>Maps Debian wordnet-base 1:3.0 synset offsets back to Princeton WordNet 3.0's (see remarks).</summary>
    private static Func<int, int> OffsetCorrection(string pos, List<(string Lemma, int[] Offsets)> entries)
    {
        bool Lists(string lemma, int offset) => entries.Any(e => e.Lemma == lemma && e.Offsets.Contains(offset));
        if (pos == "verb" && Lists("forget", 613036))
            return o => o >= 613036 && o < 2422967 ? o - 18 : o;
        if (pos == "adj" && Lists("placed", 1681478))
            return o => o >= 1681478 ? o - 1 : o;
        return o => o;
    }

    private static (int Count, ulong Sum) Fingerprint<T>(Dictionary<string, T> table, Func<T, string> values)
    {
        ulong sum = 0;
        foreach (var (key, value) in table) sum = unchecked(sum + Fnv1a(key + "\t" + values(value)));
        return (table.Count, sum);
    }

    private static ulong Fnv1a(string s)
    {
        ulong h = 0xcbf29ce484222325UL;
        foreach (char c in s) h = unchecked((h ^ c) * 0x100000001b3UL);
        return h;
    }
}
