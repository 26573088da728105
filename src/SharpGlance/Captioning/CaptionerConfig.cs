using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.Connectors;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Vision;

namespace SharpGlance.Captioning;

/// <summary><c>mm_vision_select_feature</c>: which of the tower's tokens the first glance reads.</summary>
public enum VisionFeatureSelection
{
    /// <summary>"patch": the patch tokens, CLS dropped (LLaVA's default).</summary>
    Patch,
    /// <summary>"cls_patch": CLS and the patch tokens.</summary>
    ClsPatch,
}

/// <summary><c>first_glance</c>: the connector that feeds the first glance.</summary>
public enum FirstGlanceConnector
{
    /// <summary>"mlp": the MLP connector, the specialist.</summary>
    Mlp,
    /// <summary>"deeplens": DeepLens alone (Tab. 3's "single glance with ②").</summary>
    [JsonStringEnumMemberName("deeplens")] DeepLens,
}

/// <summary>
/// What a captioner folder's <c>config.json</c> says, for both layouts we read (SPEC §1):
/// <list type="bullet">
/// <item>the paper's <c>llava_opt</c>: an OPT config with LLaVA's <c>mm_*</c> fields added;</item>
/// <item>ours, <c>sharpglance_captioner</c>: the same fields, plus <c>vision_config</c> when the tower's
/// weights are stored in the folder, <c>template</c>, <c>image_aspect_ratio</c>, <c>first_glance</c> and an
/// optional <c>deeplens</c> block.</item>
/// </list>
/// Keeping our layout a superset of the paper's means one loader, and a checkpoint of ours looks like
/// one of theirs to anybody reading it.
/// </summary>
public sealed record CaptionerConfig
{
    public const string OurModelType = "sharpglance_captioner";
    public const string PaperModelType = "llava_opt";

    public required string ModelType { get; init; }
    public required OptConfig Text { get; init; }
    /// <summary>The tower's config when its weights are in the folder; else null and <see cref="VisionTower"/> says where.</summary>
    public ClipVisionConfig? Vision { get; init; }
    /// <summary><c>mm_vision_tower</c>: a folder (relative to the captioner folder, or absolute) or a hub id.</summary>
    public string? VisionTower { get; init; }
    /// <summary><c>mm_vision_select_layer</c>: hidden_states indices, the first feeds the MLP connector (LLaVA: −2).</summary>
    public IReadOnlyList<int> SelectLayers { get; init; } = [-2];
    /// <summary><c>mm_vision_select_feature</c>: "patch" drops the CLS token, "cls_patch" keeps it.</summary>
    public VisionFeatureSelection SelectFeature { get; init; } = VisionFeatureSelection.Patch;
    public string ProjectorType { get; init; } = "mlp2x_gelu";
    /// <summary>The first glance's prompt template (<see cref="PromptTemplate"/>).</summary>
    public string Template { get; init; } = "opt";
    public AspectMode Aspect { get; init; } = AspectMode.Pad;
    /// <summary>"mlp" (the specialist) or "deeplens" (Tab. 3's "single glance with ②": DeepLens as the only connector).</summary>
    public FirstGlanceConnector FirstGlance { get; init; } = FirstGlanceConnector.Mlp;
    /// <summary>The second-glance connector; null for a single-pass captioner.</summary>
    public DeepLensConfig? DeepLens { get; init; }
    /// <summary>
    /// <c>vocabulary_subset</c>: the token ids a closed-vocabulary model was trained over (its softmax ran
    /// over these only; generation emits only these). Null = the whole vocabulary, as every real checkpoint.
    /// </summary>
    public IReadOnlyList<int>? VocabularySubset { get; init; }

    public int SelectLayer => SelectLayers[0];

    public CaptionerConfig Validate(string source)
    {
        if (SelectLayers.Count == 0) throw GlanceException.ForFile(source, "mm_vision_select_layer names no layer");
        if (!Connector.IsKnown(ProjectorType))
            throw GlanceException.ForFile(source, $"mm_projector_type '{ProjectorType}' is not one of {string.Join(", ", Connector.KnownTypes)}");
        PromptTemplate.Get(Template, source);
        if (FirstGlance == FirstGlanceConnector.DeepLens && DeepLens is null) throw GlanceException.ForFile(source, "first_glance is 'deeplens' but there is no deeplens block");
        if (VocabularySubset is { } subset && (subset.Count == 0 || subset.Any(i => i < 0 || i >= Text.VocabSize)))
            throw GlanceException.ForFile(source, $"vocabulary_subset must list token ids in 0..{Text.VocabSize - 1}");
        if (Vision is null && string.IsNullOrWhiteSpace(VisionTower))
            throw GlanceException.ForFile(source, "neither vision_config nor mm_vision_tower says which vision tower to use");
        if (DeepLens is { } d)
        {
            if (d.LmHidden != Text.EmbeddingDim)
                throw GlanceException.ForFile(source, $"deeplens.lm_hidden {d.LmHidden} differs from the LM's word_embed_proj_dim {Text.EmbeddingDim}");
            if (Vision is { } v && d.VisionWidth != v.HiddenSize)
                throw GlanceException.ForFile(source, $"deeplens.vision_width {d.VisionWidth} differs from the tower's hidden_size {v.HiddenSize}");
        }
        return this;
    }

    /// <summary>Parses "-2", "-2,13,18" or a JSON number/array.</summary>
    public static IReadOnlyList<int> ParseLayers(JsonNode? node, string source)
    {
        try
        {
            return node switch
            {
                null => [-2],
                JsonArray a => a.Select(x => x!.GetValue<int>()).ToList(),
                JsonValue v when v.TryGetValue<int>(out var i) => [i],
                JsonValue v => v.GetValue<string>().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList(),
                _ => throw new FormatException("not a number, list or string"),
            };
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw GlanceException.ForFile(source, $"mm_vision_select_layer {node?.ToJsonString()} is not a layer list: {e.Message}");
        }
    }

    public static CaptionerConfig FromFile(string path) => FromJson(ConfigJson.ReadObject(path), path);

    /// <summary>
    /// The captioner's own keys of config.json, beside the OPT fields at the top level (LlavaOPTConfig
    /// subclasses OPTConfig). Absent keys are null here; <see cref="FromJson"/> fills in the defaults of the
    /// layout (ours or the paper's). Written in this order, after the OPT fields.
    /// </summary>
    private sealed record Fields
    {
        [JsonPropertyName("model_type")] public string ModelType { get; init; } = "";
        [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
        [JsonPropertyName("vision_config"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonObject? VisionConfig { get; init; }
        [JsonPropertyName("mm_vision_tower")] public string? VisionTower { get; init; }
        /// <summary>"-2", "-2,13,18", a number or a list (<see cref="ParseLayers"/>); we write the string form.</summary>
        [JsonPropertyName("mm_vision_select_layer")] public JsonNode? SelectLayer { get; init; }
        [JsonPropertyName("mm_vision_select_feature")] public VisionFeatureSelection? SelectFeature { get; init; }
        [JsonPropertyName("mm_projector_type")] public string? ProjectorType { get; init; }
        [JsonPropertyName("mm_hidden_size"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? MmHiddenSize { get; init; }
        [JsonPropertyName("template")] public string? Template { get; init; }
        [JsonPropertyName("image_aspect_ratio")] public AspectMode? Aspect { get; init; }
        [JsonPropertyName("first_glance")] public FirstGlanceConnector? FirstGlance { get; init; }
        [JsonPropertyName("deeplens"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonObject? DeepLens { get; init; }
        [JsonPropertyName("vocabulary_subset"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<int>? VocabularySubset { get; init; }
    }

    public static CaptionerConfig FromJson(JsonObject root, string source)
    {
        string type = ConfigJson.ModelType(root);
        if (type is not (OurModelType or PaperModelType))
            throw GlanceException.ForFile(source, $"model_type '{type}' is not a captioner SharpGlance reads ({OurModelType}, or the paper's {PaperModelType}" +
                (type == "llava" ? "; a Hugging Face LlavaForConditionalGeneration config needs its text_config and vision_config" : "") +
                "); to build one from separate CLIP and OPT folders, train it: `glance train --stage pretrain --vision CLIP_DIR --lm OPT_DIR ...`");
        bool paper = type == PaperModelType;
        // The LM's fields sit at the top level, beside ours (LlavaOPTConfig subclasses OPTConfig).
        var text = (ConfigJson.Bind<OptConfig>(root, source) with { ModelType = "opt" }).Validate(source);
        var f = ConfigJson.Bind<Fields>(root, source);
        var config = new CaptionerConfig
        {
            ModelType = type,
            Text = text,
            Vision = f.VisionConfig is { } vc ? ClipVisionConfig.FromJson(vc, source + " (vision_config)") : null,
            VisionTower = f.VisionTower,
            SelectLayers = ParseLayers(f.SelectLayer, source),
            SelectFeature = f.SelectFeature ?? VisionFeatureSelection.Patch,
            ProjectorType = f.ProjectorType ?? (paper ? "mlp4x_bott4x_gelu" : "mlp2x_gelu"),
            // The paper's checkpoints were trained with the `opt` template but evaluated with the
            // released prompt that has no "\n" after <image> (SPEC §7).
            Template = f.Template ?? (paper ? "opt_paper" : "opt"),
            Aspect = f.Aspect ?? AspectMode.Pad,
            FirstGlance = f.FirstGlance ?? FirstGlanceConnector.Mlp,
            DeepLens = f.DeepLens is { } dl ? DeepLensConfig.FromJson(dl, source + " (deeplens)") : null,
            VocabularySubset = f.VocabularySubset,
        };
        return config.Validate(source);
    }

    /// <summary>Our config.json: the OPT fields at the top level (as llava_opt), then ours.</summary>
    public JsonObject ToJson()
    {
        var root = ConfigJson.ToObject(Text);
        var ours = ConfigJson.ToObject(new Fields
        {
            ModelType = OurModelType,
            Architectures = ["SharpGlanceCaptioner"],
            VisionConfig = Vision is null ? null : ConfigJson.ToObject(Vision),
            VisionTower = VisionTower,
            SelectLayer = string.Join(",", SelectLayers),
            SelectFeature = SelectFeature,
            ProjectorType = ProjectorType,
            MmHiddenSize = Vision?.HiddenSize,
            Template = Template,
            Aspect = Aspect,
            FirstGlance = FirstGlance,
            DeepLens = DeepLens?.ToJsonObject(),
            VocabularySubset = VocabularySubset,
        });
        foreach (var (key, value) in ours.ToList())
        {
            ours.Remove(key);
            root[key] = value;   // model_type keeps its place among the OPT fields; the rest follow them
        }
        return root;
    }
}
