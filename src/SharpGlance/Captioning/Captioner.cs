using System.Text.Json.Nodes;
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
/// The specialist of Fig. 1 plus its second-glance connector: a frozen CLIP ViT (<see cref="Vision"/>),
/// the MLP connector (<c>mm_projector</c>), OPT (<see cref="Lm"/>), optionally DeepLens, with the
/// tokenizer and the image processor. Saved as one folder whose weight keys follow the paper's LLaVA-OPT
/// layout: <c>model.decoder.*</c>, <c>model.mm_projector.*</c>,
/// <c>model.vision_tower.vision_tower.vision_model.*</c>, and ours <c>model.deeplens.*</c>.
/// </summary>
public sealed class Captioner : IDisposable
{
    public const string ProjectorPrefix = "model.mm_projector.";
    public const string VisionPrefix = "model.vision_tower.vision_tower.vision_model.";
    public const string DeepLensPrefix = "model.deeplens.";

    public CaptionerConfig Config { get; private set; }
    public ClipVisionModel Vision { get; }
    public MlpConnector Projector { get; }
    public OptForCausalLM Lm { get; }
    public DeepLens? DeepLens { get; private set; }
    public OptTokenizer Tokenizer { get; }
    public ClipImageProcessor ImageProcessor { get; }
    public Device Device { get; }
    /// <summary>The folder the tower was read from when it is not stored in the captioner's own folder.</summary>
    public string? VisionSource { get; private set; }

    private Captioner(CaptionerConfig config, ClipVisionModel vision, MlpConnector projector, OptForCausalLM lm,
        DeepLens? deepLens, OptTokenizer tokenizer, ClipImageProcessor processor, Device device, string? visionSource)
    {
        Config = config; Vision = vision; Projector = projector; Lm = lm; DeepLens = deepLens;
        Tokenizer = tokenizer; ImageProcessor = processor; Device = device; VisionSource = visionSource;
        Vision.eval();
        foreach (var p in Vision.parameters()) p.requires_grad = false;   // frozen in every stage (SPEC §2)
        CheckTokenizer();
    }

    public PromptTemplate Template => PromptTemplate.Get(Config.Template);

    /// <summary>The ViT layers (hidden_states indices ≥ 0) either glance reads; the tower stops after the highest.</summary>
    public IReadOnlyList<int> TappedLayers
    {
        get
        {
            int n = Vision.Config.NumHiddenLayers;
            var layers = new SortedSet<int> { Normalize(Config.SelectLayer, n) };
            if (DeepLens is not null) foreach (var l in DeepLens.Config.UsedLayers) layers.Add(Normalize(l, n));
            return layers.ToList();
        }
    }

    private static int Normalize(int layer, int n, string? configPath = null)
    {
        int k = layer < 0 ? n + 1 + layer : layer;
        var problem = $"vision layer {layer} does not exist in a {n}-layer tower";
        if (k < 0 || k > n) throw configPath is null ? new GlanceException(problem) : GlanceException.ForFile(configPath, problem);
        return k;
    }

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
        MlpConnector? projector = null;
        OptForCausalLM? lm = null;
        DeepLens? deepLens = null;
        try
        {
            string? visionSource;
            (vision, config, visionSource) = LoadVision(folder, config, ck, options, device);
            lm = OptForCausalLM.Load(config.Text, ck, device, options.DType, [ProjectorPrefix, "model.vision_tower.", DeepLensPrefix]);
            projector = Connector.Create(config.ProjectorType, vision.Config.HiddenSize, config.Text.EmbeddingDim, device, options.DType);
            ck.LoadInto(projector, ProjectorPrefix);
            projector.eval();
            if (config.DeepLens is { } dl)
            {
                if (dl.VisionWidth != vision.Config.HiddenSize)
                    throw GlanceException.ForFile(configPath, $"deeplens.vision_width {dl.VisionWidth} differs from the tower's hidden_size {vision.Config.HiddenSize}");
                deepLens = Connectors.DeepLens.FromCheckpoint(dl, ck, DeepLensPrefix, device, options.DType);
            }
            var processor = new ClipImageProcessor(ProcessorConfig(folder, visionSource, vision.Config, config.Aspect));
            var captioner = new Captioner(config, vision, projector, lm, deepLens, tokenizer, processor, device, visionSource);
            MemoryHygiene.AfterLoad();
            return captioner;
        }
        catch
        {
            vision?.Dispose(); projector?.Dispose(); lm?.Dispose(); deepLens?.Dispose();
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
        if (options.VisionFolder is null && ck.Contains(VisionPrefix + "embeddings.patch_embedding.weight"))
        {
            var vc = config.Vision ?? (towerFolder is not null ? ClipVisionConfig.FromFile(towerFolder)
                : throw GlanceException.ForFile(folder, $"the tower's weights are here but its config is not: no vision_config, and mm_vision_tower '{config.VisionTower}' is not a local folder (pass --vision DIR)"));
            int highest = HighestTappedLayer(config, vc.NumHiddenLayers, Path.Combine(folder, "config.json"));   // checked even untrimmed: a layer the tower lacks names the file
            int? build = options.TrimVision ? highest : null;
            return (ClipVisionModel.Load(vc, ck, VisionPrefix, device, options.DType, build), config with { Vision = vc }, null);
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
        int highest = Normalize(config.SelectLayer, numLayers, configPath);
        if (config.DeepLens is { } dl) foreach (var l in dl.UsedLayers) highest = Math.Max(highest, Normalize(l, numLayers, configPath));
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
            var projector = Connector.Create(config.ProjectorType, vision.Config.HiddenSize, lm.Config.EmbeddingDim, device);
            var processor = new ClipImageProcessor(ProcessorConfig(lmFolder, visionFolder, vision.Config, options.Aspect));
            return new Captioner(config, vision, projector, lm, null, tokenizer, processor, device, Path.GetFullPath(visionFolder));
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
    internal static Captioner FromParts(CaptionerConfig config, ClipVisionModel vision, MlpConnector projector, OptForCausalLM lm,
        OptTokenizer tokenizer, Device device)
    {
        var processor = new ClipImageProcessor(ImageProcessorConfig.ClipVitL336 with
        {
            ShortestEdge = vision.Config.ImageSize, CropSize = vision.Config.ImageSize, Aspect = config.Aspect,
        });
        return new Captioner(config.Validate("captioner"), vision, projector, lm, null, tokenizer, processor, device, null);
    }

    /// <summary>Adds a freshly initialised DeepLens (stage 2's starting point), replacing any present.</summary>
    public void AttachDeepLens(DeepLensConfig config, long seed = 0)
    {
        config = config.Validate();
        if (config.VisionWidth != Vision.Config.HiddenSize) throw new GlanceException($"deeplens: vision_width {config.VisionWidth} ≠ the tower's {Vision.Config.HiddenSize}");
        if (config.LmHidden != Lm.Config.EmbeddingDim) throw new GlanceException($"deeplens: lm_hidden {config.LmHidden} ≠ the LM's {Lm.Config.EmbeddingDim}");
        foreach (var l in config.UsedLayers)
            if (Normalize(l, Vision.Config.NumHiddenLayers) > Vision.BuiltLayers)
                throw new GlanceException($"deeplens: layer {l} is beyond the {Vision.BuiltLayers} blocks of this tower, loaded trimmed for inference");
        random.manual_seed(seed);
        DeepLens?.Dispose();
        DeepLens = Connectors.DeepLens.Create(config, Device);
        if (config.KeepFirstGlance) DeepLens.ZeroOutput();
        Config = Config with { DeepLens = config };
    }

    /// <summary>
    /// Replaces the attached DeepLens with one of another configuration (caption input switched on, a level
    /// dropped) and keeps every weight of the old one whose name and shape still fit; the rest start fresh.
    /// Returns how many tensors it kept. So a DeepLens trained as a single glance, or a refiner trained
    /// with an ablation switch, can start a refiner of another configuration (`glance train --stage refine
    /// --init MODEL --deeplens-config …`) instead of from scratch.
    /// </summary>
    public int ReattachDeepLens(DeepLensConfig config, long seed = 0)
    {
        if (DeepLens is null) throw new GlanceException("no DeepLens attached");
        // Copies, because AttachDeepLens disposes the old module; no dispose scope here, which would also
        // take the new module's parameters.
        var old = DeepLens.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        try
        {
            AttachDeepLens(config, seed);
            int kept = 0;
            using (no_grad())
                foreach (var (name, to) in DeepLens!.state_dict())
                    if (old.TryGetValue(name, out var from) && from.shape.SequenceEqual(to.shape))
                    {
                        to.copy_(from);
                        kept++;
                    }
            return kept;
        }
        finally
        {
            foreach (var t in old.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Starts every DeepLens level projection (detr variant) from the trained MLP connector when their shapes
    /// agree (same projector type, D = the LM width): the levels then enter DeepLens already in the space the
    /// LM reads, instead of from random weights. Returns whether it copied. A training choice of ours; the
    /// paper does not say how DeepLens is initialised.
    /// </summary>
    public bool InitDeepLensLevelsFromProjector()
    {
        if (DeepLens is null) throw new GlanceException("no DeepLens attached");
        var source = Projector.state_dict();
        var target = DeepLens.state_dict();
        var pairs = new List<(Tensor From, Tensor To)>();
        for (int level = 0; level < DeepLens.Config.NumLevels; level++)
            foreach (var (name, t) in source)
            {
                if (!target.TryGetValue($"input_projection.{level}.{name}", out var to) || !to.shape.SequenceEqual(t.shape)) return false;
                pairs.Add((t, to));
            }
        if (pairs.Count == 0) return false;
        using (no_grad())
            foreach (var (from, to) in pairs) to.copy_(from);
        return true;
    }

    /// <summary>Switches the first glance to DeepLens alone (Tab. 3's "single glance with ②").</summary>
    public void UseDeepLensForFirstGlance(bool on)
    {
        if (on && DeepLens is null) throw new GlanceException("single-glance DeepLens needs a DeepLens");
        Config = Config with { FirstGlance = on ? FirstGlanceConnector.DeepLens : FirstGlanceConnector.Mlp };
    }

    public void SetTemplate(string name) => Config = Config with { Template = PromptTemplate.Get(name).Name };

    /// <summary>Makes this a closed-vocabulary model over <paramref name="ids"/> (see <see cref="CaptionerConfig.VocabularySubset"/>).</summary>
    public void SetVocabularySubset(IReadOnlyList<int>? ids)
    {
        if (ids is not null && ids.Any(i => i < 0 || i >= Lm.Config.VocabSize))
            throw new GlanceException($"vocabulary subset: ids must be in 0..{Lm.Config.VocabSize - 1}");
        Config = Config with { VocabularySubset = ids?.Distinct().Order().ToList() };
    }

    // ---- saving -------------------------------------------------------------------------------

    /// <summary>
    /// Writes the captioner folder: config.json, model.safetensors (all parts under their LLaVA-OPT keys;
    /// the tower too unless <paramref name="embedVision"/> is false, then config.json points at
    /// <see cref="VisionSource"/>), the tokenizer files and the image processor's settings.
    /// <paramref name="storeAs"/> = Float16 halves the size (loads back as float32).
    /// </summary>
    public void Save(string folder, bool embedVision = true, ScalarType? storeAs = null)
    {
        if (Vision.IsTrimmed && (embedVision || VisionSource is null))
            throw GlanceException.ForFile(folder, $"this captioner's tower was loaded trimmed for inference ({Vision.BuiltLayers} of {Vision.Config.NumHiddenLayers} blocks) and cannot be saved; load it without TrimVision");
        Directory.CreateDirectory(folder);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        void Add(string prefix, nn.Module m)
        {
            foreach (var (k, v) in m.state_dict()) tensors[prefix + k] = v;
        }
        Add("", Lm);
        Add(ProjectorPrefix, Projector);
        if (DeepLens is not null) Add(DeepLensPrefix, DeepLens);
        if (embedVision || VisionSource is null) Add(VisionPrefix, Vision);
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
        var config = Config with
        {
            Vision = embedVision || VisionSource is null ? Vision.Config : null,
            VisionTower = embedVision || VisionSource is null ? null : VisionSource,
            Text = Config.Text with { TorchDtype = storeAs == ScalarType.Float16 ? "float16" : "float32" },
        };
        if (config.Vision is null && config.VisionTower is null) config = config with { Vision = Vision.Config };
        ConfigJson.Write(Path.Combine(folder, "config.json"), config.ToJson());
        Tokenizer.CopyFilesTo(folder);
        ImageProcessor.Config.WriteHfPreprocessorConfig(Path.Combine(folder, "preprocessor_config.json"));
    }

    private void CheckTokenizer()
    {
        if (Tokenizer.VocabSize > Lm.Config.VocabSize)
            throw new GlanceException($"the tokenizer has {Tokenizer.VocabSize} entries but the LM's vocab_size is {Lm.Config.VocabSize}");
    }

    // ---- the two glances ----------------------------------------------------------------------

    /// <summary>Preprocesses images into [B, 3, S, S] on the captioner's device.</summary>
    public Tensor Pixels(IReadOnlyList<RgbImage> images)
    {
        using var cpu = ImageProcessor.PreprocessBatch(images, Config.Aspect);
        return cpu.to(Device);
    }

    /// <summary>Runs the frozen tower once: the hidden states both glances need (SPEC §8: the ViT runs once per image).</summary>
    public VisionFeatures Encode(Tensor pixels)
    {
        VisionFeatures features;
        using (no_grad())
        using (var output = Vision.Forward(pixels, TappedLayers))
            features = new VisionFeatures(output.HiddenStates.ToDictionary(kv => kv.Key, kv => kv.Value.alias()));
        // The tower's activations are free now; return them to the OS before the LM allocates its own
        // (otherwise the peak RSS is ViT + LM transients, not the larger of the two).
        MemoryHygiene.ReleaseFreedNativeMemory();
        return features;
    }

    /// <summary>The first glance's visual embeddings [B, Nv, H]: the MLP connector on the selected layer.</summary>
    public Tensor FirstGlanceEmbeds(VisionFeatures features)
    {
        if (Config.FirstGlance == FirstGlanceConnector.DeepLens) return SecondGlanceEmbeds(features, null, null);
        using var scope = NewDisposeScope();
        var h = features.Layer(Normalize(Config.SelectLayer, Vision.Config.NumHiddenLayers));
        if (Config.SelectFeature == VisionFeatureSelection.Patch) h = h[.., 1..];
        return Projector.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The second glance's visual embeddings: DeepLens's [B, Q, H] from the tapped levels (patch tokens) and
    /// the initial captions' ids (BOS + caption, right-padded with mask; SPEC §8), after the first glance's
    /// [B, Nv, H] when <c>keep_first_glance</c> is on. Null captions = no caption input.
    /// </summary>
    public Tensor SecondGlanceEmbeds(VisionFeatures features, Tensor? captionIds, Tensor? captionMask)
    {
        var deepLens = DeepLens ?? throw new GlanceException("this captioner has no DeepLens: it cannot refine (train one with `glance train --stage refine`)");
        using var scope = NewDisposeScope();
        int n = Vision.Config.NumHiddenLayers;
        var levels = deepLens.Config.UsedLayers.Select(l => features.Layer(Normalize(l, n))[.., 1..]).ToList();
        Tensor? captionEmbeds = captionIds is null ? null : Lm.Embed(captionIds);
        long grid = Vision.Config.GridSize;
        var sharp = deepLens.forward(levels, captionEmbeds, captionMask, (grid, grid));
        if (deepLens.Config.KeepFirstGlance && Config.FirstGlance != FirstGlanceConnector.DeepLens) sharp = cat([FirstGlanceEmbeds(features), sharp], 1);
        return sharp.MoveToOuterDisposeScope();
    }

    /// <summary>Initial captions as DeepLens reads them: BOS + tokens (no EOS), right-padded with &lt;pad&gt;, and the mask.</summary>
    public (Tensor Ids, Tensor Mask) CaptionIds(IReadOnlyList<string> captions)
    {
        var rows = captions.Select(c => Tokenizer.Encode(PromptTemplate.Clean(c), addBos: true)).ToList();
        int t = rows.Max(r => r.Length);
        var ids = new long[rows.Count * t];
        var mask = new long[rows.Count * t];
        for (int i = 0; i < rows.Count; i++)
            for (int j = 0; j < t; j++)
            {
                bool real = j < rows[i].Length;
                ids[i * t + j] = real ? rows[i][j] : Tokenizer.PadId;
                mask[i * t + j] = real ? 1 : 0;
            }
        return (tensor(ids, [rows.Count, t], device: Device), tensor(mask, [rows.Count, t], device: Device));
    }

    public void Dispose()
    {
        Vision.Dispose(); Projector.Dispose(); Lm.Dispose(); DeepLens?.Dispose();
    }
}

/// <summary>The tower's hidden states for a batch of images, keyed by hidden_states index (with CLS at row 0).</summary>
public sealed class VisionFeatures : IDisposable
{
    private readonly Dictionary<int, Tensor> _layers;

    public VisionFeatures(Dictionary<int, Tensor> layers) => _layers = layers;

    public IReadOnlyDictionary<int, Tensor> Layers => _layers;
    public long Batch => _layers.Values.First().shape[0];

    public Tensor Layer(int index) => _layers.TryGetValue(index, out var t) ? t
        : throw new GlanceException($"vision features: hidden_states[{index}] was not computed (have {string.Join(", ", _layers.Keys)})");

    /// <summary>Rows <paramref name="rows"/> of every layer (a sub-batch).</summary>
    public VisionFeatures Select(long[] rows)
    {
        using var idx = tensor(rows, device: _layers.Values.First().device);
        return new VisionFeatures(_layers.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx)));
    }

    public void Dispose()
    {
        foreach (var t in _layers.Values) t.Dispose();
        _layers.Clear();
    }
}
