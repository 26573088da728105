using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.IO;

namespace SharpGlance.Connectors;

/// <summary>Which DeepLens: the released code's (default) or the paper text's.</summary>
public enum DeepLensVariant
{
    /// <summary>"detr": FP_DETRconnector, learned queries over DETR decoder layers (the released code).</summary>
    Detr,
    /// <summary>"bert": concatenated levels through BERT-style encoder layers with the caption (the paper's text).</summary>
    Bert,
}

/// <summary>
/// DeepLens sizes and switches, stored under its snake_case names inside the captioner's config.json.
/// Defaults are the paper's: ViT-L/14-336 layers [23, 13, 18] (base level first), D = 1024, 4 layers,
/// 16 heads, FFN 4096, 100 queries, OPT-125M's H = 768.
/// </summary>
public sealed record DeepLensConfig
{
    /// <summary>"detr" (the released code, default) or "bert" (the paper text's variant).</summary>
    [JsonPropertyName("variant")] public DeepLensVariant Variant { get; init; } = DeepLensVariant.Detr;
    /// <summary>ViT <c>hidden_states</c> indices to tap; the first is the base level (SPEC §2, §8).</summary>
    [JsonPropertyName("tapped_layers")] public IReadOnlyList<int> TappedLayers { get; init; } = [23, 13, 18];
    /// <summary>Dv, the ViT width.</summary>
    [JsonPropertyName("vision_width")] public long VisionWidth { get; init; } = 1024;
    /// <summary>D; the released code sets it to Dv, kept separate here.</summary>
    [JsonPropertyName("d_model")] public long DModel { get; init; } = 1024;
    /// <summary>L, the number of decoder (detr) or encoder (bert) layers.</summary>
    [JsonPropertyName("decoder_layers")] public int DecoderLayers { get; init; } = 4;
    [JsonPropertyName("decoder_attention_heads")] public int DecoderAttentionHeads { get; init; } = 16;
    [JsonPropertyName("decoder_ffn_dim")] public long DecoderFfnDim { get; init; } = 4096;
    /// <summary>Q, the learned queries (detr only); DeepLens then outputs Q visual embeddings.</summary>
    [JsonPropertyName("num_queries")] public int NumQueries { get; init; } = 100;
    /// <summary>H, the LM's input embedding width (OPT's <c>word_embed_proj_dim</c>).</summary>
    [JsonPropertyName("lm_hidden")] public long LmHidden { get; init; } = 768;
    /// <summary>Per-level projection (detr), an <c>mm_projector_type</c>; the released code's <c>detr_visual_connector</c>.</summary>
    [JsonPropertyName("level_projector_type")] public string LevelProjectorType { get; init; } = "mlp2x_gelu";
    /// <summary>Dropout after each sub-block, in training mode only (DetrConfig.dropout).</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    /// <summary>LayerNorm epsilon; the released code uses nn.LayerNorm's default 1e-5.</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    /// <summary>FFN activation: relu (DETR's default), gelu (erf; BERT's) or gelu_new (tanh form).</summary>
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; init; } = "relu";
    /// <summary>Ablation ①: feed the initial caption. Off: no <c>pre_caption_proj</c>; a given caption is ignored.</summary>
    [JsonPropertyName("caption_input")] public bool CaptionInput { get; init; } = true;
    /// <summary>Ablation ②: use every tapped level. Off: the base level (first tapped layer) only.</summary>
    [JsonPropertyName("multi_level")] public bool MultiLevel { get; init; } = true;
    /// <summary>
    /// Ours, off by default (the paper's second glance reads DeepLens's embeddings only): the second glance
    /// shows the LM the first glance's visual embeddings (the MLP connector's) followed by DeepLens's, so the
    /// refinement reads everything the first glance read plus what DeepLens adds. A fresh DeepLens's
    /// <c>llm_proj</c> then starts at zero: the second glance starts out seeing what the first saw.
    /// </summary>
    [JsonPropertyName("keep_first_glance")] public bool KeepFirstGlance { get; init; }

    public static readonly IReadOnlyList<string> Activations = ["relu", "gelu", "gelu_new"];

    /// <summary>How many levels DeepLens reads: all tapped layers, or 1 with multi_level off.</summary>
    [JsonIgnore] public int NumLevels => MultiLevel ? TappedLayers.Count : 1;
    /// <summary>The ViT layers DeepLens reads, base level first.</summary>
    [JsonIgnore] public IReadOnlyList<int> UsedLayers => TappedLayers.Take(NumLevels).ToList();
    [JsonIgnore] public long HeadDim => DModel / DecoderAttentionHeads;
    [JsonIgnore] public bool IsDetr => Variant == DeepLensVariant.Detr;

    /// <summary>Throws a <see cref="GlanceException"/> naming the first bad field.</summary>
    public DeepLensConfig Validate()
    {
        static GlanceException Bad(string field, string problem) => new($"deeplens config: {field} {problem}");
        if (!Enum.IsDefined(Variant)) throw Bad("variant", $"{(int)Variant} is not one of detr, bert");
        if (TappedLayers is null || TappedLayers.Count == 0) throw Bad("tapped_layers", "must name at least one ViT layer");
        if (TappedLayers.Any(l => l < 0)) throw Bad("tapped_layers", $"[{string.Join(", ", TappedLayers)}] must be hidden_states indices ≥ 0");
        if (TappedLayers.Distinct().Count() != TappedLayers.Count) throw Bad("tapped_layers", $"[{string.Join(", ", TappedLayers)}] repeats a layer");
        if (VisionWidth <= 0) throw Bad("vision_width", $"must be positive (got {VisionWidth})");
        if (DModel <= 0 || DModel % 4 != 0)
            throw Bad("d_model", $"must be a positive multiple of 4 (got {DModel}): the 2-D sine positions give D/2 channels per axis, in sin/cos pairs");
        if (DecoderLayers < 1) throw Bad("decoder_layers", $"must be at least 1 (got {DecoderLayers})");
        if (DecoderAttentionHeads < 1 || DModel % DecoderAttentionHeads != 0)
            throw Bad("decoder_attention_heads", $"({DecoderAttentionHeads}) must divide d_model ({DModel})");
        if (DecoderFfnDim <= 0) throw Bad("decoder_ffn_dim", $"must be positive (got {DecoderFfnDim})");
        if (IsDetr && NumQueries < 1) throw Bad("num_queries", $"must be at least 1 (got {NumQueries})");
        if (LmHidden <= 0) throw Bad("lm_hidden", $"must be positive (got {LmHidden})");
        if (IsDetr && !Connector.IsKnown(LevelProjectorType)) throw Bad("level_projector_type", $"'{LevelProjectorType}' is not a known mm_projector_type");
        if (!(Dropout >= 0 && Dropout < 1)) throw Bad("dropout", $"must be in [0, 1) (got {Dropout})");
        if (!(LayerNormEps > 0)) throw Bad("layer_norm_eps", $"must be positive (got {LayerNormEps})");
        if (!Activations.Contains(ActivationFunction))
            throw Bad("activation_function", $"'{ActivationFunction}' is not one of {string.Join(", ", Activations)}");
        return this;
    }

    /// <summary>The <c>deeplens</c> block of a captioner's config.json (snake_case keys, as <see cref="ConfigJson"/> writes every config).</summary>
    public JsonObject ToJsonObject() => ConfigJson.ToObject(this);

    public string ToJson() => ToJsonObject().ToJsonString(ConfigJson.Options);

    /// <summary>Parses and validates; unknown keys and wrong types are errors naming <paramref name="source"/>.</summary>
    public static DeepLensConfig FromJson(string json, string source = "deeplens config")
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json, documentOptions: ConfigJson.Strict); }
        catch (JsonException e) { throw GlanceException.ForFile(source, $"bad DeepLens config: {e.Message}"); }
        return FromJson(node ?? throw GlanceException.ForFile(source, "bad DeepLens config: null"), source);
    }

    /// <summary>Binds (strictly: an unknown key is a typo) and validates.</summary>
    public static DeepLensConfig FromJson(JsonNode node, string source)
    {
        var config = ConfigJson.Bind<DeepLensConfig>(node, source, strict: true);
        try { return config.Validate(); }
        catch (GlanceException e) { throw GlanceException.ForFile(source, e.Message); }
    }
}
