using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpGlance.Evaluation.Meteor;
using SharpGlance.Evaluation.Report;

namespace SharpGlance.Evaluation.Comparison;

/// <summary>A caption checked against what the image holds: its error count (0 = right) and what each error was.</summary>
public sealed record CaptionCheck(int Errors, IReadOnlyList<string> Notes);

/// <summary>Everything <c>glance eval --compare A B</c> was asked to do.</summary>
public sealed record CompareRequest
{
    public required string ReferencesPath { get; init; }
    public required string PathA { get; init; }
    public required string PathB { get; init; }
    public IReadOnlyList<string> Metrics { get; init; } = EvaluationOptions.Known;
    public string Split { get; init; } = "test";
    public string? MeteorParaphraseTable { get; init; }
    public BootstrapOptions Bootstrap { get; init; } = new();
    /// <summary>Checks a caption of an image (id, caption) against its scene graph; null = no error statistics.</summary>
    public Func<string, string, CaptionCheck>? Check { get; init; }
    /// <summary>Where the checks come from (the scene graphs' file), for the report.</summary>
    public string? CheckSource { get; init; }
    public string? ReportPath { get; init; }
    public string? ImagesDir { get; init; }
    /// <summary>Largest gains and losses (by the ranking metric) the report shows with their images, each.</summary>
    public int ReportGalleryImages { get; init; } = 12;
}

/// <summary>One image's two captions, their scores and (with scene graphs) their checks.</summary>
public sealed record ImagePair(ImageScore A, ImageScore B, CaptionCheck? CheckA, CaptionCheck? CheckB)
{
    public string ImageId => A.ImageId;
    public double Delta(string metric) => B.Scores[metric] - A.Scores[metric];
}

/// <summary>Per metric, how many images B scores higher, lower, or the same as A.</summary>
public sealed record PerImageTally(string Metric, int BetterB, int WorseB, int Tied, double MeanDelta);

/// <summary>What <c>glance eval --compare</c> found.</summary>
public sealed record CompareOutcome(
    CompareRequest Request,
    EvaluationResult ResultA,
    EvaluationResult ResultB,
    IReadOnlyList<ImagePair> Images,
    IReadOnlyList<PairedInterval> Intervals,
    IReadOnlyList<PerImageTally> Tallies,
    McNemarTest? ErrorFree,
    string? ReportPath)
{
    public IReadOnlyList<string> Metrics => HtmlReport.MetricOrder(ResultA);
    /// <summary>The metric that ranks gains and losses: CIDEr-D when computed, else the first.</summary>
    public string RankBy => Metrics.Contains(CocoEvaluator.CiderName) ? CocoEvaluator.CiderName : Metrics[0];
}

/// <summary>
/// <c>glance eval --compare A B</c>: two captioners' captions of the same images scored against the same
/// references, image by image, with a paired bootstrap interval for the difference of every corpus metric
/// and, given scene graphs, of the share of error-free captions and the errors per caption, plus the exact
/// McNemar test on error-free captions.
/// <para>Each side is scored once over all images exactly as <c>glance eval</c> scores it, so CIDEr-D's
/// document frequencies are those of the full reference set (coco-caption computes them over every
/// evaluated image's references); a resample only re-weights images. BLEU and METEOR resample their
/// counts, ROUGE-L and CIDEr-D their per-image scores (<see cref="EvaluationResult.CorpusOf"/>).</para>
/// </summary>
public static class CaptionComparison
{
    public const string ErrorFreeName = "error-free captions", ErrorsName = "errors per caption";

    public static CompareOutcome Run(CompareRequest request, IProgress<ProgressUpdate>? progress = null)
    {
        request.Bootstrap.Validate();
        if (request.ImagesDir is { } dir && !Directory.Exists(dir)) throw GlanceException.ForFile(dir, "images folder not found");
        if (request.MeteorParaphraseTable is { } table && !File.Exists(table)) throw GlanceException.ForFile(table, "paraphrase table not found");
        var references = CaptionFiles.LoadReferences(request.ReferencesPath, request.Split);
        var itemsA = CaptionFiles.Align(references, CaptionFiles.LoadCandidates(request.PathA));
        var itemsB = CaptionFiles.Align(references, CaptionFiles.LoadCandidates(request.PathB));
        CheckSameImages(request, itemsA, itemsB);

        var options = new EvaluationOptions { Metrics = request.Metrics, Meteor = new MeteorOptions { ParaphraseTable = request.MeteorParaphraseTable } };
        var a = CocoEvaluator.Evaluate(itemsA, options, progress);
        var b = CocoEvaluator.Evaluate(itemsB, options, progress);

        var pairs = new List<ImagePair>(a.Images.Count);
        for (int i = 0; i < a.Images.Count; i++)
            pairs.Add(new ImagePair(a.Images[i], b.Images[i],
                request.Check?.Invoke(a.Images[i].ImageId, a.Images[i].Candidate), request.Check?.Invoke(b.Images[i].ImageId, b.Images[i].Candidate)));

        var metrics = HtmlReport.MetricOrder(a);
        var quantities = metrics.Select(m => new PairedQuantity(m, a.CorpusOf[m], b.CorpusOf[m])).ToList();
        McNemarTest? errorFree = null;
        if (request.Check is not null)
        {
            double[] freeA = pairs.Select(p => p.CheckA!.Errors == 0 ? 1.0 : 0.0).ToArray(), freeB = pairs.Select(p => p.CheckB!.Errors == 0 ? 1.0 : 0.0).ToArray();
            double[] errorsA = pairs.Select(p => (double)p.CheckA!.Errors).ToArray(), errorsB = pairs.Select(p => (double)p.CheckB!.Errors).ToArray();
            quantities.Add(new PairedQuantity(ErrorFreeName, Mean(freeA), Mean(freeB)));
            quantities.Add(new PairedQuantity(ErrorsName, Mean(errorsA), Mean(errorsB)));
            errorFree = McNemarTest.Exact(freeA.Select(x => x > 0).ToList(), freeB.Select(x => x > 0).ToList());
        }
        var intervals = PairedBootstrap.Run(pairs.Count, quantities, request.Bootstrap, progress);
        var tallies = metrics.Select(m =>
        {
            var d = pairs.Select(p => p.Delta(m)).ToList();
            return new PerImageTally(m, d.Count(x => x > 0), d.Count(x => x < 0), d.Count(x => x == 0), d.Average());
        }).ToList();

        var outcome = new CompareOutcome(request, a, b, pairs, intervals, tallies, errorFree, request.ReportPath);
        if (request.ReportPath is { } path) ComparisonReport.Write(path, outcome, progress);
        return outcome;
    }

    /// <summary>Mean of per-image values over a multiset of images.</summary>
    private static Func<IReadOnlyList<int>, double> Mean(double[] values) => images =>
    {
        double sum = 0;
        foreach (int i in images) sum += values[i];
        return sum / images.Count;
    };

    private static void CheckSameImages(CompareRequest request, List<EvaluationItem> a, List<EvaluationItem> b)
    {
        if (a.Select(i => i.ImageId).SequenceEqual(b.Select(i => i.ImageId))) return;
        var setA = a.Select(i => i.ImageId).ToHashSet(StringComparer.Ordinal);
        var setB = b.Select(i => i.ImageId).ToHashSet(StringComparer.Ordinal);
        var onlyA = setA.Except(setB).ToList();
        var onlyB = setB.Except(setA).ToList();
        static string Some(List<string> ids) => ids.Count == 0 ? "" : $" (e.g. {ids[0]})";
        throw new GlanceException($"{request.PathA} and {request.PathB} caption different images: {onlyA.Count} only in the first{Some(onlyA)}, " +
                                  $"{onlyB.Count} only in the second{Some(onlyB)}; a paired comparison needs the same images in both");
    }

    /// <summary>The comparison as a text table (what the CLI prints).</summary>
    public static string Format(CompareOutcome o)
    {
        var s = new StringBuilder();
        var bs = o.Request.Bootstrap;
        s.AppendLine(CultureInfo.InvariantCulture, $"A: {o.Request.PathA}");
        s.AppendLine(CultureInfo.InvariantCulture, $"B: {o.Request.PathB}");
        s.AppendLine(CultureInfo.InvariantCulture, $"{o.Images.Count} images; Δ = B − A; {100 * bs.Confidence:0.#}% paired bootstrap interval ({bs.Resamples} resamples, seed {bs.Seed})");
        s.AppendLine(CultureInfo.InvariantCulture, $"{"",-22} {"A",9} {"B",9} {"Δ",9}  {"interval",-21} {"B>A",5} {"B<A",5} {"same",5}");
        foreach (var iv in o.Intervals)
        {
            double k = Scale(iv.Name);
            var t = o.Tallies.FirstOrDefault(x => x.Metric == iv.Name);
            s.Append(CultureInfo.InvariantCulture, $"{Label(iv.Name),-22} {k * iv.A,9:F2} {k * iv.B,9:F2} {k * iv.Delta,9:+0.00;-0.00;0.00}  ");
            s.Append(CultureInfo.InvariantCulture, $"{$"[{k * iv.Low:+0.00;-0.00;0.00}, {k * iv.High:+0.00;-0.00;0.00}]",-21}");
            if (t is not null) s.Append(CultureInfo.InvariantCulture, $" {t.BetterB,5} {t.WorseB,5} {t.Tied,5}");
            s.AppendLine(iv.ExcludesZero ? "  *" : "");
        }
        s.AppendLine("(metrics ×100; error-free captions in %; * = the interval excludes 0)");
        if (o.ErrorFree is { } m)
            s.AppendLine(CultureInfo.InvariantCulture,
                $"error-free captions (scene graphs {o.Request.CheckSource}): both {m.Both}, only A {m.OnlyA}, only B {m.OnlyB}, neither {m.Neither}; exact McNemar p = {m.P:G4}");
        if (o.ReportPath is not null) s.AppendLine(CultureInfo.InvariantCulture, $"report: {o.ReportPath}");
        return s.ToString();
    }

    /// <summary>Metrics and the error-free share print ×100; errors per caption as they are.</summary>
    internal static double Scale(string name) => name == ErrorsName ? 1 : 100;

    internal static string Label(string name) => name is ErrorFreeName or ErrorsName ? name : HtmlReport.Label(name);

    /// <summary>The comparison as JSON: corpus scores, intervals, the McNemar test, and every image's captions, scores and errors.</summary>
    public static string ToJson(CompareOutcome o)
    {
        var intervals = new JsonArray();
        foreach (var iv in o.Intervals)
            intervals.Add(new JsonObject
            {
                ["name"] = iv.Name, ["a"] = iv.A, ["b"] = iv.B, ["delta"] = iv.Delta, ["low"] = iv.Low, ["high"] = iv.High,
                ["excludes_zero"] = iv.ExcludesZero,
            });
        var images = new JsonArray();
        foreach (var p in o.Images)
        {
            var item = new JsonObject { ["image_id"] = p.ImageId, ["a"] = p.A.Candidate, ["b"] = p.B.Candidate };
            foreach (var m in o.Metrics) item["delta_" + m] = p.Delta(m);
            if (p.CheckA is not null) { item["errors_a"] = p.CheckA.Errors; item["errors_b"] = p.CheckB!.Errors; }
            images.Add(item);
        }
        var root = new JsonObject
        {
            ["references"] = o.Request.ReferencesPath,
            ["a"] = o.Request.PathA,
            ["b"] = o.Request.PathB,
            ["images"] = o.Images.Count,
            ["bootstrap"] = new JsonObject { ["resamples"] = o.Request.Bootstrap.Resamples, ["seed"] = o.Request.Bootstrap.Seed, ["confidence"] = o.Request.Bootstrap.Confidence },
            ["intervals"] = intervals,
            ["per_image_tally"] = new JsonArray(o.Tallies.Select(t => (JsonNode?)new JsonObject
            {
                ["metric"] = t.Metric, ["b_better"] = t.BetterB, ["b_worse"] = t.WorseB, ["same"] = t.Tied, ["mean_delta"] = t.MeanDelta,
            }).ToArray()),
            ["mcnemar_error_free"] = o.ErrorFree is { } mc
                ? new JsonObject { ["both"] = mc.Both, ["only_a"] = mc.OnlyA, ["only_b"] = mc.OnlyB, ["neither"] = mc.Neither, ["p"] = mc.P, ["scenes"] = o.Request.CheckSource }
                : null,
            ["report"] = o.ReportPath,
            ["per_image"] = images,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
