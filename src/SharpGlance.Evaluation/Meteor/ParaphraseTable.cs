using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text;

namespace SharpGlance.Evaluation.Meteor;

/// <summary>
/// Meteor 1.5's paraphrase table (<c>edu.cmu.meteor.aligner.ParaphraseTransducer</c>): a gzipped text file
/// of three-line records — a probability (ignored by Meteor), a reference phrase, its paraphrase — loaded
/// into a trie over the reference phrases. coco-caption runs the jar with <c>data/paraphrase-en.gz</c>;
/// we cannot ship that file, so this module is active only when <see cref="MeteorOptions.ParaphraseTable"/>
/// names one.
/// </summary>
/// <remarks>
/// The order of <see cref="PathsFrom"/>'s results matters (it fixes the order of candidate matches, and
/// so the beam search's tie-breaking): shorter reference phrases first, then file order, as in Java.
/// </remarks>
public sealed class ParaphraseTable
{
    private static readonly ConcurrentDictionary<string, Lazy<ParaphraseTable>> Cache = new(StringComparer.Ordinal);

    private readonly Dictionary<string, int> vocab;
    // Trie over reference phrases: child state of (state, word); state 0 is the root.
    private readonly Dictionary<long, int> transitions;
    private readonly List<int[]?> emits;      // per state: indices of paraphrases ending here, in file order
    private readonly List<int[]> paraphrases; // per record: the paraphrase's word ids

    private ParaphraseTable(Dictionary<string, int> vocab, Dictionary<long, int> transitions, List<int[]?> emits, List<int[]> paraphrases)
    {
        this.vocab = vocab;
        this.transitions = transitions;
        this.emits = emits;
        this.paraphrases = paraphrases;
    }

    /// <summary>Number of records (reference phrase → paraphrase pairs).</summary>
    public int Count => paraphrases.Count;

    /// <summary>Loads (once per path, then cached) a Meteor paraphrase file (gzip; plain text is also accepted).</summary>
    public static ParaphraseTable Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var lazy = Cache.GetOrAdd(full, p => new Lazy<ParaphraseTable>(() => Read(p)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Cache.TryRemove(new KeyValuePair<string, Lazy<ParaphraseTable>>(full, lazy));
            throw;
        }
    }

    /// <summary>The table's id of a word, or -1 when the table never mentions it (Meteor's <c>translate</c>).</summary>
    public int WordId(string word) => vocab.TryGetValue(word, out var id) ? id : -1;

    /// <summary>The paraphrase's word ids of record <paramref name="index"/>.</summary>
    public int[] Paraphrase(int index) => paraphrases[index];

    /// <summary>
    /// Every reference phrase that starts at <paramref name="start"/> in <paramref name="words"/>, as
    /// (phrase length, record index) pairs: Meteor's <c>getReferencePaths</c>.
    /// </summary>
    public List<(int Length, int Index)> PathsFrom(int[] words, int start)
    {
        var paths = new List<(int, int)>();
        int state = 0;
        for (int i = 0; i < words.Length - start; i++)
        {
            int w = words[start + i];
            if (w < 0 || !transitions.TryGetValue(Key(state, w), out state)) break;
            if (emits[state] is { } e)
                foreach (var j in e) paths.Add((i + 1, j));
        }
        return paths;
    }

    private static long Key(int state, int word) => ((long)state << 32) | (uint)word;

    private static ParaphraseTable Read(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "paraphrase table not found");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var transitions = new Dictionary<long, int>();
        var emits = new List<int[]?> { null };
        var paraphrases = new List<int[]>();

        int Map(string w)
        {
            if (!vocab.TryGetValue(w, out var id)) vocab[w] = id = vocab.Count;
            return id;
        }

        try
        {
            using var file = File.OpenRead(path);
            Stream stream = file;
            if (file.Length >= 2)
            {
                int b0 = file.ReadByte(), b1 = file.ReadByte();
                file.Position = 0;
                if (b0 == 0x1f && b1 == 0x8b) stream = new GZipStream(file, CompressionMode.Decompress);
            }
            using var reader = new StreamReader(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false, 1 << 16);
            long lineNo = 0;
            while (reader.ReadLine() is not null)
            {
                lineNo++;
                var reference = reader.ReadLine();
                var paraphrase = reader.ReadLine();
                if (reference is null || paraphrase is null)
                    throw GlanceException.ForFile(path, $"truncated record at line {lineNo}: each record is three lines (probability, phrase, paraphrase)");
                lineNo += 2;
                var refIds = JavaText.Tokenize(reference).Select(Map).ToArray();
                var parIds = JavaText.Tokenize(paraphrase).Select(Map).ToArray();
                int state = 0;
                foreach (var w in refIds)
                {
                    var key = Key(state, w);
                    if (!transitions.TryGetValue(key, out var next))
                    {
                        next = emits.Count;
                        emits.Add(null);
                        transitions[key] = next;
                    }
                    state = next;
                }
                var e = emits[state];
                emits[state] = e is null ? [paraphrases.Count] : [.. e, paraphrases.Count];
                paraphrases.Add(parIds);
            }
        }
        catch (InvalidDataException ex)
        {
            throw GlanceException.ForFile(path, $"not a readable gzip paraphrase table ({ex.Message})");
        }
        return new ParaphraseTable(vocab, transitions, emits, paraphrases);
    }
}
