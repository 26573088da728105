using System.Diagnostics;
using System.Numerics;
using System.Text.Json.Nodes;
using SharpGlance.Captioning;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Nn;
using SharpGlance.Preprocessing;
using SharpGlance.Runtime;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Benchmarking;

/// <summary>What <see cref="LlavaBenchmark.Run"/> measured for one Hugging Face LLaVA folder.</summary>
public sealed record LlavaBenchmarkResult
{
    public required string Model { get; init; }
    public required string Precision { get; init; }
    public int Threads { get; init; }
    public double WeightsGiB { get; init; }
    public double LoadSeconds { get; init; }
    /// <summary>Peak RSS (VmHWM) after the load, and before it (the runtime's own share).</summary>
    public double PeakRssGiB { get; init; }
    public double RssBeforeLoadGiB { get; init; }
    /// <summary>Peak RSS after the load over the weights' size on disk.</summary>
    public double PeakRssOverWeights { get; init; }
    public int PromptTokens { get; init; }
    public double VisionSeconds { get; init; }
    public double PrefillTokensPerSecond { get; init; }
    public int DecodedTokens { get; init; }
    public double DecodeTokensPerSecond { get; init; }
    /// <summary>The language model's weights (read once per decoded token), and the KV cache read at the last step.</summary>
    public double DecodeBytesPerTokenGiB { get; init; }
    public double DecodeBandwidthGBs { get; init; }
    public double MeasuredBandwidthGBs { get; init; }
    public double DecodeOverMeasuredBandwidth { get; init; }
    public double[] LoadAverage { get; init; } = [];
}

/// <summary>
/// A Hugging Face LLaVA on a small machine: <see cref="SaveRandom"/> writes one of a public shape with
/// random weights (by default TinyLLaVA's: CLIP ViT-L/14-336 → TinyLlama-1.1B, bf16), and
/// <see cref="Run"/> times a folder: load time and peak RSS against the weights' size, the tower, prefill
/// and decode tokens/s, and the bytes decoding reads per token against this machine's measured memory
/// bandwidth (a multi-threaded streaming sum over 1 GiB).
/// </summary>
public static class LlavaBenchmark
{
    /// <summary>TinyLLaVA's layout (bczhou/tiny-llava-v1-hf): CLIP ViT-L/14-336, layer −2 without CLS, TinyLlama-1.1B.</summary>
    public static LlavaConfig TinyLlavaShape(int imageTokenIndex, int padTokenId) => new LlavaConfig
    {
        Vision = ClipVisionConfig.VitL14_336,
        Text = LlamaConfig.TinyLlama1_1B with { PadTokenId = padTokenId },
        ImageTokenIndex = imageTokenIndex,
        PadTokenId = padTokenId,
    }.Validate("TinyLLaVA shape");

    /// <summary>
    /// Writes <paramref name="config"/> with random weights in <paramref name="dtype"/> to a new
    /// <paramref name="folder"/> (config.json, model.safetensors, the tokenizer files of
    /// <paramref name="tokenizerFolder"/>), part by part so that at most one part is in memory.
    /// </summary>
    public static void SaveRandom(string folder, LlavaConfig config, string tokenizerFolder, ScalarType dtype = ScalarType.BFloat16, ulong seed = 0)
    {
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw GlanceException.ForFile(folder, "needs a new or empty folder (nothing is overwritten)");
        string partial = $"{Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))}.partial-{Environment.ProcessId}";
        Directory.CreateDirectory(partial);
        try
        {
            using var g = new torch.Generator(seed);
            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            using (var vision = new ClipVisionModel(config.Vision, CPU, dtype, g))
            using (var projector = new LlavaMultiModalProjector(config.Vision.HiddenSize, config.Text.HiddenSize, config.ProjectorHiddenAct, CPU, dtype))
            using (var lm = new LlamaForCausalLM(config.Text, CPU, dtype, g))
            {
                Layers.InitNormal(projector.linear_1, 0.02, g);
                Layers.InitNormal(projector.linear_2, 0.02, g);
                foreach (var (k, v) in vision.state_dict()) tensors[LlavaForConditionalGeneration.VisionPrefix + k] = v;
                foreach (var (k, v) in projector.state_dict()) tensors[LlavaForConditionalGeneration.ProjectorPrefix + k] = v;
                foreach (var (k, v) in lm.state_dict()) tensors[LlavaForConditionalGeneration.LanguagePrefix + k] = v;
                SafeTensorsFile.Save(Path.Combine(partial, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            }
            var root = ConfigJson.ToObject(config);
            root.Insert(0, "architectures", new JsonArray("LlavaForConditionalGeneration"));
            root["vision_config"] = ConfigJson.ToObject(config.Vision);
            root["text_config"] = ConfigJson.ToObject(config.Text with { TorchDtype = Dtypes.Name(dtype) });
            root["torch_dtype"] = Dtypes.Name(dtype);
            ConfigJson.Write(Path.Combine(partial, "config.json"), root);
            foreach (var name in new[] { "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json" })
                if (File.Exists(Path.Combine(tokenizerFolder, name))) File.Copy(Path.Combine(tokenizerFolder, name), Path.Combine(partial, name));
            if (Directory.Exists(folder)) Directory.Delete(folder);   // empty, checked above
            Directory.Move(partial, folder);
        }
        finally
        {
            if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);   // ours, never the user's
        }
    }

    /// <summary>Loads <paramref name="folder"/> in <paramref name="dtype"/> and times one image's prompt and <paramref name="newTokens"/> decoded tokens.</summary>
    public static LlavaBenchmarkResult Run(string folder, ScalarType dtype, int newTokens = 20)
    {
        double weightsBytes = Directory.EnumerateFiles(folder, "*.safetensors").Sum(f => new FileInfo(f).Length);
        double rssBefore = ProcessStats.PeakRssMiB / 1024;
        var clock = Stopwatch.StartNew();
        using var model = LlavaForConditionalGeneration.FromPretrained(folder, CPU, dtype);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        double peakAfterLoad = ProcessStats.PeakRssMiB / 1024;

        using var _ = no_grad();
        var image = RgbImage.Filled(640, 480, 120, 140, 160);
        using var pixels = model.ImageProcessor.PreprocessBatch([image], AspectMode.Square);
        var (ids, mask) = model.PromptIds([LlavaForConditionalGeneration.Prompt(LlavaForConditionalGeneration.CaptionQuestion)]);
        var lm = model.language_model;

        clock.Restart();
        using var features = model.ImageFeatures(pixels);
        var (embeds, merged) = model.Merge(ids, mask, features);
        double visionSeconds = clock.Elapsed.TotalSeconds;
        long p = embeds.shape[1];
        using var cache = lm.NewCache(1, p + newTokens);
        using var fullMask = ones([1, p + newTokens], ScalarType.Int64);
        fullMask.narrow(1, 0, p).copy_(merged);

        clock.Restart();
        long next;
        using (var prefill = lm.forward(new OptInputs { InputsEmbeds = embeds, AttentionMask = fullMask.narrow(1, 0, p), Cache = cache, LastPositionOnly = true }))
            next = prefill.Logits[0, -1].argmax().item<long>();
        double prefillSeconds = clock.Elapsed.TotalSeconds;

        // Greedy steps without end of sequence, as glance bench decodes OPT.
        clock.Restart();
        for (int step = 1; step < newTokens; step++)
        {
            using var scope = NewDisposeScope();
            using var output = lm.forward(new OptInputs
            {
                InputIds = tensor(new[] { next }, [1, 1]), AttentionMask = fullMask.narrow(1, 0, p + step), Cache = cache, LastPositionOnly = true,
            });
            next = output.Logits[0, -1].argmax().item<long>();
        }
        double decodeSeconds = clock.Elapsed.TotalSeconds;
        int decoded = Math.Max(newTokens - 1, 1);
        embeds.Dispose(); merged.Dispose(); ids.Dispose(); mask.Dispose();

        // Per token the decoder reads every LM weight once (the embedding table only one row of, unless tied).
        double lmBytes = lm.parameters().Sum(t => (double)t.NumberOfElements * t.ElementSize);
        if (!lm.Config.TieWordEmbeddings) lmBytes -= (double)lm.model.embed_tokens.weight.NumberOfElements * lm.model.embed_tokens.weight.ElementSize;
        double kvBytes = 2.0 * lm.Config.NumHiddenLayers * lm.Config.KeyValueHeads * lm.Config.HeadDim * (p + newTokens) * ElementSize(dtype);
        double perToken = lmBytes + kvBytes;
        double tokPerSecond = decoded / decodeSeconds;
        double bandwidth = MeasureReadBandwidthGBs();
        var load = ProcessStats.LoadAverage;
        return new LlavaBenchmarkResult
        {
            Model = Path.GetFullPath(folder),
            Precision = Dtypes.Name(dtype),
            Threads = get_num_threads(),
            WeightsGiB = weightsBytes / (1 << 30),
            LoadSeconds = loadSeconds,
            PeakRssGiB = peakAfterLoad,
            RssBeforeLoadGiB = rssBefore,
            PeakRssOverWeights = peakAfterLoad * (1 << 30) / weightsBytes,
            PromptTokens = (int)p,
            VisionSeconds = visionSeconds,
            PrefillTokensPerSecond = p / prefillSeconds,
            DecodedTokens = decoded,
            DecodeTokensPerSecond = tokPerSecond,
            DecodeBytesPerTokenGiB = perToken / (1 << 30),
            DecodeBandwidthGBs = perToken * tokPerSecond / 1e9,
            MeasuredBandwidthGBs = bandwidth,
            DecodeOverMeasuredBandwidth = perToken * tokPerSecond / 1e9 / bandwidth,
            LoadAverage = [load.One, load.Five, load.Fifteen],
        };
    }

    private static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => 8,
        ScalarType.Float32 => 4,
        _ => 2,
    };

    /// <summary>
    /// This machine's memory read bandwidth in GB/s: the best of 5 multi-threaded sums over a 1 GiB buffer
    /// (far larger than any cache), one slice per libtorch thread.
    /// </summary>
    public static double MeasureReadBandwidthGBs()
    {
        const int n = 1 << 28;   // floats: 1 GiB
        var data = GC.AllocateUninitializedArray<float>(n);
        Parallel.For(0, 64, i => Array.Fill(data, 1f, i * (n / 64), n / 64));   // touch every page first
        int threads = Math.Max(1, get_num_threads());
        double best = 0;
        for (int run = 0; run < 5; run++)
        {
            var clock = Stopwatch.StartNew();
            var sums = new float[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int len = n / threads, start = t * len, vn = Vector<float>.Count;
                var span = data.AsSpan(start, len);
                var acc = Vector<float>.Zero;
                int i = 0;
                for (; i + vn <= span.Length; i += vn) acc += new Vector<float>(span.Slice(i, vn));
                sums[t] = Vector.Sum(acc);
            });
            best = Math.Max(best, (double)n * sizeof(float) / clock.Elapsed.TotalSeconds / 1e9);
            if (sums.Sum() <= 0) throw new InvalidOperationException("bandwidth probe: impossible sum");
        }
        return best;
    }
}
