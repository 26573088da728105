using System.Text.Json;
using System.Text.Json.Nodes;
using SharpGlance.Evaluation.Judges;
using SharpGlance.Evaluation.Meteor;
using SharpGlance.Evaluation.Report;
using SharpGlance.Llm;

namespace SharpGlance.Evaluation;

/// <summary>Everything <c>glance eval</c> was asked to do.</summary>
public sealed record EvalRequest
{
    public required string ReferencesPath { get; init; }
    public required string ResultsPath { get; init; }
    public IReadOnlyList<string> Metrics { get; init; } = EvaluationOptions.Known;
    /// <summary>Karpathy split to evaluate against.</summary>
    public string Split { get; init; } = "test";
    public string? MeteorParaphraseTable { get; init; }
    public string? ImagesDir { get; init; }
    public string? ReportPath { get; init; }
    public int ReportGalleryImages { get; init; } = 100;
    /// <summary>For the report: the maps <c>glance caption --refine --attention DIR</c> wrote; null = none.</summary>
    public string? AttentionDir { get; init; }
    /// <summary>Judges to run ("clair", "mllm"); empty = none.</summary>
    public IReadOnlyList<string> Judges { get; init; } = [];
    public ChatEndpoint? JudgeEndpoint { get; init; }
    public JudgeOptions JudgeOptions { get; init; } = new();
    public string? JudgeInstruction { get; init; }
    /// <summary>How the captions were made (e.g. "model", "decoding"); overrides what the results file says.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>The scores, the judges' reports, and where the HTML report went.</summary>
public sealed record EvalOutcome(string ReferencesPath, string ResultsPath, int ReferenceImages, EvaluationResult Result,
    IReadOnlyList<JudgeReport> Judges, string? ReportPath, IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>
/// <c>glance eval</c> as one library call: load and align the caption files, score them the coco-caption
/// way, run the LLM judges, write the HTML report. Progress goes to <paramref name="progress"/>.
/// </summary>
public static class EvalPipeline
{
    public static EvalOutcome Run(EvalRequest request, IProgress<ProgressUpdate>? progress = null, CancellationToken cancel = default)
    {
        if (request.ImagesDir is { } dir && !Directory.Exists(dir)) throw GlanceException.ForFile(dir, "images folder not found");
        if (request.AttentionDir is { } maps && !Directory.Exists(maps)) throw GlanceException.ForFile(maps, "attention maps folder not found");
        if (request.AttentionDir is not null && request.ReportPath is null) throw new GlanceException("--attention DIR goes into the HTML report: give --report FILE too");
        if (request.MeteorParaphraseTable is { } table && !File.Exists(table)) throw GlanceException.ForFile(table, "paraphrase table not found");
        if (request.Judges.Count > 0 && request.JudgeEndpoint is null)
            throw new GlanceException("--judge needs an endpoint: --judge-url URL (or SHARPGLANCE_LLM_URL)");
        var judges = request.Judges.Select(j => CaptionJudge.Create(j, request.JudgeInstruction)).ToList();

        var references = CaptionFiles.LoadReferences(request.ReferencesPath, request.Split);
        var candidates = CaptionFiles.LoadCandidates(request.ResultsPath);
        var items = CaptionFiles.Align(references, candidates);
        var metadata = new Dictionary<string, string>(candidates.Metadata, StringComparer.Ordinal);
        foreach (var (key, value) in request.Metadata) metadata[key] = value;
        var options = new EvaluationOptions
        {
            Metrics = request.Metrics,
            Meteor = new MeteorOptions { ParaphraseTable = request.MeteorParaphraseTable },
        };
        var result = CocoEvaluator.Evaluate(items, options, progress);

        var reports = new List<JudgeReport>();
        if (judges.Count > 0)
        {
            var endpoint = request.JudgeEndpoint!;
            using var client = new ChatClient(endpoint);
            var samples = items.Select(i => new JudgeSample(i.ImageId, i.Candidate, i.References,
                request.ImagesDir is null ? null : HtmlReport.ResolveImage(request.ImagesDir, i.ImageFile, i.ImageId))).ToList();
            foreach (var judge in judges)
                reports.Add(JudgeRunner.RunAsync(judge, client, endpoint.Model, samples, request.JudgeOptions, progress, cancel).GetAwaiter().GetResult());
        }

        if (request.ReportPath is { } reportPath)
            HtmlReport.Write(reportPath, result, new ReportOptions
            {
                ReferencesPath = request.ReferencesPath,
                ResultsPath = request.ResultsPath,
                ImagesDir = request.ImagesDir,
                GalleryImages = request.ReportGalleryImages,
                AttentionDir = request.AttentionDir,
                Judges = reports,
                Metadata = metadata,
            }, progress);
        return new EvalOutcome(request.ReferencesPath, request.ResultsPath, references.Captions.Count, result, reports, request.ReportPath, metadata);
    }

    /// <summary>The outcome as JSON: corpus metrics under coco-caption's names, per-image scores, judges.</summary>
    public static string ToJson(EvalOutcome outcome)
    {
        var r = outcome.Result;
        var metrics = new JsonObject();
        foreach (var m in HtmlReport.MetricOrder(r)) metrics[m] = r.Corpus[m];
        var perImage = new JsonArray();
        foreach (var img in r.Images)
        {
            var o = new JsonObject { ["image_id"] = img.ImageId, ["caption"] = img.Candidate, ["tokenized"] = img.TokenizedCandidate };
            foreach (var m in HtmlReport.MetricOrder(r)) o[m] = img.Scores[m];
            perImage.Add(o);
        }
        var judges = new JsonArray();
        foreach (var j in outcome.Judges)
        {
            judges.Add(new JsonObject
            {
                ["judge"] = j.Judge,
                ["model"] = j.Model,
                ["mean"] = Finite(j.Mean),
                ["std"] = Finite(j.Std),
                ["scale"] = new JsonArray(j.MinScore, j.MaxScore),
                ["seed_means"] = new JsonArray(j.SeedMeans.Select(m => (JsonNode?)m).ToArray()),
                ["seeds"] = new JsonArray(j.Seeds.Select(s => (JsonNode?)s).ToArray()),
                ["samples"] = j.Samples,
                ["scored"] = j.Scored,
                ["malformed"] = j.Malformed,
                ["failed"] = j.Failed,
                ["calls"] = j.Calls,
                ["images_sent"] = j.ImagesSent,
                ["errors"] = new JsonObject(j.Errors.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value))),
                ["verdicts"] = new JsonArray(j.Verdicts.Select(v => (JsonNode?)new JsonObject
                {
                    ["image_id"] = v.ImageId, ["seed"] = v.Seed, ["score"] = v.Score, ["reason"] = v.Reason, ["error"] = v.Error,
                }).ToArray()),
            });
        }
        var root = new JsonObject
        {
            ["references"] = outcome.ReferencesPath,
            ["results"] = outcome.ResultsPath,
            ["run"] = new JsonObject((outcome.Metadata ?? new Dictionary<string, string>()).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["images"] = r.Images.Count,
            ["reference_images"] = outcome.ReferenceImages,
            ["reference_captions"] = r.ReferenceCaptions,
            ["metrics"] = metrics,
            ["meteor_paraphrase"] = r.MeteorParaphrase,
            ["judges"] = judges,
            ["report"] = outcome.ReportPath,
            ["elapsed_s"] = Math.Round(r.Elapsed.TotalSeconds, 3),
            ["per_image"] = perImage,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}
