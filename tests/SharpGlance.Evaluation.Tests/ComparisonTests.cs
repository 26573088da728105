using System.Text.Json;
using System.Text.RegularExpressions;
using SharpGlance.Evaluation;
using SharpGlance.Evaluation.Comparison;
using SharpGlance.Evaluation.Report;

namespace SharpGlance.Tests.Evaluation;

/// <summary><c>glance eval --compare</c>: the paired bootstrap, the exact McNemar test, and the comparison of two caption files.</summary>
public sealed class ComparisonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("glance-compare-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly (int Id, string[] Refs)[] Images =
    [
        (1, ["a red circle above a blue square", "a blue square below a red circle"]),
        (2, ["two cats next to a dog", "a dog beside two cats"]),
        (3, ["a small green star", "there is a small green star"]),
        (4, ["three apples left of a car", "a car to the right of three apples"]),
    ];

    private string References()
    {
        var path = Path.Combine(_dir, "refs.coco.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new
        {
            images = Images.Select(i => new { id = i.Id, file_name = $"{i.Id}.png" }),
            annotations = Images.SelectMany(i => i.Refs.Select((r, k) => new { id = i.Id * 10 + k, image_id = i.Id, caption = r })),
        }));
        return path;
    }

    private string Results(string name, params string[] captions)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, captions.Select((c, i) => JsonSerializer.Serialize(new { image = $"{Images[i].Id}.png", caption = c })));
        return path;
    }

    [Theory]
    [InlineData(0, 0, 1.0)]
    [InlineData(1, 5, 14.0 / 64)]          // 2·(C(6,0) + C(6,1))/2⁶
    [InlineData(5, 1, 14.0 / 64)]
    [InlineData(0, 10, 2.0 / 1024)]        // 2·C(10,0)/2¹⁰
    [InlineData(3, 3, 1.0)]                // 2·42/64 > 1, capped
    [InlineData(2, 8, 2.0 * 56 / 1024)]    // 2·(1 + 10 + 45)/2¹⁰
    public void McNemar_exact_p_values_match_the_binomial_sums_by_hand(int b, int c, double expected) =>
        Assert.Equal(expected, McNemarTest.TwoSidedP(b, c), 12);

    [Fact]
    public void McNemar_stays_finite_where_binomial_coefficients_overflow()
    {
        // n = 3000 balanced: p is near 1; one-sided lopsided: tiny but positive.
        Assert.InRange(McNemarTest.TwoSidedP(1500, 1500), 0.98, 1.0);
        var p = McNemarTest.TwoSidedP(1200, 1800);
        Assert.InRange(p, 1e-300, 1e-20);
    }

    [Fact]
    public void McNemar_counts_the_two_by_two_table()
    {
        var t = McNemarTest.Exact([true, true, false, false, true], [true, false, true, false, false]);
        Assert.Equal((1, 2, 1, 1), (t.Both, t.OnlyA, t.OnlyB, t.Neither));
        Assert.Equal(1.0, t.P);   // 2·P[X ≤ 1 | n = 3] = 2·4/8
    }

    [Fact]
    public void Percentile_interpolates_like_numpy()
    {
        double[] x = [1, 2, 3, 4];
        Assert.Equal(1.75, PairedBootstrap.Percentile(x, 0.25), 12);   // np.percentile([1,2,3,4], 25)
        Assert.Equal(3.925, PairedBootstrap.Percentile(x, 0.975), 12);
        Assert.Equal(1.0, PairedBootstrap.Percentile(x, 0));
    }

    [Fact]
    public void One_image_gives_the_difference_itself_as_its_interval()
    {
        var q = new PairedQuantity("x", _ => 0.25, _ => 0.75);
        var iv = Assert.Single(PairedBootstrap.Run(1, [q], new BootstrapOptions { Resamples = 50 }));
        Assert.Equal((0.5, 0.5, 0.5), (iv.Delta, iv.Low, iv.High));
    }

    [Fact]
    public void Bootstrap_repeats_exactly_for_a_seed_and_moves_with_another()
    {
        double[] a = [0.1, 0.9, 0.4, 0.3, 0.8, 0.2], b = [0.3, 0.7, 0.9, 0.3, 0.8, 0.6];
        Func<IReadOnlyList<int>, double> Mean(double[] v) => idx => idx.Average(i => v[i]);
        var q = new PairedQuantity("x", Mean(a), Mean(b));
        var one = PairedBootstrap.Run(6, [q], new BootstrapOptions { Resamples = 200, Seed = 3 })[0];
        var again = PairedBootstrap.Run(6, [q], new BootstrapOptions { Resamples = 200, Seed = 3 })[0];
        var other = PairedBootstrap.Run(6, [q], new BootstrapOptions { Resamples = 200, Seed = 4 })[0];
        Assert.Equal(one, again);
        Assert.NotEqual((one.Low, one.High), (other.Low, other.High));
        Assert.Equal(0.15, one.Delta, 12);   // (0.2 − 0.2 + 0.5 + 0 + 0 + 0.4)/6 = 0.9/6
        Assert.True(one.Low < one.Delta && one.Delta < one.High);
    }

    [Fact]
    public void CorpusOf_every_image_once_is_the_corpus_score_exactly()
    {
        var items = Images.Select((i, k) => new EvaluationItem(i.Id.ToString(), k % 2 == 0 ? i.Refs[0] : "a dog and a cat", i.Refs)).ToList();
        var r = CocoEvaluator.Evaluate(items);
        int[] all = [0, 1, 2, 3];
        foreach (var (metric, score) in r.Corpus)
            Assert.Equal(score, r.CorpusOf[metric](all));
        Assert.Equal(7, r.CorpusOf.Count);   // BLEU-1..4, METEOR, ROUGE-L, CIDEr-D
    }

    [Fact]
    public void A_resample_keeps_CIDEr_D_document_frequencies_of_the_full_reference_set()
    {
        var items = Images.Select(i => new EvaluationItem(i.Id.ToString(), i.Refs[0], i.Refs)).ToList();
        var full = CocoEvaluator.Evaluate(items, new EvaluationOptions { Metrics = ["cider"] });
        // A draw of image 0 twice scores what image 0 scored in the full run ...
        double resampled = full.CorpusOf[CocoEvaluator.CiderName]([0, 0]);
        Assert.Equal(full.Images[0].Scores[CocoEvaluator.CiderName], resampled);
        Assert.True(resampled > 1);
        // ... not what a run over that image alone scores: with one image every idf is log 1 − log 1 = 0.
        var alone = CocoEvaluator.Evaluate(items.Take(1).ToList(), new EvaluationOptions { Metrics = ["cider"] });
        Assert.Equal(0.0, alone.Corpus[CocoEvaluator.CiderName]);
    }

    [Fact]
    public void Identical_files_give_zero_differences_and_exactly_zero_width_intervals()
    {
        var refs = References();
        string[] captions = ["a red circle above a square", "two cats next to a dog", "a big green star", "apples and a car"];
        var a = Results("a.jsonl", captions);
        var b = Results("b.jsonl", captions);
        var o = CaptionComparison.Run(new CompareRequest
        {
            ReferencesPath = refs, PathA = a, PathB = b, Bootstrap = new BootstrapOptions { Resamples = 300, Seed = 1 },
            Check = (id, caption) => new CaptionCheck(caption.Contains("big") ? 1 : 0, []),
        });
        Assert.Equal(9, o.Intervals.Count);   // 7 metrics, error-free share, errors per caption
        foreach (var iv in o.Intervals)
        {
            Assert.Equal(0.0, iv.Delta);
            Assert.Equal(0.0, iv.Low);
            Assert.Equal(0.0, iv.High);
            Assert.False(iv.ExcludesZero);
        }
        Assert.All(o.Tallies, t => Assert.Equal((0, 0, 4), (t.BetterB, t.WorseB, t.Tied)));
        Assert.Equal((3, 0, 0, 1, 1.0), (o.ErrorFree!.Both, o.ErrorFree.OnlyA, o.ErrorFree.OnlyB, o.ErrorFree.Neither, o.ErrorFree.P));
    }

    [Fact]
    public void Hand_computed_ROUGE_L_difference_and_its_interval()
    {
        // ROUGE-L per image, one reference each: identical → 1; "two dogs" against "two cats" → LCS 1,
        // P = R = 1/2, F = (1 + 1.2²)·¼ / (½ + 1.2²·½) = 0.5. A = (1, 0.5), B = (1, 1): Δ = 0.25. A resample's
        // Δ is (copies of image 2)/2 · 0.5 ∈ {0, 0.25, 0.5}, each extreme with probability ¼, so the 95%
        // interval of 1000 resamples is [0, 0.5].
        var refs = Path.Combine(_dir, "two.coco.json");
        File.WriteAllText(refs, """{"images":[{"id":1,"file_name":"1.png"},{"id":2,"file_name":"2.png"}],"annotations":[{"id":1,"image_id":1,"caption":"a red circle"},{"id":2,"image_id":2,"caption":"two cats"}]}""");
        var a = Results("a.jsonl", "a red circle", "two dogs");
        var b = Results("b.jsonl", "a red circle", "two cats");
        var o = CaptionComparison.Run(new CompareRequest
        {
            ReferencesPath = refs, PathA = a, PathB = b, Metrics = ["rouge"],
            Check = (id, caption) => new CaptionCheck(caption.Contains("dogs") ? 2 : 0, caption.Contains("dogs") ? ["entity: 'dog' is not in the scene", "count"] : []),
        });
        var rouge = o.Intervals.Single(i => i.Name == CocoEvaluator.RougeName);
        Assert.Equal(0.75, rouge.A, 12);
        Assert.Equal(1.0, rouge.B, 12);
        Assert.Equal(0.25, rouge.Delta, 12);
        Assert.Equal(0.0, rouge.Low, 12);
        Assert.Equal(0.5, rouge.High, 12);
        Assert.Equal([0.0, 0.5], o.Images.Select(p => p.Delta(CocoEvaluator.RougeName)).Select(d => Math.Round(d, 12)));
        var tally = Assert.Single(o.Tallies);
        Assert.Equal((1, 0, 1), (tally.BetterB, tally.WorseB, tally.Tied));
        // Error-free: image 2 is fixed by B (only B right): b = 0, c = 1, p = 2·½ = 1. Errors per caption 1 → 0.
        Assert.Equal((1, 0, 1, 0), (o.ErrorFree!.Both, o.ErrorFree.OnlyA, o.ErrorFree.OnlyB, o.ErrorFree.Neither));
        var errors = o.Intervals.Single(i => i.Name == CaptionComparison.ErrorsName);
        Assert.Equal((1.0, 0.0, -1.0), (errors.A, errors.B, errors.Delta));
    }

    [Fact]
    public void Files_of_different_images_are_refused_with_one_line()
    {
        var refs = References();
        var a = Results("a.jsonl", "x", "y", "z", "w");
        var b = Results("b.jsonl", "x", "y", "z");
        var e = Assert.Throws<GlanceException>(() => CaptionComparison.Run(new CompareRequest { ReferencesPath = refs, PathA = a, PathB = b, Metrics = ["bleu"] }));
        Assert.Contains("1 only in the first (e.g. 4)", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Report_shows_intervals_the_McNemar_table_and_both_captions_escaped()
    {
        var refs = References();
        var a = Results("a.jsonl", "a red circle above a square", "two <b>cats</b>", "a big green star", "apples and a car");
        var b = Results("b.jsonl", "a red circle above a blue square", "two cats next to a dog", "a small green star", "apples and a car");
        var path = Path.Combine(_dir, "out", "compare.html");
        var o = CaptionComparison.Run(new CompareRequest
        {
            ReferencesPath = refs, PathA = a, PathB = b, ReportPath = path, Metrics = ["bleu", "cider"],
            Check = (id, caption) => new CaptionCheck(caption.Contains("big") ? 1 : 0, caption.Contains("big") ? ["size: large 'star' where the scene has small"] : []),
        });
        var html = File.ReadAllText(path);
        var cider = o.Intervals.Single(i => i.Name == CocoEvaluator.CiderName);
        Assert.Contains($"[{100 * cider.Low:+0.00;-0.00;0.00}, {100 * cider.High:+0.00;-0.00;0.00}]", html);
        Assert.Equal(7, Regex.Matches(html, "<svg ").Count);   // BLEU-1..4, CIDEr-D, two error rows
        Assert.Contains("<th>A right</th><td class=\"num\">3</td><td class=\"num\">0</td>", html);
        Assert.Contains("two &lt;b&gt;cats&lt;/b&gt;", html);
        Assert.DoesNotContain("<b>cats</b>", html);
        Assert.Contains("size: large &#39;star&#39; where the scene has small", html);
        Assert.Contains("Largest gains of B by CIDEr-D", html);
        Assert.Equal(4, Regex.Matches(html, "<tr><td>[1-4]</td>").Count);
    }
}
