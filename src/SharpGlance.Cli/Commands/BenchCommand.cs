using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SharpGlance.Benchmarking;
using SharpGlance.Captioning;
using SharpGlance.IO;
using SharpGlance.Runtime;
using SharpGlance.Tokenization;
using Spectre.Console;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance bench</c>: per-caption latency of the first glance, phase by phase (ViT, connector, prefill,
/// per-token decode, total), peak RSS and images/s at a larger batch, as the paper's Tab. 6 reports it. By
/// default it builds the full-size LLaVA-OPT-125M with random weights (no download); <c>--model</c> times
/// a real captioner folder. <c>--kernels</c> times the model's GEMM shapes on each backend instead.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Captioner folder or hub name org/name to time (default: the full-size architecture with random weights)" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "vocab.json + merges.txt for the random model's prompt (default: the embedded model's, else the repository's tests/fixtures/tokenizers/opt)" };
        var iterations = new Option<int>("--iterations") { Description = "Timed single-image captions", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed captions first", DefaultValueFactory = _ => 1 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Tokens per caption (greedy, end of sequence disabled)", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch") { Description = "Images per batch for the throughput run (0 = skip)", DefaultValueFactory = _ => 8 };
        var batchIterations = new Option<int>("--batch-iterations") { Description = "Timed batches", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "Threads for libtorch and OpenBLAS (default: all cores)" };
        var gemm = GemmChoice.Option();
        var precision = PrecisionChoice.Option();
        var refine = new Option<bool>("--refine") { Description = "Also time the second glance (a DeepLens of the paper's size on the random model) and report its overhead over the single pass" };
        var minRows = new Option<int?>("--gemm-min-rows") { Description = $"Rows (batch × tokens) from which OpenBLAS is used (default {CpuGemm.MinRows})" };
        var fullVision = new Option<bool>("--full-vision") { Description = "Build all ViT blocks (default: only up to the select layer, as `glance caption` does)" };
        var kernels = new Option<bool>("--kernels") { Description = "Time the model's GEMM shapes on libtorch and OpenBLAS instead of captions" };
        var profile = new Option<bool>("--profile") { Description = "Time the steps of a ViT block, an OPT block (prefill and decode) and the LM head instead of captions" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var logitsDiff = new Option<bool>("--logits-diff") { Description = "Compare the model's next-token logits after the prompt in fp32 and bf16 (the same weights) on 4 test cards instead of timing" };
        var saveLlava = new Option<string?>("--save-llava") { Description = "Write a random TinyLLaVA-shaped Hugging Face LLaVA (CLIP ViT-L/14-336 → TinyLlama-1.1B, bf16, 2.6 GiB) to this new folder, with --tokenizer's (default: the repository's tiny-llava-llama) Llama tokenizer; time it with --model" };
        var saveModel = new Option<string?>("--save-model") { Description = "Write the random full-size captioner (with --refine, its paper-size DeepLens too) to this new folder in float16 instead of timing: a model to time glance video, serve or caption at full size with --model" };

        var command = new Command("bench", "Time a caption phase by phase (ViT, connector, prefill, decode), peak memory and batch throughput.")
        {
            model, tokenizer, iterations, warmup, newTokens, batch, batchIterations, device, threads, gemm, precision, refine, minRows, fullVision, kernels, profile, json, logitsDiff, saveModel, saveLlava,
        };
        command.SetAction(parse =>
        {
            var backend = GemmChoice.Parse(parse.GetValue(gemm));
            if (parse.GetValue(minRows) is { } rows)
            {
                if (rows < 1) throw new GlanceException($"--gemm-min-rows must be at least 1 (got {rows})");
                CpuGemm.MinRows = rows;
            }
            bool asJson = parse.GetValue(json);
            if (parse.GetValue(threads) is { } t) CpuGemm.SetThreads(t);
            if (parse.GetValue(kernels))
            {
                if (backend == GemmBackend.OpenBlas) CpuGemm.Backend = backend;   // fails early when missing
                var (timings, other) = ProcessStats.WithOtherLoad(() => asJson ? GemmBenchmark.Run() : CliProgress.Run("kernels", p => GemmBenchmark.Run(progress: p)));
                if (asJson) Console.Out.WriteLine(JsonSerializer.Serialize(new { gemm = CpuGemm.Describe(), threads = TorchSharp.torch.get_num_threads(), load_average = LoadAverage(), other_load_cores = other, results = timings }, JsonOptions));
                else PrintKernels(timings, other);
                return 0;
            }
            if (Devices.Parse(parse.GetValue(device)).type == TorchSharp.DeviceType.CPU) GemmChoice.Apply(backend);
            if (parse.GetValue(profile))
            {
                var dtype = Precisions.Resolve(PrecisionChoice.Parse(parse.GetValue(precision)), TorchSharp.torch.CPU);
                var (steps, other) = ProcessStats.WithOtherLoad(() => asJson ? LayerProfile.Run(dtype: dtype) : CliProgress.Run("profile", p => LayerProfile.Run(progress: p, dtype: dtype)));
                if (asJson) Console.Out.WriteLine(JsonSerializer.Serialize(new { gemm = CpuGemm.Describe(), precision = Precisions.Name(dtype), threads = TorchSharp.torch.get_num_threads(), load_average = LoadAverage(), other_load_cores = other, steps }, JsonOptions));
                else PrintProfile(steps, other, dtype);
                return 0;
            }
            var options = new CaptionBenchmarkOptions
            {
                ModelFolder = HubCache.ResolveOptional(parse.GetValue(model)),
                TokenizerFolder = parse.GetValue(model) is null ? parse.GetValue(tokenizer) ?? DefaultModel.TokenizerFolder() : null,
                Iterations = parse.GetValue(iterations),
                Warmup = parse.GetValue(warmup),
                NewTokens = parse.GetValue(newTokens),
                Batch = parse.GetValue(batch),
                BatchIterations = parse.GetValue(batchIterations),
                Device = Devices.Parse(parse.GetValue(device)),
                Threads = parse.GetValue(threads),
                Gemm = backend,
                Precision = PrecisionChoice.Parse(parse.GetValue(precision)),
                Refine = parse.GetValue(refine),
                TrimVision = !parse.GetValue(fullVision),
            }.Validate();
            if (parse.GetValue(logitsDiff))
            {
                var d = CaptionBenchmark.CompareLogits(options);
                if (asJson) Console.Out.WriteLine(JsonSerializer.Serialize(d, JsonOptions));
                else AnsiConsole.MarkupLine(Markup.Escape(FormattableString.Invariant(
                    $"next-token logits after the prompt, bf16 against fp32 (the same weights), {d.Images} test cards: max |Δ| {d.MaxAbsDiff:G3}, mean |Δ| {d.MeanAbsDiff:G3} (largest |logit| {d.MaxAbsLogit:G3}); greedy token the same for {d.SameArgmax} of {d.Images}")));
                return 0;
            }
            if (parse.GetValue(saveModel) is { } saveTo)
            {
                if (options.ModelFolder is not null) throw new GlanceException("--save-model writes the random full-size model: leave out --model");
                if (Directory.Exists(saveTo) && Directory.EnumerateFileSystemEntries(saveTo).Any())
                    throw GlanceException.ForFile(saveTo, "--save-model needs a new or empty folder (nothing is overwritten)");
                // The whole tower (not trimmed) in float32, stored as float16: a loader trims and casts it as it would a trained model.
                using var random = CaptionBenchmark.Build(options with { TrimVision = false }, TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32);
                // Written beside it and renamed at the end: an interrupted run leaves no half folder under the name.
                string partial = $"{Path.TrimEndingDirectorySeparator(Path.GetFullPath(saveTo))}.partial-{Environment.ProcessId}";
                try
                {
                    random.Save(partial, storeAs: TorchSharp.torch.ScalarType.Float16);
                    if (Directory.Exists(saveTo)) Directory.Delete(saveTo);   // empty, checked above
                    Directory.Move(partial, saveTo);
                }
                finally
                {
                    if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);   // ours, never the user's
                }
                Console.Error.WriteLine($"glance: wrote the random full-size captioner{(options.Refine ? " with DeepLens" : "")} to {saveTo}");
                return 0;
            }
            if (parse.GetValue(saveLlava) is { } llavaTo)
            {
                var tokFolder = parse.GetValue(tokenizer) ?? LlamaTokenizerFolder()
                    ?? throw new GlanceException("--save-llava needs a Llama tokenizer: pass --tokenizer DIR (tokenizer.model with an <image> token)");
                var tok = LlamaTokenizer.FromFolder(tokFolder);
                int imageId = tok.AddedTokenId(LlavaForConditionalGeneration.ImageToken) ?? throw GlanceException.ForFile(tokFolder, "the tokenizer has no <image> token");
                LlavaBenchmark.SaveRandom(llavaTo, LlavaBenchmark.TinyLlavaShape(imageId, tok.PadId ?? tok.EosId), tokFolder);
                Console.Error.WriteLine($"glance: wrote a random TinyLLaVA-shaped LLaVA to {llavaTo}");
                return 0;
            }
            if (options.ModelFolder is { } benchFolder && File.Exists(Path.Combine(benchFolder, "config.json"))
                && LlavaConfig.Describes(ConfigJson.ReadObject(Path.Combine(benchFolder, "config.json"))))
            {
                var dtype = Precisions.Resolve(options.Precision, TorchSharp.torch.CPU);
                var r = LlavaBenchmark.Run(benchFolder, dtype, options.NewTokens);
                if (asJson) Console.Out.WriteLine(JsonSerializer.Serialize(r, JsonOptions));
                else Console.Out.WriteLine(FormattableString.Invariant(
                    $"{r.Model} ({r.Precision}, {r.Threads} threads): weights {r.WeightsGiB:F2} GiB, load {r.LoadSeconds:F1} s, peak RSS {r.PeakRssGiB:F2} GiB = {r.PeakRssOverWeights:F2}× the weights (before load {r.RssBeforeLoadGiB:F2} GiB); tower {r.VisionSeconds:F1} s, prefill {r.PromptTokens} tokens at {r.PrefillTokensPerSecond:F1} tok/s, decode {r.DecodedTokens} tokens at {r.DecodeTokensPerSecond:F2} tok/s = {r.DecodeBandwidthGBs:F1} GB/s ({r.DecodeBytesPerTokenGiB:F2} GiB per token), {r.DecodeOverMeasuredBandwidth * 100:F0}% of the measured {r.MeasuredBandwidthGBs:F1} GB/s; load average {r.LoadAverage[0]:F1}"));
                return 0;
            }
            var result = asJson ? CaptionBenchmark.Run(options) : CliProgress.Run("bench", p => CaptionBenchmark.Run(options, p));
            if (asJson) Console.Out.WriteLine(JsonSerializer.Serialize(result, JsonOptions));
            else Print(result);
            return 0;
        });
        return command;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The repository's tiny-llava-llama fixture (a Llama tokenizer with &lt;image&gt;), found above the working or build folder.</summary>
    private static string? LlamaTokenizerFolder()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Path.Combine(dir.FullName, "tests", "fixtures", "hf", "tiny-llava-llama") is var candidate && LlamaTokenizer.Exists(candidate)) return candidate;
        return null;
    }

    private static double[] LoadAverage()
    {
        var l = ProcessStats.LoadAverage;
        return [l.One, l.Five, l.Fifteen];
    }

    private static string Ms(TimingStats s) => s.Count == 0 || double.IsNaN(s.Mean) ? "–"
        : s.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $"{s.Mean:0.0} ± {s.Std:0.0}") : string.Create(CultureInfo.InvariantCulture, $"{s.Mean:0.0}");

    private static string F(double v, string format) => double.IsNaN(v) ? "–" : v.ToString(format, CultureInfo.InvariantCulture);

    private static void Print(CaptionBenchmarkResult r)
    {
        var e = r.Environment.Where(kv => kv.Value is not null).Select(kv => $"{kv.Key}={kv.Value}");
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(r.Model)}[/]");
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{r.Parameters / 1e6:0.0}M parameters (ViT blocks built: {r.VisionLayersBuilt}), {r.VisualTokens} visual + {r.PromptTokens} prompt tokens, {r.NewTokens} new tokens, greedy, {r.Precision}")));
        AnsiConsole.MarkupLine(Markup.Escape($"{r.Device}, {r.TorchThreads} threads on {r.Cores} cores ({r.Cpu}); {r.Precision}; GEMM: {r.Gemm}"));
        AnsiConsole.MarkupLine(Markup.Escape("env: " + (e.Any() ? string.Join(" ", e) : "(none set)")));
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{r.Date:yyyy-MM-dd HH:mm}, load average {r.LoadAverageBefore[0]:0.00} before, {r.LoadAverageAfter[0]:0.00} after; other processes kept {r.OtherLoadSingle:0.00} cores busy meanwhile; built in {r.BuildSeconds:0.0} s")));

        var table = new Table().AddColumn("phase (ms)");
        var columns = new List<PhaseStats> { r.Single };
        if (r.Batched is { } b) columns.Add(b);
        foreach (var c in columns)
        {
            table.AddColumn(new TableColumn($"batch {c.BatchSize}: mean ± std").RightAligned());
            table.AddColumn(new TableColumn("median").RightAligned());
        }
        void Row(string name, Func<PhaseStats, TimingStats> pick)
        {
            var cells = new List<string> { name };
            foreach (var c in columns) { cells.Add(Ms(pick(c))); cells.Add(F(pick(c).Median, "0.0")); }
            table.AddRow(cells.Select(Markup.Escape).ToArray());
        }
        Row("preprocess", s => s.Preprocess);
        Row($"ViT (to layer {r.VisionLayersBuilt})", s => s.Vit);
        Row("connector", s => s.Connector);
        Row("prefill (+ 1st token)", s => s.Prefill);
        Row("decode, per token", s => s.PerToken);
        Row($"decode ({r.NewTokens - 1} tokens)", s => s.Decode);
        Row("total", s => s.Total);
        if (r.Single.SecondGlance.Count > 0) Row($"second glance (DeepLens + refine prompt + {r.NewTokens} tokens)", s => s.SecondGlance);
        AnsiConsole.Write(table);
        if (r.Single.SecondGlance.Count > 0)
            AnsiConsole.MarkupLine(Markup.Escape(FormattableString.Invariant(
                $"second glance: +{r.Single.SecondGlanceOverhead:P0} over the single pass at batch 1") +
                (r.Batched is { SecondGlance.Count: > 0 } sb ? FormattableString.Invariant($", +{sb.SecondGlanceOverhead:P0} at batch {sb.BatchSize}") : "")));
        string batched = r.Batched is { } bb ? FormattableString.Invariant($"; batch {bb.BatchSize}: {bb.ImagesPerSecond:0.00} images/s over {bb.Runs} run(s)") : "";
        AnsiConsole.MarkupLine(Markup.Escape(FormattableString.Invariant(
            $"batch 1: {r.Single.Total.Mean / 1000:0.00} s per caption over {r.Single.Runs} runs ({r.Single.ImagesPerSecond:0.00} images/s){batched}")));
        string batchRss = double.IsNaN(r.PeakRssBatchMiB) ? "" : FormattableString.Invariant($", {r.PeakRssBatchMiB:0} MiB after batch {r.Batched!.BatchSize}");
        AnsiConsole.MarkupLine(Markup.Escape(FormattableString.Invariant(
            $"peak RSS: {r.PeakRssSingleMiB:0} MiB (build + batch 1; {r.RssAfterBuildMiB:0} MiB after build){batchRss}")));
        AnsiConsole.MarkupLine(Markup.Escape(FormattableString.Invariant(
            $"compute floor: {r.WorkGFlop:0} GFLOP per caption at {r.GemmGFlops:0} GFLOP/s (ViT fc1 in {r.Precision}, the best product rate measured in this run) = {r.ComputeFloorMs / 1000:0.00} s; batch 1 took {r.FloorRatio:0.00}× that")));
    }

    /// <summary>The first line of <c>--profile</c> and <c>--kernels</c>: what multiplied, on how many threads, beside what load.</summary>
    private static void PrintGemmHeader(double otherCores) =>
        AnsiConsole.MarkupLine(Markup.Escape(FormattableString.Invariant($"GEMM: {CpuGemm.Describe()}; {TorchSharp.torch.get_num_threads()} threads; load average {LoadAverage()[0]:0.00}, other processes busy {otherCores:0.00} cores")));

    private static void PrintProfile(IReadOnlyList<ProfileStep> steps, double otherCores, TorchSharp.torch.ScalarType dtype)
    {
        PrintGemmHeader(otherCores);
        AnsiConsole.MarkupLine(Markup.Escape($"precision: {Precisions.Name(dtype)}"));
        var table = new Table().AddColumn("block").AddColumn("step").AddColumn(new TableColumn("median ms").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
        foreach (var group in steps.GroupBy(s => s.Block))
        {
            // "whole block" and (alternatives) are not parts of the sum.
            static bool Part(ProfileStep s) => s.Step != "whole block" && !s.Step.StartsWith('(');
            double sum = group.Where(Part).Sum(s => s.MedianMs);
            foreach (var s in group)
                table.AddRow(Markup.Escape(s.Block), Markup.Escape(s.Step), F(s.MedianMs, "0.000"), Part(s) ? F(100 * s.MedianMs / sum, "0") + "%" : "");
        }
        AnsiConsole.Write(table);
    }

    private static void PrintKernels(IReadOnlyList<GemmTiming> timings, double otherCores)
    {
        PrintGemmHeader(otherCores);
        var table = new Table().AddColumn("shape").AddColumn("M×K×N").AddColumn("backend")
            .AddColumn(new TableColumn("median ms").RightAligned()).AddColumn(new TableColumn("GFLOP/s").RightAligned()).AddColumn(new TableColumn("max |Δ|").RightAligned());
        foreach (var t in timings)
            table.AddRow(Markup.Escape(t.Shape), $"{t.M}×{t.K}×{t.N}", t.Backend, F(t.MedianMs, "0.000"), F(t.GFlops, "0.0"), F(t.MaxAbsDiff, "0.0e0"));
        AnsiConsole.Write(table);
    }
}
