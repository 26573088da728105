using SharpGlance.Connectors;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Tokenization;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>
/// The specialist of Fig. 1 plus its second-glance connector: a frozen CLIP ViT (<see cref="Vision"/>),
/// the MLP connector (<c>mm_projector</c>), OPT (<see cref="Lm"/>), optionally DeepLens, with the
/// tokenizer and the image processor. Saved as one folder whose weight keys follow the paper's LLaVA-OPT
/// layout: <c>model.decoder.*</c>, <c>model.mm_projector.*</c>,
/// <c>model.vision_tower.vision_tower.vision_model.*</c>, and ours <c>model.deeplens.*</c>.
/// </summary>
public sealed class Captioner : ICaptionModel
{
    public const string MlpConnectorPrefix = "model.mm_projector.";
    public const string VisionPrefix = "model.vision_tower.vision_tower.vision_model.";
    public const string DeepLensPrefix = "model.deeplens.";

    /// <summary>What the captioner is; changed only by <see cref="Reconfigure"/> (training attaches DeepLens, sets the template).</summary>
    public CaptionerConfig Config { get; private set; }
    public ClipVisionModel Vision { get; }
    /// <summary>The MLP connector (the paper's term; LLaVA's <c>mm_projector</c>, its checkpoint key).</summary>
    public MlpConnector MlpConnector { get; }
    public OptForCausalLM Lm { get; }
    public DeepLens? DeepLens { get; private set; }
    public OptTokenizer Tokenizer { get; }
    public ClipImageProcessor ImageProcessor { get; }
    public Device Device { get; }
    /// <summary>The folder the tower was read from when it is not stored in the captioner's own folder.</summary>
    public string? VisionSource { get; }

    internal Captioner(CaptionerConfig config, ClipVisionModel vision, MlpConnector mlpConnector, OptForCausalLM lm,
        DeepLens? deepLens, OptTokenizer tokenizer, ClipImageProcessor processor, Device device, string? visionSource)
    {
        Config = config; Vision = vision; MlpConnector = mlpConnector; Lm = lm; DeepLens = deepLens;
        Tokenizer = tokenizer; ImageProcessor = processor; Device = device; VisionSource = visionSource;
        Vision.eval();
        foreach (var p in Vision.parameters()) p.requires_grad = false;   // frozen in every stage (SPEC §2)
        CheckTokenizer();
    }

    public PromptTemplate Template => PromptTemplate.Get(Config.Template);

    bool ICaptionModel.CanRefine => DeepLens is not null;
    int ICaptionModel.VocabSize => Lm.Config.VocabSize;
    void ICaptionModel.CheckImage(RgbImage image) => ImageProcessor.CheckSize(image, Config.Aspect);
    int ICaptionModel.CountTokens(string text) => Tokenizer.Encode(text, addBos: false).Length;
    IReadOnlyList<ImageCaption> ICaptionModel.CaptionImages(IReadOnlyList<RgbImage> images, CaptionRunOptions options, CaptionStageTimes? stages) =>
        CaptionPipeline.CaptionImages(this, images, options, stages);

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

    /// <summary>A hidden_states index (negative from the end) as an index ≥ 0 into a tower of <paramref name="n"/> layers.</summary>
    internal static int Normalize(int layer, int n, string? configPath = null)
    {
        int k = layer < 0 ? n + 1 + layer : layer;
        var problem = $"vision layer {layer} does not exist in a {n}-layer tower";
        if (k < 0 || k > n) throw configPath is null ? new GlanceException(problem) : GlanceException.ForFile(configPath, problem);
        return k;
    }

    // ---- the folder (CaptionerFolder reads, assembles and writes it) ---------------------------

    /// <summary>Loads a captioner folder (ours or the paper's LLaVA-OPT layout); see <see cref="CaptionerFolder.Load"/>.</summary>
    public static Captioner Load(string folder, CaptionerLoadOptions? options = null) => CaptionerFolder.Load(folder, options);

    /// <summary>A fresh captioner from a CLIP folder and an OPT folder; see <see cref="CaptionerFolder.Assemble"/>.</summary>
    public static Captioner Assemble(string visionFolder, string lmFolder, AssembleOptions? options = null, string? tokenizerFolder = null) =>
        CaptionerFolder.Assemble(visionFolder, lmFolder, options, tokenizerFolder);

    /// <summary>Writes the captioner folder; see <see cref="CaptionerFolder.Save"/>.</summary>
    public void Save(string folder, bool embedVision = true, ScalarType? storeAs = null) => CaptionerFolder.Save(this, folder, embedVision, storeAs);

    /// <summary>
    /// The one way a captioner changes after it is built (training's setup: <see cref="Training.CaptionerSetup"/>):
    /// a new config and the DeepLens it names (the caller validates them). A replaced DeepLens is disposed.
    /// </summary>
    internal void Reconfigure(CaptionerConfig config, DeepLens? deepLens)
    {
        if (!ReferenceEquals(deepLens, DeepLens)) DeepLens?.Dispose();
        Config = config;
        DeepLens = deepLens;
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
        Runtime.MemoryHygiene.ReleaseFreedNativeMemory();
        return features;
    }

    /// <summary>The first glance's visual embeddings [B, Nv, H]: the MLP connector on the selected layer.</summary>
    public Tensor FirstGlanceEmbeds(VisionFeatures features)
    {
        if (Config.FirstGlance == FirstGlanceConnector.DeepLens) return SecondGlanceEmbeds(features, null, null);
        using var scope = NewDisposeScope();
        var h = features.Layer(Normalize(Config.SelectLayer, Vision.Config.NumHiddenLayers));
        if (Config.SelectFeature == VisionFeatureSelection.Patch) h = h[.., 1..];
        return MlpConnector.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The second glance's visual embeddings: DeepLens's [B, Q, H] from the tapped levels (patch tokens) and
    /// the initial captions' ids (BOS + caption, right-padded with mask; SPEC §8), after the first glance's
    /// [B, Nv, H] when <c>keep_first_glance</c> is on. Null captions = no caption input.
    /// <paramref name="crossAttentions"/>: see <see cref="DeepLens.forward"/> (attention maps only).
    /// </summary>
    public Tensor SecondGlanceEmbeds(VisionFeatures features, Tensor? captionIds, Tensor? captionMask, List<Tensor>? crossAttentions = null)
    {
        var deepLens = DeepLens ?? throw new GlanceException("this captioner has no DeepLens: it cannot refine (train one with `glance train --stage refine`)");
        using var scope = NewDisposeScope();
        int n = Vision.Config.NumHiddenLayers;
        var levels = deepLens.Config.UsedLayers.Select(l => features.Layer(Normalize(l, n))[.., 1..]).ToList();
        Tensor? captionEmbeds = captionIds is null ? null : Lm.Embed(captionIds);
        long grid = Vision.Config.GridSize;
        var sharp = deepLens.forward(levels, captionEmbeds, captionMask, (grid, grid), crossAttentions);
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
        Vision.Dispose(); MlpConnector.Dispose(); Lm.Dispose(); DeepLens?.Dispose();
    }
}
