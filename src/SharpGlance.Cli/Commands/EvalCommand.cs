using System.CommandLine;
using System.Globalization;
using SharpGlance.Data.Synthetic;
using SharpGlance.Evaluation;
using SharpGlance.Evaluation.Comparison;
using SharpGlance.Evaluation.Judges;
using SharpGlance.Evaluation.Report;
using SharpGlance.Llm;
using Spectre.Console;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance eval --refs ANNOTATIONS --results RESULTS</c>: coco-caption-exact BLEU-1..4, METEOR, ROUGE-L and
/// CIDEr-D, optionally LLM judges (CLAIR, MLLM-as-judge) and an HTML report.
/// <c>glance eval --refs ANNOTATIONS --compare A B</c>: two captioners on the same images, with paired
/// bootstrap intervals of every difference (<see cref="CaptionComparison"/>).
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var refs = new Option<string>("--refs") { Description = "Reference captions: COCO annotations JSON, Karpathy split JSON, or JSONL {\"image\",\"caption\"}", Required = true };
        var results = new Option<string>("--results") { Description = "Candidate captions: COCO results JSON [{\"image_id\",\"caption\"}] or JSONL {\"image\",\"caption\"}; " +
            $"captions (and references) of at most {SharpGlance.Evaluation.CaptionFiles.MaxCaptionWords:N0} words" };
        var compare = new Option<string[]>("--compare")
        {
            Description = "Compare two results files A B on the same images instead of scoring one: per-image differences and paired bootstrap intervals of B − A",
            Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true,
        };
        var resamples = new Option<int>("--bootstrap-resamples") { Description = "With --compare: bootstrap resamples", DefaultValueFactory = _ => 1000 };
        var bootSeed = new Option<int>("--bootstrap-seed") { Description = "With --compare: seed of the bootstrap draws", DefaultValueFactory = _ => 0 };
        var confidence = new Option<double>("--confidence") { Description = "With --compare: coverage of the intervals", DefaultValueFactory = _ => 0.95 };
        var scenes = new Option<string?>("--scenes") { Description = "With --compare: a synthetic world's SPLIT.scenes.json (lexicon.json beside it) — error counts per caption and the exact McNemar test on error-free captions" };
        var metrics = new Option<string>("--metrics") { Description = "Comma-separated: bleu, meteor, rouge, cider", DefaultValueFactory = _ => "bleu,meteor,rouge,cider" };
        var json = new Option<bool>("--json") { Description = "Print the scores (corpus and per image) as JSON" };
        var report = new Option<string?>("--report") { Description = "Write a self-contained HTML report to this file" };
        var images = new Option<string?>("--images") { Description = "Folder of the images (report gallery, MLLM-as-judge)" };
        var split = new Option<string>("--split") { Description = "Karpathy split to evaluate", DefaultValueFactory = _ => "test" };
        var paraphrase = new Option<string?>("--meteor-paraphrase") { Description = "METEOR paraphrase table (paraphrase-en.gz); without it paraphrase matching is off" };
        var gallery = new Option<int>("--report-gallery") { Description = "Worst images shown with thumbnails in the report", DefaultValueFactory = _ => 100 };
        var attention = new Option<string?>("--attention") { Description = "Attention maps of `glance caption --refine --attention DIR`: the report shows both glances' maps side by side for the captions the second glance changed" };
        var meta = new Option<string[]>("--meta") { Description = "KEY=VALUE about the run for the report and JSON, e.g. model=NAME or decoding=greedy (repeatable; overrides what the results file records)", Arity = ArgumentArity.ZeroOrMore };
        var judge = new Option<string?>("--judge") { Description = "LLM judge(s): clair, mllm (comma-separated for both)" };
        var judgeUrl = new Option<string?>("--judge-url") { Description = "OpenAI-compatible endpoint (default $SHARPGLANCE_LLM_URL)" };
        var judgeModel = new Option<string?>("--judge-model") { Description = "Judge model (default $SHARPGLANCE_LLM_MODEL, else gpt-4o-mini)" };
        var judgeKey = new Option<string?>("--judge-key") { Description = "API key (default $SHARPGLANCE_LLM_KEY, then $OPENAI_API_KEY)" };
        var judgeKeyFile = new Option<string?>("--judge-key-file") { Description = "A file whose first line is the API key (keeps it off the command line); or $SHARPGLANCE_LLM_KEY_FILE" };
        var judgeSeeds = new Option<int>("--judge-seeds") { Description = "Seeds per image; reported as mean ± std over seeds (the paper: 10)", DefaultValueFactory = _ => 1 };
        var judgeSamples = new Option<int>("--judge-samples") { Description = "Images judged, drawn at random with a fixed seed (the paper: 100); 0 = all", DefaultValueFactory = _ => 100 };
        var judgeConcurrency = new Option<int>("--judge-concurrency") { Description = "Judge requests in flight at once", DefaultValueFactory = _ => 4 };
        var judgeTemperature = new Option<double?>("--judge-temperature") { Description = "Override the judge's temperature (CLAIR 0, MLLM-as-judge 0.9)" };
        var judgeInstruction = new Option<string?>("--judge-instruction") { Description = $"Instruction MLLM-as-judge sees (default \"{MllmJudge.DefaultInstruction}\")" };

        var command = new Command("eval", "Score captions exactly as coco-caption does (BLEU, METEOR, ROUGE-L, CIDEr-D), with optional LLM judges and an HTML report.")
        {
            refs, results, compare, resamples, bootSeed, confidence, scenes, metrics, json, report, images, split, paraphrase, gallery, attention, meta,
            judge, judgeUrl, judgeModel, judgeKey, judgeKeyFile, judgeSeeds, judgeSamples, judgeConcurrency, judgeTemperature, judgeInstruction,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(compare) is { Length: > 0 } pair)
            {
                if (parse.GetValue(results) is not null) throw new GlanceException("give either --results FILE or --compare A B, not both");
                foreach (var (name, given) in new[] { ("--judge", parse.GetValue(judge) is not null), ("--attention", parse.GetValue(attention) is not null) })
                    if (given) throw new GlanceException($"{name} does not combine with --compare");
                var checks = parse.GetValue(scenes) is { } scenesPath ? SceneChecks.Load(scenesPath) : null;
                var compareRequest = new CompareRequest
                {
                    ReferencesPath = parse.GetValue(refs)!, PathA = pair[0], PathB = pair[1],
                    Metrics = EvaluationOptions.ParseMetrics(parse.GetValue(metrics)!),
                    Split = parse.GetValue(split)!,
                    MeteorParaphraseTable = parse.GetValue(paraphrase),
                    Bootstrap = new BootstrapOptions { Resamples = parse.GetValue(resamples), Seed = parse.GetValue(bootSeed), Confidence = parse.GetValue(confidence) },
                    Check = checks is null ? null : (id, caption) => checks.Errors(id, caption) is var e ? new CaptionCheck(e.Total, e.Notes) : null,
                    CheckSource = checks?.ScenesPath,
                    ReportPath = parse.GetValue(report),
                    ImagesDir = parse.GetValue(images),
                };
                bool compareJson = parse.GetValue(json);
                var compared = compareJson ? CaptionComparison.Run(compareRequest) : CliProgress.Run("eval --compare", p => CaptionComparison.Run(compareRequest, p));
                parse.InvocationConfiguration.Output.Write(compareJson ? CaptionComparison.ToJson(compared) + "\n" : CaptionComparison.Format(compared));
                return 0;
            }
            if (parse.GetValue(results) is null) throw new GlanceException("give --results FILE (or --compare A B)");
            var judges = (parse.GetValue(judge) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var request = new EvalRequest
            {
                ReferencesPath = parse.GetValue(refs)!,
                ResultsPath = parse.GetValue(results)!,
                Metrics = EvaluationOptions.ParseMetrics(parse.GetValue(metrics)!),
                Split = parse.GetValue(split)!,
                MeteorParaphraseTable = parse.GetValue(paraphrase),
                ImagesDir = parse.GetValue(images),
                ReportPath = parse.GetValue(report),
                AttentionDir = parse.GetValue(attention),
                ReportGalleryImages = parse.GetValue(gallery),
                Judges = judges,
                JudgeEndpoint = judges.Length == 0 ? null : ChatEndpoint.FromOptions(parse.GetValue(judgeUrl), parse.GetValue(judgeModel), Secrets.LlmKey(parse.GetValue(judgeKey), parse.GetValue(judgeKeyFile), "--judge-key-file")),
                JudgeOptions = new JudgeOptions
                {
                    Seeds = parse.GetValue(judgeSeeds),
                    Samples = parse.GetValue(judgeSamples),
                    Concurrency = parse.GetValue(judgeConcurrency),
                    Temperature = parse.GetValue(judgeTemperature),
                },
                JudgeInstruction = parse.GetValue(judgeInstruction),
                Metadata = ParseMeta(parse.GetValue(meta) ?? []),
            };
            bool asJson = parse.GetValue(json);
            // With --json, stdout carries only the JSON, so no progress bar there.
            var outcome = asJson ? EvalPipeline.Run(request) : CliProgress.Run("eval", p => EvalPipeline.Run(request, p));
            // Said once the report exists: a run that fails on its input writes no report, only its error.
            if (outcome.ReportPath is not null && request.ImagesDir is null)
                parse.InvocationConfiguration.Error.WriteLine($"glance: note: {HtmlReport.NoImagesNote}");
            if (asJson) Console.Out.WriteLine(EvalPipeline.ToJson(outcome));
            else Print(outcome);
            return 0;
        });
        return command;
    }

    /// <summary>--meta KEY=VALUE pairs, in order; a later key wins.</summary>
    public static Dictionary<string, string> ParseMeta(IEnumerable<string> pairs)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new GlanceException($"--meta expects KEY=VALUE (got '{pair}')");
            result[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
        }
        return result;
    }

    private static void Print(EvalOutcome outcome)
    {
        var r = outcome.Result;
        foreach (var (key, value) in outcome.Metadata ?? new Dictionary<string, string>()) Console.WriteLine($"{key}: {value}");
        var table = new Table().AddColumn("metric").AddColumn(new TableColumn("score").RightAligned()).AddColumn(new TableColumn("×100").RightAligned());
        foreach (var m in HtmlReport.MetricOrder(r))
            table.AddRow(HtmlReport.Label(m), F(r.Corpus[m], 4), F(100 * r.Corpus[m], 1));
        foreach (var j in outcome.Judges)
            table.AddRow(Markup.Escape($"{j.Judge} ({j.Model})"), Markup.Escape($"{F(j.Mean, 2)} ± {F(j.Std, 2)}"), Markup.Escape($"{j.MinScore:0}–{j.MaxScore:0}"));
        AnsiConsole.Write(table);
        Console.WriteLine($"{r.Images.Count} images ({outcome.ReferenceImages} in the references), {r.ReferenceCaptions} reference captions, {r.Elapsed.TotalSeconds:0.0} s");
        if (r.MeteorParaphrase is { } para) Console.WriteLine($"METEOR paraphrase matching: {(para ? "on" : "off")}");
        foreach (var j in outcome.Judges)
        {
            var errors = j.Errors.Count == 0 ? "none" : string.Join(", ", j.Errors.Select(e => $"{e.Key} ×{e.Value}"));
            Console.WriteLine($"{j.Judge}: {j.Samples} images × {j.Seeds.Count} seed(s), scored {j.Scored}, malformed {j.Malformed}, failed {j.Failed}, " +
                              $"{j.Calls} calls; errors seen: {errors}{(j.ImagesSent ? "; images sent" : "")}");
        }
        if (outcome.ReportPath is not null) Console.WriteLine($"report: {outcome.ReportPath}");
    }

    private static string F(double v, int digits) => double.IsFinite(v) ? v.ToString("F" + digits, CultureInfo.InvariantCulture) : "–";
}
