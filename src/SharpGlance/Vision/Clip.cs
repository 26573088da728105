using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.IO;
using SharpGlance.Nn;
using TorchSharp;
using TorchSharp.Modules;
using Linear = SharpGlance.Nn.Linear;
using static TorchSharp.torch;

namespace SharpGlance.Vision;

// Field names are Hugging Face checkpoint keys (text_projection, logit_scale): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

// The full CLIPModel (HF transformers 4.36 layout: `text_model.*`, `vision_model.*`, `visual_projection`,
// `text_projection`, `logit_scale`). SharpGlance pretrains a tiny one on its synthetic world (SPEC §11)
// with the contrastive loss below, freezes it, and uses its vision tower as the paper uses ViT-L.

/// <summary>HF <c>CLIPConfig</c>: the two tower configs plus the shared projection size and logit scale.</summary>
public sealed record ClipConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "clip";
    [JsonPropertyName("text_config")] public ClipTextConfig TextConfig { get; init; } = new();
    [JsonPropertyName("vision_config")] public ClipVisionConfig VisionConfig { get; init; } = new();
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;
    [JsonPropertyName("logit_scale_init_value")] public double LogitScaleInitValue { get; init; } = 2.6592;
    [JsonPropertyName("initializer_factor")] public double InitializerFactor { get; init; } = 1.0;
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";
    [JsonPropertyName("transformers_version")] public string TransformersVersion { get; init; } = "4.36.2";

    /// <summary>A tiny CLIP for tests (the sizes of the tiny-clip-full fixture).</summary>
    public static ClipConfig Tiny => new()
    {
        TextConfig = ClipTextConfig.Tiny,
        VisionConfig = ClipVisionConfig.Tiny with { NumHiddenLayers = 3 },
        ProjectionDim = 24,
    };

    public ClipConfig Validate(string source = "clip config")
    {
        TextConfig.Validate(source);
        VisionConfig.Validate(source);
        if (ProjectionDim <= 0) throw GlanceException.ForFile(source, $"projection_dim must be positive, got {ProjectionDim}");
        return this;
    }

    public static ClipConfig FromJson(JsonObject root, string source)
    {
        var type = ConfigJson.ModelType(root);
        if (type != "clip") throw GlanceException.ForFile(source, $"model_type is '{type}', expected 'clip' (a full CLIP model with text and vision towers)");
        return ConfigJson.Bind<ClipConfig>(root, source).Validate(source);
    }

    public static ClipConfig FromFile(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        return FromJson(ConfigJson.ReadObject(path), path);
    }
}

/// <summary>
/// What <see cref="ClipModel"/> returns (HF <c>CLIPOutput</c>): normalised embeddings, the similarity logits
/// (scaled by exp(logit_scale)), both towers' last hidden states and, when asked, the contrastive loss.
/// </summary>
public sealed class ClipOutput : IDisposable
{
    public required Tensor ImageEmbeds { get; init; }
    public required Tensor TextEmbeds { get; init; }
    public required Tensor LogitsPerImage { get; init; }
    public required Tensor LogitsPerText { get; init; }
    public required Tensor TextLastHiddenState { get; init; }
    public required Tensor VisionLastHiddenState { get; init; }
    public Tensor? Loss { get; init; }

    public void Dispose()
    {
        foreach (var t in new[] { ImageEmbeds, TextEmbeds, LogitsPerImage, LogitsPerText, TextLastHiddenState, VisionLastHiddenState, Loss })
            t?.Dispose();
    }
}

/// <summary>HF <c>CLIPModel</c>: <c>text_model</c>, <c>vision_model</c>, the two bias-free projections, <c>logit_scale</c>.</summary>
public sealed class ClipModel : nn.Module<Tensor, Tensor, Tensor?, ClipOutput>
{
    public ClipTextModel text_model;
    public ClipVisionModel vision_model;
    public Linear visual_projection;
    public Linear text_projection;
    public Parameter logit_scale;

    public ClipConfig Config { get; }

    /// <summary>A randomly initialised CLIP (HF's <c>_init_weights</c>), seeded by <paramref name="generator"/>.</summary>
    public ClipModel(ClipConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32, Generator? generator = null)
        : this(config, device, dtype, initialize: true, generator) { }

    private ClipModel(ClipConfig config, Device? device, ScalarType dtype, bool initialize, Generator? generator = null)
        : base(nameof(ClipModel))
    {
        Config = config.Validate();
        text_model = new ClipTextModel(config.TextConfig, device, dtype, initialize: false);
        vision_model = new ClipVisionModel(config.VisionConfig, device, dtype, initialize: false);
        visual_projection = Layers.Linear(config.VisionConfig.HiddenSize, config.ProjectionDim, false, device, dtype);
        text_projection = Layers.Linear(config.TextConfig.HiddenSize, config.ProjectionDim, false, device, dtype);
        logit_scale = Layers.EmptyParameter([], device, dtype);
        RegisterComponents();
        if (initialize) InitWeights(generator);
    }

    /// <summary>HF's CLIP <c>_init_weights</c> for the whole model.</summary>
    public void InitWeights(Generator? g = null)
    {
        using var _ = no_grad();
        text_model.InitWeights(g);
        vision_model.InitWeights(g);
        visual_projection.weight.normal_(0, Math.Pow(Config.VisionConfig.HiddenSize, -0.5) * Config.InitializerFactor, g);
        text_projection.weight.normal_(0, Math.Pow(Config.TextConfig.HiddenSize, -0.5) * Config.InitializerFactor, g);
        logit_scale.fill_(Config.LogitScaleInitValue);
    }

    /// <summary>HF <c>get_image_features</c>: the projected pooled CLS state (not normalised).</summary>
    public Tensor GetImageFeatures(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        using var v = vision_model.Forward(pixelValues, [-1]);
        return visual_projection.forward(v.PoolerOutput!).MoveToOuterDisposeScope();
    }

    /// <summary>HF <c>get_text_features</c>: the projected pooled end-of-text state (not normalised).</summary>
    public Tensor GetTextFeatures(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        using var t = text_model.forward(inputIds, attentionMask);
        return text_projection.forward(t.PoolerOutput).MoveToOuterDisposeScope();
    }

    public override ClipOutput forward(Tensor pixelValues, Tensor inputIds, Tensor? attentionMask) =>
        Forward(pixelValues, inputIds, attentionMask);

    /// <summary>
    /// Both towers, then <c>logits_per_text = exp(logit_scale)·text·imageᵀ</c> over the normalised
    /// embeddings. <paramref name="returnLoss"/> adds HF's <c>clip_loss</c>: the mean of the cross-entropy
    /// over texts and over images, with the i-th text matching the i-th image.
    /// </summary>
    public ClipOutput Forward(Tensor pixelValues, Tensor inputIds, Tensor? attentionMask = null, bool returnLoss = false)
    {
        if (pixelValues.shape[0] != inputIds.shape[0] && returnLoss)
            throw new GlanceException($"CLIP loss: {pixelValues.shape[0]} images but {inputIds.shape[0]} texts; the loss pairs them one to one");
        using var scope = NewDisposeScope();
        using var vision = vision_model.Forward(pixelValues, [-1]);
        using var text = text_model.forward(inputIds, attentionMask);
        var image = visual_projection.forward(vision.PoolerOutput!);
        var txt = text_projection.forward(text.PoolerOutput);
        image = image / image.norm(-1, true, 2);
        txt = txt / txt.norm(-1, true, 2);
        var logitsPerText = matmul(txt, image.t()) * logit_scale.exp();
        var logitsPerImage = logitsPerText.t();
        Tensor? loss = null;
        if (returnLoss)
        {
            var labels = arange(logitsPerText.shape[0], ScalarType.Int64, logitsPerText.device);
            var textLoss = nn.functional.cross_entropy(logitsPerText, labels);
            var imageLoss = nn.functional.cross_entropy(logitsPerText.t(), labels);
            loss = (textLoss + imageLoss) / 2.0;
        }
        return new ClipOutput
        {
            ImageEmbeds = image.MoveToOuterDisposeScope(),
            TextEmbeds = txt.MoveToOuterDisposeScope(),
            LogitsPerImage = logitsPerImage.MoveToOuterDisposeScope(),
            LogitsPerText = logitsPerText.MoveToOuterDisposeScope(),
            TextLastHiddenState = text.LastHiddenState.alias().MoveToOuterDisposeScope(),
            VisionLastHiddenState = vision.LastHiddenState!.alias().MoveToOuterDisposeScope(),
            Loss = loss?.MoveToOuterDisposeScope(),
        };
    }

    // ---- loading and saving --------------------------------------------------------------------

    /// <summary>Loads a full CLIP folder (config.json with model_type "clip" + safetensors).</summary>
    public static ClipModel FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var config = ClipConfig.FromFile(folder);
        using var ck = Checkpoint.Open(folder);
        var model = new ClipModel(config, device, dtype, initialize: false);
        try
        {
            // position_ids: non-persistent buffers that checkpoints saved by older transformers still carry.
            ck.LoadInto(model, "", ["text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"]);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes an HF-layout CLIP folder: config.json and model.safetensors (metadata format "pt", which
    /// transformers requires), each written atomically. transformers' CLIPModel.from_pretrained reads it.
    /// </summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var tensors = state_dict();
        SafeTensorsFile.Save(Path.Combine(folder, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var config = ConfigJson.ToObject(Config with { TorchDtype = Dtypes.Name(logit_scale.dtype) });
        config.Insert(0, "architectures", new JsonArray("CLIPModel"));
        ConfigJson.Write(Path.Combine(folder, "config.json"), config);
    }
}
