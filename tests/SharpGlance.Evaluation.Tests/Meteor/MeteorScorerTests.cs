using System.IO.Compression;
using System.Text;
using System.Text.Json;
using SharpGlance.Evaluation.Meteor;

namespace SharpGlance.Tests.Evaluation.Meteor;

/// <summary>
/// METEOR as coco-caption computes it. Hand-worked cases use English "rank" parameters α 0.85, β 0.2,
/// γ 0.6, δ 0.75 and module weights exact 1.0 / stem 0.6 / synonym 0.8 / paraphrase 0.6; every expected
/// value was also checked against Meteor 1.5 (cmu-mtlab/meteor built locally, coco-caption's protocol).
/// Needs WordNet 3.0 at /usr/share/wordnet (scripts/setup.sh).
/// </summary>
public class MeteorScorerTests
{
    private const double Alpha = 0.85, Beta = 0.2, Gamma = 0.6, Delta = 0.75;

    private static readonly Lazy<MeteorScorer> Plain = new(() => MeteorScorer.Create(new MeteorOptions()));

    private static double Score1(string candidate, params string[] references) =>
        Plain.Value.Score([new MeteorSegment(candidate, references)]).PerSegment[0];

    private static string Stats(string candidate, params string[] references) =>
        Plain.Value.ScoreSegment(new MeteorSegment(candidate, references)).ToString();

    /// <summary>Meteor's formula, written out: Fmean·(1 − γ·frag^β), frag = chunks / mean matched words.</summary>
    private static double Meteor(double precision, double recall, double chunks, double matchedWords, bool perfectOneChunk = false)
    {
        double fmean = 1.0 / (((1.0 - Alpha) / precision) + (Alpha / recall));
        double frag = perfectOneChunk ? 0 : chunks / matchedWords;
        return fmean * (1.0 - Gamma * Math.Pow(frag, Beta));
    }

    [Fact]
    public void Reordered_exact_matches_pay_the_fragmentation_penalty()
    {
        // cat/dog/bird are content words matched exactly, one to one; the reference order bird|cat dog makes
        // two chunks: P = R = 1, frag = 2 / 3.
        Assert.Equal("3.0 3.0 0.0 0.0 3.0 3.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 2.0 3.0 3.0",
            Stats("cat dog bird", "bird cat dog"));
        Assert.Equal(Meteor(1, 1, 2, 3), Score1("cat dog bird", "bird cat dog"), 12);
        Assert.Equal(0.4467352531109634, Score1("cat dog bird", "bird cat dog"), 12);
    }

    [Fact]
    public void Function_words_weigh_one_minus_delta()
    {
        // Hypothesis "a cat on the mat": 5 words, 3 function words (a, on, the); all 5 match exactly.
        // Reference "the cat sat on a red mat": 7 words, 3 function words; "sat" and "red" unmatched.
        // P = (2·0.75 + 3·0.25) / (2·0.75 + 3·0.25) = 1; R = 2.25 / (4·0.75 + 3·0.25) = 0.6.
        // Chunks in reference order: the | cat | (gap) on | a | (gap) mat = 5 over 5 matches, frag = 1.
        Assert.Equal("5.0 7.0 3.0 3.0 2.0 2.0 3.0 3.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 5.0 5.0 5.0",
            Stats("a cat on the mat", "the cat sat on a red mat"));
        Assert.Equal(Meteor(1, 0.6, 5, 5), Score1("a cat on the mat", "the cat sat on a red mat"), 12);
        Assert.Equal(0.2553191489361702, Score1("a cat on the mat", "the cat sat on a red mat"), 12);
    }

    [Fact]
    public void Stem_match_counts_with_weight_0_6()
    {
        // Snowball stems both to "generous"; WordNet links neither. One word, one chunk, all matched: no penalty.
        Assert.Equal("1.0 1.0 0.0 0.0 0.0 0.0 0.0 0.0 1.0 1.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 1.0 1.0 1.0",
            Stats("generously", "generous"));
        Assert.Equal(Meteor(0.6, 0.6, 1, 1, perfectOneChunk: true), Score1("generously", "generous"), 12);
    }

    [Fact]
    public void Synonym_match_counts_with_weight_0_8()
    {
        Assert.Equal("1.0 1.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 1.0 1.0 0.0 0.0 0.0 0.0 0.0 0.0 1.0 1.0 1.0",
            Stats("car", "automobile"));
        Assert.Equal(Meteor(0.8, 0.8, 1, 1, perfectOneChunk: true), Score1("car", "automobile"), 12);
        Assert.Equal(0.8000000000000002, Score1("get", "low"), 12); // Meteor's cross-POS offset "synonyms"
    }

    [Fact]
    public void Identical_sentences_score_exactly_one()
    {
        // Meteor special-cases a full match in one chunk: frag = 0, so no penalty (not γ·(1/n)^β).
        Assert.Equal(1.0, Score1("a man riding a horse", "a man riding a horse"));
        Assert.Equal(1.0, Score1("cat dog bird", "cat dog bird"));
    }

    [Fact]
    public void Ambiguous_stem_and_synonym_candidates_are_dropped_as_in_meteor()
    {
        // "dogs"/"dog" and "running"/"runs" each get a stem and a synonym candidate, so neither is fixed and
        // the beam search decides. It weighs stem/synonym matches 0.5 into int fields (0 after truncation),
        // so no match beats the empty path, which has fewer chunks. Meteor 1.5 really scores this 0.
        Assert.Equal("2.0 2.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0",
            Stats("dogs running", "dog runs"));
        Assert.Equal(0.0, Score1("dogs running", "dog runs"));
    }

    [Fact]
    public void Best_reference_is_kept()
    {
        const string cand = "the dogs ran quickly";
        string[] refs = ["a dog ran", "a dog is running fast", "the dogs ran"];
        var each = refs.Select(r => Score1(cand, r)).ToArray();
        Assert.Equal(2, Array.IndexOf(each, each.Max()));
        Assert.Equal(each.Max(), Score1(cand, refs));
        Assert.Equal(Stats(cand, "the dogs ran"), Stats(cand, refs));
        // "the dogs ran" all exact in one chunk, "quickly" unmatched: P = (2·0.75 + 0.25) / (3·0.75 + 0.25)
        // = 0.7, R = 1, frag = 1 chunk / 3 matched words.
        Assert.Equal(Meteor(0.7, 1, 1, 3), Score1(cand, refs), 12);
        Assert.Equal(0.48704502558483637, Score1(cand, refs), 12);
    }

    [Fact]
    public void Corpus_score_comes_from_summed_statistics_not_the_mean()
    {
        var result = Plain.Value.Score(
        [
            new MeteorSegment("cat dog bird", ["cat dog bird"]),
            new MeteorSegment("a cat on the mat", ["the cat sat on a red mat"]),
        ]);
        Assert.Equal(1.0, result.PerSegment[0]);
        Assert.Equal(0.2553191489361702, result.PerSegment[1], 12);
        // Sums: hypothesis 8 words (3 function), reference 10 (3 function), 5 content + 3 function matches
        // on each side; chunks 0 + 5 (a perfect one-chunk segment adds none), 8 matched words per side.
        // P = 4.5 / 4.5 = 1, R = 4.5 / 6 = 0.75, frag = 5 / 8.
        Assert.Equal(Meteor(1, 0.75, 5, 8), result.Corpus, 12);
        Assert.Equal(0.35363434214974754, result.Corpus, 12);
        Assert.NotEqual(result.PerSegment.Average(), result.Corpus, 3);
        Assert.False(result.ParaphraseEnabled);
    }

    [Fact]
    public void Empty_candidate_scores_zero_and_still_counts_its_references()
    {
        var result = Plain.Value.Score(
        [
            new MeteorSegment("", ["a man"]),
            new MeteorSegment("cat dog bird", ["cat dog bird"]),
        ]);
        Assert.Equal(0.0, result.PerSegment[0]);
        Assert.Equal(1.0, result.PerSegment[1]);
        // Sums: hypothesis 3 words, reference 5 (1 function word, "a"), 3 matches, 0 chunks (the perfect
        // segment adds none): R = 2.25 / 3.25, and frag = 0 / 3 = 0.
        Assert.Equal(Meteor(1, 2.25 / 3.25, 0, 3), result.Corpus, 12);
    }

    [Fact]
    public void No_segments_give_zero()
    {
        var result = Plain.Value.Score([]);
        Assert.Equal(0.0, result.Corpus);
        Assert.Empty(result.PerSegment);
    }

    [Fact]
    public void Follows_coco_caption_protocol_line()
    {
        // meteor.py drops "|||" from the hypothesis and halves double spaces; the jar splits the whole
        // line on "|||", so a reference containing it becomes two references.
        var (test, refs) = MeteorScorer.CocoProtocol(new MeteorSegment("a ||| b", ["x ||| a b", "c"]));
        Assert.Equal("a b", test);
        Assert.Equal(["x", "a b", "c"], refs);
        Assert.Equal(1.0, Score1("a ||| b", "x ||| a b"));
    }

    [Fact]
    public void Reports_progress_to_the_end()
    {
        var reports = new List<ProgressUpdate>();
        var progress = new SyncProgress(reports.Add);
        var segments = Enumerable.Range(0, 10).Select(i => new MeteorSegment($"a dog {i}", ["a dog"])).ToList();
        Plain.Value.Score(segments, progress);
        Assert.Contains(reports, r => r.Done == 10 && r.Total == 10);
    }

    [Fact]
    public void Paraphrase_module_uses_the_table()
    {
        // Records are "probability / phrase / paraphrase". "little boy" → "small child" is one two-word
        // match (weight 0.6), which the search prefers (0.5 × 2 = 1 after truncation) to the synonym
        // small/little (0.5 → 0). All words matched in one chunk: P = R = (0.75 + 2·0.6·0.75 + 0.25) / 2.5.
        var path = Path.Combine(Path.GetTempPath(), $"meteor-para-{Guid.NewGuid():N}.gz");
        try
        {
            using (var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest))
                gz.Write(Encoding.UTF8.GetBytes("0.5\nlittle boy\nsmall child\n0.25\nplays\nis playing\n"));
            var scorer = MeteorScorer.Create(new MeteorOptions { ParaphraseTable = path });
            var result = scorer.Score([new MeteorSegment("a small child plays", ["a little boy plays"])]);
            Assert.True(result.ParaphraseEnabled);
            Assert.Equal("4.0 4.0 1.0 1.0 1.0 1.0 1.0 1.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 2.0 2.0 0.0 0.0 1.0 4.0 4.0",
                scorer.ScoreSegment(new MeteorSegment("a small child plays", ["a little boy plays"])).ToString());
            double p = (0.75 + 2 * 0.6 * 0.75 + 0.25) / 2.5;
            Assert.Equal(Meteor(p, p, 1, 4, perfectOneChunk: true), result.Corpus, 12);
            // Without the table: a, plays exact, small/little synonym, child/boy unmatched, two chunks.
            Assert.Equal(0.2859105619910166, Score1("a small child plays", "a little boy plays"), 12);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Bad_paraphrase_tables_are_reported_by_path()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"meteor-missing-{Guid.NewGuid():N}.gz");
        var ex = Assert.Throws<GlanceException>(() => MeteorScorer.Create(new MeteorOptions { ParaphraseTable = missing }));
        Assert.StartsWith(missing, ex.Message);

        var truncated = Path.Combine(Path.GetTempPath(), $"meteor-trunc-{Guid.NewGuid():N}.gz");
        try
        {
            File.WriteAllText(truncated, "0.5\nlittle boy\n");
            ex = Assert.Throws<GlanceException>(() => MeteorScorer.Create(new MeteorOptions { ParaphraseTable = truncated }));
            Assert.Contains("truncated record", ex.Message);
        }
        finally
        {
            File.Delete(truncated);
        }
    }

    [Theory]
    [InlineData("meteor15-coco-plain.json")]
    [InlineData("meteor15-coco-paraphrase.json")]
    public void Matches_meteor_jar_on_reference_segments(string file)
    {
        // 304 segments (1–6 references; clean captions, raw text with punctuation and case, long ambiguous
        // word salads, hand cases) scored by Meteor 1.5 through coco-caption's SCORE/EVAL protocol.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(MeteorTestData.Folder, file)));
        var root = doc.RootElement;
        var table = root.GetProperty("paraphraseTable").GetString();
        var scorer = MeteorScorer.Create(new MeteorOptions { ParaphraseTable = table is null ? null : Path.Combine(MeteorTestData.Folder, table) });
        var expected = root.GetProperty("segments").EnumerateArray().ToList();
        var segments = expected.Select(e => new MeteorSegment(
            e.GetProperty("candidate").GetString()!,
            e.GetProperty("references").EnumerateArray().Select(r => r.GetString()!).ToList())).ToList();

        var result = scorer.Score(segments);

        var wrong = new List<string>();
        for (int i = 0; i < segments.Count; i++)
        {
            var stats = scorer.ScoreSegment(segments[i]).ToString();
            var want = expected[i].GetProperty("stats").GetString();
            double score = expected[i].GetProperty("score").GetDouble();
            if (stats != want || Math.Abs(score - result.PerSegment[i]) > 1e-12)
                wrong.Add($"#{i} '{segments[i].Candidate}': {stats} {result.PerSegment[i]:R} (jar: {want} {score:R})");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(10)));
        Assert.Equal(root.GetProperty("corpus").GetDouble(), result.Corpus, 12);
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; this one reports synchronously.</summary>
    private sealed class SyncProgress(Action<ProgressUpdate> report) : IProgress<ProgressUpdate>
    {
        private readonly object gate = new();

        public void Report(ProgressUpdate value)
        {
            lock (gate) report(value);
        }
    }
}
