using SharpGlance.Connectors;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Runtime;
using SharpGlance.Tokenization;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>Where a captioner's parts come from and where it runs.</summary>
public sealed record CaptionerLoadOptions
{
    /// <summary>A CLIP folder to use as the tower instead of what the config names (<c>--vision</c>).</summary>
    public string? VisionFolder { get; init; }
    public Device? Device { get; init; }
    public ScalarType DType { get; init; } = ScalarType.Float32;
    /// <summary>
    /// Inference only: build and read the tower only up to the highest layer a glance taps (SPEC §2; for
    /// LLaVA's −2 on ViT-L that leaves out block 24 and post_layernorm, ~50 MB of fp32). Such a captioner
    /// cannot save its tower or attach a DeepLens that taps a later layer. Off by default (training loads
    /// and saves whole towers).
    /// </summary>
    public bool TrimVision { get; init; }
}

/// <summary>How to assemble a fresh captioner from separate CLIP and OPT folders (stage 0's starting point).</summary>
public sealed record AssembleOptions
{
    public string ProjectorType { get; init; } = "mlp2x_gelu";
    public IReadOnlyList<int> SelectLayers { get; init; } = [-2];
    public string Template { get; init; } = "opt";
    public AspectMode Aspect { get; init; } = AspectMode.Pad;
    /// <summary>Seeds the connector's initialisation.</summary>
    public long Seed { get; init; } = 0;
    public Device? Device { get; init; }
}

/// <summary>
/// A captioner folder on disk (SPEC §1): reading one (ours or the paper's LLaVA-OPT layout, the tower from
/// the folder, <c>mm_vision_tower</c> or the hub cache), assembling a fresh captioner from CLIP and OPT
/// folders, and writing one. <see cref="Captioner"/> itself only holds the parts and runs them.
/// </summary>
public static class CaptionerFolder
{
    // ---- loading ------------------------------------------------------------------------------

    /// <summary>Loads a captioner folder (ours or the paper's LLaVA-OPT layout).</summary>
    public static Captioner Load(string folder, CaptionerLoadOptions? options = null)
    {
        options ??= new();
        var device = options.Device ?? CPU;
        if (!Directory.Exists(folder)) throw GlanceException.ForFile(folder, "no such model folder");
        var configPath = Path.Combine(folder, "config.json");
        var config = CaptionerConfig.FromFile(configPath);
        var tokenizer = OptTokenizer.FromFolder(folder);

        using var ck = Checkpoint.Open(folder);
        ClipVisionModel? vision = null;
        MlpConnector? mlpConnector = null;
        OptForCausalLM? lm = null;
        DeepLens? deepLens = null;
        try
        {
            string? visionSource;
            (vision, config, visionSource) = LoadVision(folder, config, ck, options, device);
            lm = OptForCausalLM.Load(config.Text, ck, device, options.DType, [Captioner.MlpConnectorPrefix, "model.vision_tower.", Captioner.DeepLensPrefix]);
            mlpConnector = Connector.Create(config.ProjectorType, vision.Config.HiddenSize, config.Text.EmbeddingDim, device, options.DType);
            ck.LoadInto(mlpConnector, Captioner.MlpConnectorPrefix);
            mlpConnector.eval();
            if (config.DeepLens is { } dl)
            {
                if (dl.VisionWidth != vision.Config.HiddenSize)
                    throw GlanceException.ForFile(configPath, $"deeplens.vision_width {dl.VisionWidth} differs from the tower's hidden_size {vision.Config.HiddenSize}");
                deepLens = DeepLens.FromCheckpoint(dl, ck, Captioner.DeepLensPrefix, device, options.DType);
            }
            var processor = new ClipImageProcessor(ProcessorConfig(folder, visionSource, vision.Config, config.Aspect));
            var captioner = new Captioner(config, vision, mlpConnector, lm, deepLens, tokenizer, processor, device, visionSource);
            MemoryHygiene.AfterLoad();
            return captioner;
        }
        catch
        {
            vision?.Dispose(); mlpConnector?.Dispose(); lm?.Dispose(); deepLens?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The tower (SPEC §1): an explicit --vision folder wins; else the weights stored in the folder
    /// (<c>model.vision_tower.vision_tower.vision_model.*</c>, config from <c>vision_config</c> or from the
    /// tower folder); else the folder <c>mm_vision_tower</c> names.
    /// </summary>
    private static (ClipVisionModel, CaptionerConfig, string?) LoadVision(string folder, CaptionerConfig config, Checkpoint ck,
        CaptionerLoadOptions options, Device device)
    {
        string? towerFolder = options.VisionFolder ?? ResolveTower(folder, config.VisionTower);
        if (options.VisionFolder is null && ck.Contains(Captioner.VisionPrefix + "embeddings.patch_embedding.weight"))
        {
            var vc = config.Vision ?? (towerFolder is not null ? ClipVisionConfig.FromFile(towerFolder)
                : throw GlanceException.ForFile(folder, $"the tower's weights are here but its config is not: no vision_config, and mm_vision_tower '{config.VisionTower}' is not a local folder (pass --vision DIR)"));
            int highest = HighestTappedLayer(config, vc.NumHiddenLayers, Path.Combine(folder, "config.json"));   // checked even untrimmed: a layer the tower lacks names the file
            int? build = options.TrimVision ? highest : null;
            return (ClipVisionModel.Load(vc, ck, Captioner.VisionPrefix, device, options.DType, build), config with { Vision = vc }, null);
        }
        if (towerFolder is null)
            throw GlanceException.ForFile(folder, config.VisionTower is null
                ? "no vision tower: the folder holds no tower weights and config.json names none (pass --vision DIR)"
                : HubModelId.TryParse(config.VisionTower) is { } hubId
                    ? $"vision tower '{config.VisionTower}' is not a local folder nor in the Hugging Face cache; fetch it with `glance download {hubId}`, or pass --vision DIR with a CLIP checkpoint"
                    : $"vision tower '{config.VisionTower}' is not a local folder; pass --vision DIR with a CLIP checkpoint");
        int highestTapped = HighestTappedLayer(config, ClipVisionConfig.FromFile(towerFolder).NumHiddenLayers, Path.Combine(folder, "config.json"));
        int? layers = options.TrimVision ? highestTapped : null;
        var tower = ClipVisionModel.FromPretrained(towerFolder, device, options.DType, layers);
        return (tower, config with { Vision = tower.Config }, Path.GetFullPath(towerFolder));
    }

    /// <summary>The highest hidden_states index the first glance or DeepLens reads (what a trimmed tower keeps).</summary>
    internal static int HighestTappedLayer(CaptionerConfig config, int numLayers, string? configPath = null)
    {
        int highest = Captioner.Normalize(config.SelectLayer, numLayers, configPath);
        if (config.DeepLens is { } dl) foreach (var l in dl.UsedLayers) highest = Math.Max(highest, Captioner.Normalize(l, numLayers, configPath));
        return highest;
    }

    /// <summary>mm_vision_tower as a local folder: absolute, relative to the captioner folder, or a hub id in the HF cache.</summary>
    private static string? ResolveTower(string folder, string? tower)
    {
        if (string.IsNullOrWhiteSpace(tower)) return null;
        foreach (var candidate in new[] { tower, Path.Combine(folder, tower) })
            if (Directory.Exists(candidate) && File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
        // A hub id such as "openai/clip-vit-large-patch14-336", downloaded by transformers or `glance download`.
        return HubModelId.TryParse(tower) is { } id ? HubCache.TryResolve(id) : null;
    }

    /// <summary>
    /// The image processor: the folder's (or the tower folder's) preprocessor_config.json, else CLIP's
    /// processing at the tower's input size.
    /// </summary>
    private static ImageProcessorConfig ProcessorConfig(string folder, string? towerFolder, ClipVisionConfig vision, AspectMode aspect)
    {
        foreach (var dir in new[] { folder, towerFolder })
            if (dir is not null && File.Exists(Path.Combine(dir, "preprocessor_config.json")))
                return ImageProcessorConfig.FromFolder(dir, aspect);
        return ImageProcessorConfig.ClipVitL336 with { ShortestEdge = vision.ImageSize, CropSize = vision.ImageSize, Aspect = aspect };
    }

    /// <summary>
    /// A fresh captioner from a CLIP folder and an OPT folder (with vocab.json + merges.txt, or
    /// <paramref name="tokenizerFolder"/>): the connector is newly initialised, ready for stage 0.
    /// </summary>
    public static Captioner Assemble(string visionFolder, string lmFolder, AssembleOptions? options = null, string? tokenizerFolder = null)
    {
        options ??= new();
        var device = options.Device ?? CPU;
        var tokenizer = OptTokenizer.FromFolder(tokenizerFolder ?? lmFolder);
        var vision = ClipVisionModel.FromPretrained(visionFolder, device);
        OptForCausalLM? lm = null;
        try
        {
            lm = OptForCausalLM.FromPretrained(lmFolder, device);
            var config = new CaptionerConfig
            {
                ModelType = CaptionerConfig.OurModelType,
                Text = lm.Config,
                Vision = vision.Config,
                VisionTower = Path.GetFullPath(visionFolder),
                SelectLayers = options.SelectLayers,
                ProjectorType = options.ProjectorType,
                Template = options.Template,
                Aspect = options.Aspect,
            }.Validate("assembled captioner");
            random.manual_seed(options.Seed);
            var mlpConnector = Connector.Create(config.ProjectorType, vision.Config.HiddenSize, lm.Config.EmbeddingDim, device);
            var processor = new ClipImageProcessor(ProcessorConfig(lmFolder, visionFolder, vision.Config, options.Aspect));
            return new Captioner(config, vision, mlpConnector, lm, null, tokenizer, processor, device, Path.GetFullPath(visionFolder));
        }
        catch
        {
            vision.Dispose(); lm?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A captioner from parts already built (the benchmark's full-size model with random weights); the image
    /// processor is CLIP's at the tower's input size.
    /// </summary>
    internal static Captioner FromParts(CaptionerConfig config, ClipVisionModel vision, MlpConnector mlpConnector, OptForCausalLM lm,
        OptTokenizer tokenizer, Device device)
    {
        var processor = new ClipImageProcessor(ImageProcessorConfig.ClipVitL336 with
        {
            ShortestEdge = vision.Config.ImageSize, CropSize = vision.Config.ImageSize, Aspect = config.Aspect,
        });
        return new Captioner(config.Validate("captioner"), vision, mlpConnector, lm, null, tokenizer, processor, device, null);
    }

    /// <summary>
    /// Writes the captioner folder: config.json, model.safetensors (all parts under their LLaVA-OPT keys;
    /// the tower too unless <paramref name="embedVision"/> is false, then config.json points at
    /// <see cref="Captioner.VisionSource"/>), the tokenizer files and the image processor's settings.
    /// <paramref name="storeAs"/> = Float16 halves the size (loads back as float32).
    /// </summary>
    public static void Save(Captioner c, string folder, bool embedVision = true, ScalarType? storeAs = null)
    {
        if (c.Vision.IsTrimmed && (embedVision || c.VisionSource is null))
            throw GlanceException.ForFile(folder, $"this captioner's tower was loaded trimmed for inference ({c.Vision.BuiltLayers} of {c.Vision.Config.NumHiddenLayers} blocks) and cannot be saved; load it without TrimVision");
        Directory.CreateDirectory(folder);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        void Add(string prefix, nn.Module m)
        {
            foreach (var (k, v) in m.state_dict()) tensors[prefix + k] = v;
        }
        Add("", c.Lm);
        Add(Captioner.MlpConnectorPrefix, c.MlpConnector);
        if (c.DeepLens is not null) Add(Captioner.DeepLensPrefix, c.DeepLens);
        if (embedVision || c.VisionSource is null) Add(Captioner.VisionPrefix, c.Vision);
        var converted = storeAs is { } st
            ? tensors.ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point() ? kv.Value.to_type(st) : kv.Value.alias())
            : tensors;
        try
        {
            SafeTensorsFile.Save(Path.Combine(folder, "model.safetensors"), converted, new Dictionary<string, string> { ["format"] = "pt" });
        }
        finally
        {
            if (!ReferenceEquals(converted, tensors)) foreach (var t in converted.Values) t.Dispose();
        }
        var config = c.Config with
        {
            Vision = embedVision || c.VisionSource is null ? c.Vision.Config : null,
            VisionTower = embedVision || c.VisionSource is null ? null : c.VisionSource,
            Text = c.Config.Text with { TorchDtype = storeAs == ScalarType.Float16 ? "float16" : "float32" },
        };
        if (config.Vision is null && config.VisionTower is null) config = config with { Vision = c.Vision.Config };
        ConfigJson.Write(Path.Combine(folder, "config.json"), config.ToJson());
        c.Tokenizer.CopyFilesTo(folder);
        c.ImageProcessor.Config.WriteHfPreprocessorConfig(Path.Combine(folder, "preprocessor_config.json"));
    }
}
