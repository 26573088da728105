using System.Text.Json.Nodes;
using SharpGlance.Connectors;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Vision;

namespace SharpGlance.Captioning;

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
    public string SelectFeature { get; init; } = "patch";
    public string ProjectorType { get; init; } = "mlp2x_gelu";
    /// <summary>The first glance's prompt template (<see cref="PromptTemplate"/>).</summary>
    public string Template { get; init; } = "opt";
    public AspectMode Aspect { get; init; } = AspectMode.Pad;
    /// <summary>"mlp" (the specialist) or "deeplens" (Tab. 3's "single glance with ②": DeepLens as the only connector).</summary>
    public string FirstGlance { get; init; } = "mlp";
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
        if (SelectFeature is not ("patch" or "cls_patch"))
            throw GlanceException.ForFile(source, $"mm_vision_select_feature '{SelectFeature}' is not 'patch' or 'cls_patch'");
        if (!Connector.IsKnown(ProjectorType))
            throw GlanceException.ForFile(source, $"mm_projector_type '{ProjectorType}' is not one of {string.Join(", ", Connector.KnownTypes)}");
        PromptTemplate.Get(Template, source);
        if (FirstGlance is not ("mlp" or "deeplens")) throw GlanceException.ForFile(source, $"first_glance '{FirstGlance}' is not 'mlp' or 'deeplens'");
        if (FirstGlance == "deeplens" && DeepLens is null) throw GlanceException.ForFile(source, "first_glance is 'deeplens' but there is no deeplens block");
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

    private static IReadOnlyList<int> ReadIds(JsonArray array, string source, int vocabSize)
    {
        try
        {
            var ids = array.Select(x => x!.GetValue<int>()).ToList();
            if (ids.Count == 0 || ids.Any(i => i < 0 || i >= vocabSize))
                throw GlanceException.ForFile(source, $"vocabulary_subset must list token ids in 0..{vocabSize - 1}");
            return ids;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or NullReferenceException)
        {
            throw GlanceException.ForFile(source, $"vocabulary_subset is not a list of token ids: {e.Message}");
        }
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

    public static CaptionerConfig FromJson(JsonObject root, string source)
    {
        string type = ConfigJson.ModelType(root);
        if (type is not (OurModelType or PaperModelType))
            throw GlanceException.ForFile(source, $"model_type '{type}' is not a captioner SharpGlance reads ({OurModelType}, or the paper's {PaperModelType}" +
                (type == "llava" ? "; Hugging Face's LlavaForConditionalGeneration layout is not supported" : "") +
                "); to build one from separate CLIP and OPT folders, train it: `glance train --stage pretrain --vision CLIP_DIR --lm OPT_DIR ...`");
        bool paper = type == PaperModelType;
        // The LM's fields sit at the top level, beside ours (LlavaOPTConfig subclasses OPTConfig).
        var text = (ConfigJson.Bind<OptConfig>(root, source) with { ModelType = "opt" }).Validate(source);
        string Str(string key, string fallback) => ConfigJson.String(root[key], source, key) ?? fallback;
        var config = new CaptionerConfig
        {
            ModelType = type,
            Text = text,
            Vision = root["vision_config"] is JsonObject vc ? ClipVisionConfig.FromJson(vc, source + " (vision_config)") : null,
            VisionTower = root["mm_vision_tower"] is JsonValue tv && tv.TryGetValue<string>(out var tower) ? tower : null,
            SelectLayers = ParseLayers(root["mm_vision_select_layer"], source),
            SelectFeature = Str("mm_vision_select_feature", "patch"),
            ProjectorType = Str("mm_projector_type", paper ? "mlp4x_bott4x_gelu" : "mlp2x_gelu"),
            // The paper's checkpoints were trained with the `opt` template but evaluated with the
            // released prompt that has no "\n" after <image> (SPEC §7).
            Template = Str("template", paper ? "opt_paper" : "opt"),
            Aspect = Str("image_aspect_ratio", "pad") switch
            {
                "pad" => AspectMode.Pad,
                "square" => AspectMode.Square,
                var other => throw GlanceException.ForFile(source, $"image_aspect_ratio '{other}' is not 'pad' or 'square'"),
            },
            FirstGlance = Str("first_glance", "mlp"),
            DeepLens = root["deeplens"] is JsonObject dl ? DeepLensConfig.FromJson(dl, source + " (deeplens)") : null,
            VocabularySubset = root["vocabulary_subset"] is JsonArray vs ? ReadIds(vs, source, text.VocabSize) : null,
        };
        return config.Validate(source);
    }

    /// <summary>Our config.json: the OPT fields at the top level (as llava_opt), then ours.</summary>
    public JsonObject ToJson()
    {
        var root = ConfigJson.ToObject(Text);
        root["model_type"] = OurModelType;
        root["architectures"] = new JsonArray("SharpGlanceCaptioner");
        if (Vision is not null) root["vision_config"] = ConfigJson.ToObject(Vision);
        root["mm_vision_tower"] = VisionTower;
        root["mm_vision_select_layer"] = string.Join(",", SelectLayers);
        root["mm_vision_select_feature"] = SelectFeature;
        root["mm_projector_type"] = ProjectorType;
        if (Vision is not null) root["mm_hidden_size"] = Vision.HiddenSize;
        root["template"] = Template;
        root["image_aspect_ratio"] = Aspect == AspectMode.Pad ? "pad" : "square";
        root["first_glance"] = FirstGlance;
        if (DeepLens is not null) root["deeplens"] = DeepLens.ToJsonObject();
        if (VocabularySubset is not null) root["vocabulary_subset"] = new JsonArray(VocabularySubset.Select(i => (JsonNode)i).ToArray());
        return root;
    }
}
