using System.Diagnostics;
using SharpGlance.Captioning;
using SharpGlance.Connectors;
using SharpGlance.Generation;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Runtime;
using SharpGlance.Tokenization;
using SharpGlance.Training;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Benchmarking;

/// <summary>What <c>glance bench</c> times.</summary>
public sealed record CaptionBenchmarkOptions
{
    /// <summary>A captioner folder to time; null = the full-size architecture with random weights.</summary>
    public string? ModelFolder { get; init; }
    /// <summary>vocab.json + merges.txt for the random model's prompt (a captioner folder brings its own).</summary>
    public string? TokenizerFolder { get; init; }
    /// <summary>Timed single-image captions (batch 1), after <see cref="Warmup"/> untimed ones.</summary>
    public int Iterations { get; init; } = 5;
    public int Warmup { get; init; } = 1;
    /// <summary>Exactly this many new tokens per caption: greedy, end of sequence disabled.</summary>
    public int NewTokens { get; init; } = 20;
    /// <summary>Images per batch for the throughput run; 0 skips it.</summary>
    public int Batch { get; init; } = 8;
    /// <summary>Timed batches (the batch-1 warm-up already warmed the code paths).</summary>
    public int BatchIterations { get; init; } = 1;
    public string? Question { get; init; }
    public Device? Device { get; init; }
    /// <summary>Intra-op threads for libtorch and OpenBLAS; null = leave both at their defaults (the core count).</summary>
    public int? Threads { get; init; }
    public GemmBackend Gemm { get; init; } = GemmBackend.Auto;
    /// <summary>
    /// Also time the second glance after each caption (<c>--refine</c>): the random full-size model gets a
    /// DeepLens of the paper's size (<see cref="DeepLensConfig"/>'s defaults: D = 1024, 4 layers, 100
    /// queries, three levels); a model folder must have one.
    /// </summary>
    public bool Refine { get; init; }
    /// <summary>Inference precision (auto: bf16 where the CPU has bf16 hardware).</summary>
    public Precision Precision { get; init; } = Precision.Auto;
    /// <summary>Build the tower only up to the select layer (as <c>glance caption</c> does).</summary>
    public bool TrimVision { get; init; } = true;
    public long Seed { get; init; }

    public CaptionBenchmarkOptions Validate()
    {
        if (Iterations < 1) throw new GlanceException($"--iterations must be at least 1 (got {Iterations})");
        if (Warmup < 0) throw new GlanceException($"--warmup must be ≥ 0 (got {Warmup})");
        if (NewTokens < 1) throw new GlanceException($"--new-tokens must be at least 1 (got {NewTokens})");
        if (Batch < 0) throw new GlanceException($"--batch must be ≥ 0 (got {Batch})");
        if (BatchIterations < 1) throw new GlanceException($"--batch-iterations must be at least 1 (got {BatchIterations})");
        if (Threads is < 1) throw new GlanceException($"--threads must be at least 1 (got {Threads})");
        return this;
    }
}

/// <summary>
/// The phases of one caption run, in milliseconds (decode is the sum over the steps after the first token).
/// <paramref name="SecondGlance"/>: the whole second glance after it (DeepLens over the cached features, the
/// refinement prompt's prefill, its decode), NaN when not asked; <paramref name="Total"/> is the first glance's.
/// </summary>
public sealed record PhaseTimes(double Preprocess, double Vit, double Connector, double Prefill, double Decode, int DecodeSteps, double Total,
    double SecondGlance = double.NaN)
{
    public double PerToken => DecodeSteps > 0 ? Decode / DecodeSteps : double.NaN;
}

/// <summary>The phases' statistics over the timed runs of one batch size.</summary>
public sealed record PhaseStats(int BatchSize, int Runs, TimingStats Preprocess, TimingStats Vit, TimingStats Connector, TimingStats Prefill,
    TimingStats PerToken, TimingStats Decode, TimingStats Total)
{
    /// <summary>The second glance's time (<c>--refine</c>; no runs otherwise).</summary>
    public TimingStats SecondGlance { get; init; } = TimingStats.Of([]);

    /// <summary>Images per second from the mean total.</summary>
    public double ImagesPerSecond => BatchSize / (Total.Mean / 1000.0);

    /// <summary>What the second glance adds to the single pass: its mean time over the first glance's mean total (NaN without it).</summary>
    public double SecondGlanceOverhead => SecondGlance.Count == 0 ? double.NaN : SecondGlance.Mean / Total.Mean;

    public static PhaseStats Of(int batch, IReadOnlyList<PhaseTimes> runs) => new(batch, runs.Count,
        TimingStats.Of(runs.Select(r => r.Preprocess).ToList()), TimingStats.Of(runs.Select(r => r.Vit).ToList()),
        TimingStats.Of(runs.Select(r => r.Connector).ToList()), TimingStats.Of(runs.Select(r => r.Prefill).ToList()),
        TimingStats.Of(runs.Select(r => r.PerToken).ToList()), TimingStats.Of(runs.Select(r => r.Decode).ToList()),
        TimingStats.Of(runs.Select(r => r.Total).ToList()))
    {
        SecondGlance = TimingStats.Of(runs.Select(r => r.SecondGlance).Where(t => !double.IsNaN(t)).ToList()),
    };
}

/// <summary>Everything <c>glance bench</c> reports (also its <c>--json</c> output).</summary>
public sealed record CaptionBenchmarkResult
{
    public required string Model { get; init; }
    public required long Parameters { get; init; }
    public required int VisionLayersBuilt { get; init; }
    public required int VisualTokens { get; init; }
    public required int PromptTokens { get; init; }
    public required int NewTokens { get; init; }
    public required string Device { get; init; }
    public required int TorchThreads { get; init; }
    public required string Gemm { get; init; }
    /// <summary>"fp32" or "bf16": what the weights and activations were (the fp32 GEMM routing applies to fp32 only).</summary>
    public string Precision { get; init; } = "fp32";
    public required string Cpu { get; init; }
    public required int Cores { get; init; }
    public required IReadOnlyDictionary<string, string?> Environment { get; init; }
    public required DateTimeOffset Date { get; init; }
    public required double BuildSeconds { get; init; }
    public required double RssAfterBuildMiB { get; init; }
    /// <summary>VmHWM after the batch-1 runs: the peak of building the model and captioning single images.</summary>
    public required double PeakRssSingleMiB { get; init; }
    /// <summary>VmHWM after the batch run (NaN when skipped).</summary>
    public required double PeakRssBatchMiB { get; init; }
    public required double[] LoadAverageBefore { get; init; }
    public required double[] LoadAverageAfter { get; init; }
    /// <summary>Cores other processes kept busy during the timed batch-1 runs (0 = a quiet machine; see <see cref="ProcessStats.WithOtherLoad{T}"/>).</summary>
    public required double OtherLoadSingle { get; init; }
    /// <summary>The same during the batch runs (NaN when skipped).</summary>
    public required double OtherLoadBatch { get; init; }
    public required PhaseStats Single { get; init; }
    public PhaseStats? Batched { get; init; }
    /// <summary>The last single-image caption (word salad for random weights).</summary>
    public required string SampleCaption { get; init; }
    /// <summary>The multiply-adds of one batch-1 caption, ×2, in GFLOP (<see cref="CaptionBenchmark.CaptionGFlop"/>).</summary>
    public double WorkGFlop { get; init; } = double.NaN;
    /// <summary>The fastest product rate measured in this run, in GFLOP/s: the ViT's fc1 (577×1024×4096) in the run's precision, through the path the model uses.</summary>
    public double GemmGFlops { get; init; } = double.NaN;
    /// <summary>The time the caption's arithmetic would take at <see cref="GemmGFlops"/>: the compute floor.</summary>
    public double ComputeFloorMs => WorkGFlop / GemmGFlops * 1000;
    /// <summary>The batch-1 caption's mean time over the compute floor.</summary>
    public double FloorRatio => Single.Total.Mean / ComputeFloorMs;
}

/// <summary>
/// <c>glance bench --logits-diff</c>: one model's next-token logits after the prompt in fp32 and in bf16 (the
/// same weights, rounded), per test image: the largest |Δ|, the logits' own range, and whether the greedy
/// token is the same.
/// </summary>
public sealed record LogitsDiff(int Images, double MaxAbsDiff, double MeanAbsDiff, double MaxAbsLogit, int SameArgmax);

/// <summary>
/// Times the first glance (the single-pass caption of Fig. 1 (b)) as <c>glance caption</c> runs it, phase by
/// phase, in the spirit of the paper's Tab. 6 (latency over repeated runs at batch 1): preprocessing,
/// the ViT (to the select layer), the connector, the prefill (prompt splice + the OPT pass over visual and
/// prompt tokens + the first token), each later decode step, and the total; peak RSS; images/s at a larger
/// batch. Decoding is greedy with end-of-sequence disabled so every run writes exactly NewTokens tokens.
/// </summary>
public static class CaptionBenchmark
{
    /// <summary>
    /// The captioner <paramref name="options"/> name: <see cref="CaptionBenchmarkOptions.ModelFolder"/> loaded, or
    /// the full-size architecture with random weights — with <see cref="CaptionBenchmarkOptions.Refine"/>, a
    /// DeepLens of the paper's size attached (a folder must bring its own).
    /// </summary>
    public static Captioner Build(CaptionBenchmarkOptions options, Device device, ScalarType dtype)
    {
        var captioner = options.ModelFolder is { } folder
            ? Captioner.Load(folder, new CaptionerLoadOptions { Device = device, TrimVision = options.TrimVision, DType = dtype })
            : RandomCaptioner.Create(RandomCaptioner.FullSizeConfig, OptTokenizer.FromFolder(options.TokenizerFolder
                ?? throw new GlanceException("the random full-size model needs a tokenizer folder (vocab.json + merges.txt): pass --tokenizer DIR")),
                device, options.TrimVision, options.Seed, dtype);
        try
        {
            if (options.Refine && options.ModelFolder is null)
            {
                captioner.AttachDeepLens(new DeepLensConfig { VisionWidth = captioner.Vision.Config.HiddenSize, LmHidden = captioner.Lm.Config.EmbeddingDim }, options.Seed);
                var lens = captioner.DeepLens!;
                RandomCaptioner.FillCheaply(lens);
                lens.to(dtype);
                lens.eval();
            }
            if (options.Refine && captioner.DeepLens is null)
                throw new GlanceException($"--refine: {options.ModelFolder} has no DeepLens (a single-pass captioner); leave out --model to time the paper's size");
            return captioner;
        }
        catch
        {
            captioner.Dispose();
            throw;
        }
    }

    public static CaptionBenchmarkResult Run(CaptionBenchmarkOptions options, IProgress<ProgressUpdate>? progress = null)
    {
        options.Validate();
        var load0 = ProcessStats.LoadAverage;
        CpuGemm.Backend = options.Gemm;
        if (options.Threads is { } threads) CpuGemm.SetThreads(threads);
        var device = options.Device ?? CPU;
        var dtype = Precisions.Resolve(options.Precision, device);
        var clock = Stopwatch.StartNew();
        using var captioner = Build(options, device, dtype);
        double buildSeconds = clock.Elapsed.TotalSeconds;
        double rssAfterBuild = ProcessStats.RssMiB;
        long parameters = new nn.Module?[] { captioner.Vision, captioner.MlpConnector, captioner.Lm, options.Refine ? captioner.DeepLens : null }
            .Sum(m => m?.parameters().Sum(p => p.numel()) ?? 0);

        var generation = new GenerationOptions
        {
            MaxNewTokens = options.NewTokens, NumBeams = 1, EosTokenId = null,
            PadTokenId = captioner.Tokenizer.PadId, VocabLimit = captioner.Tokenizer.VocabSize,
        };
        var prompt = captioner.Template.Encode(captioner.Tokenizer, null, options.Question).Prompt;
        int size = captioner.Vision.Config.ImageSize;
        var images = Enumerable.Range(0, Math.Max(1, options.Batch)).Select(i => SyntheticImage(size, size, i)).ToList();

        int total = options.Warmup + options.Iterations + (options.Batch > 0 ? options.BatchIterations : 0);
        int done = 0;
        string caption = "";
        for (int i = 0; i < options.Warmup; i++)
        {
            caption = CaptionOnce(captioner, [images[0]], prompt, generation, options.Refine).Captions[0];
            progress?.Report(new ProgressUpdate(++done, total, "warm-up"));
        }
        var (single, otherSingle) = ProcessStats.WithOtherLoad(() =>
        {
            var runs = new List<PhaseTimes>();
            for (int i = 0; i < options.Iterations; i++)
            {
                var (times, text) = CaptionOnce(captioner, [images[0]], prompt, generation, options.Refine);
                runs.Add(times);
                caption = text[0];
                progress?.Report(new ProgressUpdate(++done, total, $"batch 1, {times.Total / 1000:0.00} s"));
            }
            return runs;
        });
        double peakSingle = ProcessStats.PeakRssMiB;

        PhaseStats? batched = null;
        double peakBatch = double.NaN, otherBatch = double.NaN;
        if (options.Batch > 0)
        {
            (var runs, otherBatch) = ProcessStats.WithOtherLoad(() =>
            {
                var list = new List<PhaseTimes>();
                for (int i = 0; i < options.BatchIterations; i++)
                {
                    list.Add(CaptionOnce(captioner, images, prompt, generation, options.Refine).Times);
                    progress?.Report(new ProgressUpdate(++done, total, $"batch {options.Batch}, {list[^1].Total / 1000:0.00} s"));
                }
                return list;
            });
            batched = PhaseStats.Of(options.Batch, runs);
            peakBatch = ProcessStats.PeakRssMiB;
        }
        var load1 = ProcessStats.LoadAverage;
        double gemmRate = GemmRate(dtype, device);

        return new CaptionBenchmarkResult
        {
            Model = options.ModelFolder is null ? "LLaVA-OPT-125M full size, random weights (CLIP ViT-L/14-336 → mlp2x_gelu → OPT-125M)" : Path.GetFullPath(options.ModelFolder),
            Parameters = parameters,
            VisionLayersBuilt = captioner.Vision.BuiltLayers,
            VisualTokens = (int)(captioner.Vision.Config.NumPatches + (captioner.Config.SelectFeature == VisionFeatureSelection.Patch ? 0 : 1)),
            PromptTokens = prompt.Length - 1,
            NewTokens = options.NewTokens,
            Device = device.ToString(),
            TorchThreads = get_num_threads(),
            Gemm = device.type != DeviceType.CPU ? "libtorch (" + device.type + ", " + Precisions.Name(dtype) + ")"
                : dtype == ScalarType.Float32 ? CpuGemm.Describe() : CpuGemm.DescribeBf16(),
            Precision = Precisions.Name(dtype),
            Cpu = ProcessStats.CpuModel ?? "?",
            Cores = System.Environment.ProcessorCount,
            Environment = EnvironmentKnobs.ToDictionary(k => k, System.Environment.GetEnvironmentVariable),
            Date = DateTimeOffset.Now,
            BuildSeconds = buildSeconds,
            RssAfterBuildMiB = rssAfterBuild,
            PeakRssSingleMiB = peakSingle,
            PeakRssBatchMiB = peakBatch,
            LoadAverageBefore = [load0.One, load0.Five, load0.Fifteen],
            LoadAverageAfter = [load1.One, load1.Five, load1.Fifteen],
            OtherLoadSingle = otherSingle,
            OtherLoadBatch = otherBatch,
            Single = PhaseStats.Of(1, single),
            Batched = batched,
            SampleCaption = caption,
            WorkGFlop = CaptionGFlop(captioner, prompt.Length - 1, options.NewTokens),
            GemmGFlops = gemmRate,
        };
    }

    /// <summary>
    /// The arithmetic of one batch-1 caption in GFLOP (2 per multiply-add), counted from the configs: the ViT
    /// blocks built (patch embedding, q/k/v/out, fc1/fc2, attention scores and sums over all tokens), the MLP
    /// connector, OPT's prefill over visual + prompt tokens with the LM head on the last position only, and
    /// each of the <paramref name="newTokens"/> − 1 decoding steps against its growing cache. Norms,
    /// activations and softmax are left out (a few per cent of the ViT's time, bench --profile).
    /// </summary>
    public static double CaptionGFlop(Captioner captioner, int promptTokens, int newTokens) =>
        CaptionGFlop(captioner.Vision.Config, captioner.Vision.BuiltLayers, captioner.Lm.Config,
            captioner.MlpConnector.parameters().Where(p => p.dim() == 2).Sum(p => p.numel()), promptTokens, newTokens);

    /// <summary>The same from the configs: <paramref name="connectorWeights"/> = the elements of the connector's matrices.</summary>
    public static double CaptionGFlop(ClipVisionConfig v, int visionLayers, OptConfig t, long connectorWeights, int promptTokens, int newTokens)
    {
        double tokens = v.NumPatches + 1, d = v.HiddenSize, f = v.IntermediateSize;
        double vit = 2.0 * v.NumPatches * (v.NumChannels * v.PatchSize * v.PatchSize) * d
            + visionLayers * (2 * tokens * (4 * d * d + 2 * d * f) + 4 * tokens * tokens * d);
        double h = t.HiddenSize, lmIn = t.EmbeddingDim, ffn = t.FfnDim, vocab = t.VocabSize;
        double visual = 2.0 * connectorWeights * v.NumPatches;
        double perToken = 2 * (4 * h * h + 2 * h * ffn);
        double prefillTokens = v.NumPatches + promptTokens;
        double prefill = t.NumHiddenLayers * (prefillTokens * perToken + 4 * prefillTokens * prefillTokens * h) + 2 * lmIn * vocab;
        double decode = 0;
        for (int i = 1; i < newTokens; i++)
            decode += t.NumHiddenLayers * (perToken + 4 * (prefillTokens + i) * h) + 2 * lmIn * vocab;
        return (vit + visual + prefill + decode) / 1e9;
    }

    /// <summary>
    /// The rate of the ViT's fc1 product (577×1024×4096, the caption's largest compute-bound shape) in
    /// <paramref name="dtype"/> through <see cref="CpuGemm.Linear"/> (the path the model takes), in GFLOP/s:
    /// the best of <paramref name="repeats"/>.
    /// </summary>
    public static double GemmRate(ScalarType dtype, Device device, int repeats = 5)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var g = new Generator(0);
        var x = (rand([577, 1024], generator: g) - 0.5).to(dtype).to(device);
        var w = ((rand([4096, 1024], generator: g) - 0.5) * 0.05).to(dtype).to(device);
        var b = (rand([4096], generator: g) - 0.5).to(dtype).to(device);
        CpuGemm.Linear(x, w, b).Dispose();
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            using var y = CpuGemm.Linear(x, w, b);
            if (device.type != DeviceType.CPU) y.cpu().Dispose();   // wait for the device
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return 2.0 * 577 * 1024 * 4096 / 1e9 / (best / 1000);
    }

    /// <summary>
    /// <c>--logits-diff</c>: builds the model in fp32, takes the next-token logits after the prompt for
    /// <paramref name="images"/> test cards, rounds the same weights to bf16 and takes them again.
    /// </summary>
    public static LogitsDiff CompareLogits(CaptionBenchmarkOptions options, int images = 4)
    {
        options.Validate();
        using var captioner = Build(options with { Refine = false }, CPU, ScalarType.Float32);
        using var _ = no_grad();
        int size = captioner.Vision.Config.ImageSize;
        var cards = Enumerable.Range(0, images).Select(i => SyntheticImage(size, size, i)).ToList();
        var prompt = captioner.Template.Encode(captioner.Tokenizer, null, options.Question).Prompt;
        Tensor Logits()
        {
            using var scope = NewDisposeScope();
            using var pixels = captioner.Pixels(cards);
            using var features = captioner.Encode(pixels);
            using var visual = captioner.FirstGlanceEmbeds(features);
            using var batch = PromptBatch.Build(captioner.Lm, Enumerable.Repeat(prompt, images).ToList(), null, visual, padLeft: true);
            using var output = captioner.Lm.forward(new OptInputs { InputsEmbeds = batch.InputsEmbeds, AttentionMask = batch.AttentionMask, LastPositionOnly = true });
            return output.Logits.to(ScalarType.Float32).reshape(images, -1).MoveToOuterDisposeScope();
        }
        using var fp32 = Logits();
        foreach (var module in new nn.Module[] { captioner.Vision, captioner.MlpConnector, captioner.Lm }) module.to(ScalarType.BFloat16);
        using var bf16 = Logits();
        using var diff = (bf16 - fp32).abs();
        using var same = fp32.argmax(-1).eq(bf16.argmax(-1));
        return new LogitsDiff(images, diff.max().item<float>(), diff.mean().item<float>(), fp32.abs().max().item<float>(), (int)same.sum().item<long>());
    }

    /// <summary>The environment variables that change native threading and kernels (reported with every result).</summary>
    public static readonly string[] EnvironmentKnobs =
    [
        "OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OPENBLAS_L2_SIZE",
        "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "MKL_NUM_THREADS", "DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA",
    ];

    /// <summary>One caption run over <paramref name="images"/> (one batch), phase by phase; with <paramref name="refine"/>, then the second glance.</summary>
    public static (PhaseTimes Times, IReadOnlyList<string> Captions) CaptionOnce(Captioner captioner, IReadOnlyList<RgbImage> images, int[] prompt, GenerationOptions generation,
        bool refine = false)
    {
        using var _ = no_grad();
        var clock = Stopwatch.StartNew();
        double Lap()
        {
            double ms = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            return ms;
        }
        var start = Stopwatch.GetTimestamp();
        using var pixels = captioner.Pixels(images);
        double preprocess = Lap();
        using var features = captioner.Encode(pixels);
        double vit = Lap();
        using var visual = captioner.FirstGlanceEmbeds(features);
        double connector = Lap();

        var prompts = Enumerable.Repeat(prompt, images.Count).ToList();
        using var batch = PromptBatch.Build(captioner.Lm, prompts, null, visual, padLeft: true);
        var rows = Enumerable.Range(0, images.Count).Select(_ => new List<long>()).ToArray();
        double prefill = double.NaN, decode = 0;
        int steps = 0;
        foreach (var step in TextGenerator.Stream(captioner.Lm, batch.InputsEmbeds, batch.AttentionMask, generation))
        {
            for (int i = 0; i < rows.Length; i++) rows[i].Add(step[i]);
            if (double.IsNaN(prefill)) prefill = Lap();
            else { decode += Lap(); steps++; }
        }
        double total = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        var captions = rows.Select(r => captioner.Tokenizer.Decode(r.Select(x => (int)x)).Trim()).ToList();
        double second = double.NaN;
        if (refine)
        {
            // The features the first glance computed are reused, as `glance caption --refine` does.
            var secondStart = Stopwatch.GetTimestamp();
            Refinement.Refine(captioner, features, captions, generation);
            second = Stopwatch.GetElapsedTime(secondStart).TotalMilliseconds;
        }
        return (new PhaseTimes(preprocess, vit, connector, prefill, decode, steps, total, second), captions);
    }

    /// <summary>A deterministic colourful test card (gradients and stripes), so preprocessing sees real pixels.</summary>
    public static RgbImage SyntheticImage(int width, int height, int variant)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int o = (y * width + x) * 3;
                pixels[o] = (byte)(x * 255 / Math.Max(1, width - 1));
                pixels[o + 1] = (byte)(y * 255 / Math.Max(1, height - 1));
                pixels[o + 2] = (byte)((((x + 7 * variant) / 16) + (y / 16)) % 2 == 0 ? 40 + 20 * variant : 220);
            }
        return new RgbImage(width, height, pixels);
    }
}
