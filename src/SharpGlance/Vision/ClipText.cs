using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.IO;
using SharpGlance.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Vision;

// Field names are Hugging Face checkpoint keys (token_embedding, final_layer_norm): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

// CLIP text transformer (HF transformers 4.36 `CLIPTextTransformer`): token + position embeddings → causal
// pre-LN encoder (the same layers as the vision tower, ClipVision.cs) → final_layer_norm → pooled at the
// end-of-text token. Fields are the checkpoint keys under `text_model.`.

/// <summary>HF <c>CLIPTextConfig</c> (transformers 4.36 defaults for absent fields).</summary>
public sealed record ClipTextConfig : IClipEncoderConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "clip_text_model";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 49408;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 512;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 2048;
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 8;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 77;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("initializer_factor")] public double InitializerFactor { get; init; } = 1.0;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 49406;
    /// <summary>
    /// Where the text is pooled: the first occurrence of this id. HF 4.36 keeps a legacy rule for the value
    /// 2 (configs saved before PR #24773): pool at the position of the highest id instead. A CLIP over OPT
    /// ids (where <c>&lt;/s&gt;</c> = 2) should therefore end its texts with another id.
    /// </summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 49407;

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>A tiny text tower for tests (OPT-sized vocabulary ids are not needed: 1000 ids, 16 positions).</summary>
    public static ClipTextConfig Tiny => new()
    {
        VocabSize = 1000, HiddenSize = 32, IntermediateSize = 64, ProjectionDim = 16, NumHiddenLayers = 2,
        NumAttentionHeads = 4, MaxPositionEmbeddings = 16, BosTokenId = 0, EosTokenId = 3,
    };

    public ClipTextConfig Validate(string source = "text config")
    {
        static void Positive(string source, string field, double v)
        {
            if (!(v > 0)) throw GlanceException.ForFile(source, $"text_config.{field} must be positive, got {v}");
        }
        Positive(source, "vocab_size", VocabSize);
        Positive(source, "hidden_size", HiddenSize);
        Positive(source, "intermediate_size", IntermediateSize);
        Positive(source, "num_hidden_layers", NumHiddenLayers);
        Positive(source, "num_attention_heads", NumAttentionHeads);
        Positive(source, "max_position_embeddings", MaxPositionEmbeddings);
        Positive(source, "layer_norm_eps", LayerNormEps);
        if (HiddenSize % NumAttentionHeads != 0)
            throw GlanceException.ForFile(source, $"text_config.hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (!Activations.IsKnown(HiddenAct)) throw GlanceException.ForFile(source, $"text_config.hidden_act '{HiddenAct}' is not one of {string.Join(", ", Activations.Known)}");
        if (AttentionDropout is < 0 or >= 1) throw GlanceException.ForFile(source, $"text_config.attention_dropout must be in [0, 1), got {AttentionDropout}");
        return this;
    }
}

/// <summary>HF <c>CLIPTextEmbeddings</c>: token_embedding + position_embedding.</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    public LearnedEmbedding token_embedding;
    public LearnedEmbedding position_embedding;

    public ClipTextEmbeddings(ClipTextConfig c, Device? device, ScalarType dtype) : base(nameof(ClipTextEmbeddings))
    {
        token_embedding = new LearnedEmbedding(c.VocabSize, c.HiddenSize, device, dtype);
        position_embedding = new LearnedEmbedding(c.MaxPositionEmbeddings, c.HiddenSize, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        long t = ids.shape[1];
        var h = token_embedding.forward(ids) + position_embedding.weight.narrow(0, 0, t).unsqueeze(0);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>The text tower's outputs: final-LN states [B, T, D] and the pooled end-of-text state [B, D].</summary>
public sealed class ClipTextOutput : IDisposable
{
    public Tensor LastHiddenState { get; }
    public Tensor PoolerOutput { get; }

    internal ClipTextOutput(Tensor last, Tensor pooled) { LastHiddenState = last; PoolerOutput = pooled; }

    public void Dispose() { LastHiddenState.Dispose(); PoolerOutput.Dispose(); }
}

/// <summary>HF <c>CLIPTextTransformer</c>: fields <c>embeddings</c>, <c>encoder</c>, <c>final_layer_norm</c>.</summary>
public sealed class ClipTextModel : nn.Module<Tensor, Tensor?, ClipTextOutput>
{
    public ClipTextEmbeddings embeddings;
    public ClipEncoder encoder;
    public LayerNorm final_layer_norm;

    public ClipTextConfig Config { get; }

    public ClipTextModel(ClipTextConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32, Generator? generator = null)
        : this(config, device, dtype, initialize: true, generator) { }

    internal ClipTextModel(ClipTextConfig config, Device? device, ScalarType dtype, bool initialize, Generator? generator = null)
        : base(nameof(ClipTextModel))
    {
        Config = config.Validate();
        embeddings = new ClipTextEmbeddings(config, device, dtype);
        encoder = new ClipEncoder(config, device, dtype);
        final_layer_norm = Layers.LayerNorm(config.HiddenSize, config.LayerNormEps, true, device, dtype);
        RegisterComponents();
        if (initialize) InitWeights(generator);
    }

    /// <summary>HF's CLIP <c>_init_weights</c> for the text tower.</summary>
    public void InitWeights(Generator? g = null)
    {
        using var _ = no_grad();
        double std = 0.02 * Config.InitializerFactor;
        embeddings.token_embedding.weight.normal_(0, std, g);
        embeddings.position_embedding.weight.normal_(0, std, g);
        Layers.InitLayerNorm(final_layer_norm);
        encoder.InitWeights(Config, g);
    }

    /// <param name="inputIds">[B, T] int64, T ≤ max_position_embeddings</param>
    /// <param name="attentionMask">[B, T], 1 = token, 0 = padding; null = all tokens</param>
    public override ClipTextOutput forward(Tensor inputIds, Tensor? attentionMask)
    {
        var c = Config;
        if (inputIds.dim() != 2) throw new GlanceException($"CLIP text tower: input_ids has shape [{string.Join(", ", inputIds.shape)}], expected [B, T]");
        long b = inputIds.shape[0], t = inputIds.shape[1];
        if (t > c.MaxPositionEmbeddings) throw new GlanceException($"CLIP text tower: {t} tokens exceed max_position_embeddings {c.MaxPositionEmbeddings}");
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new GlanceException($"CLIP text tower: attention_mask has shape [{string.Join(", ", attentionMask.shape)}], expected [{b}, {t}]");

        using var scope = NewDisposeScope();
        var h = embeddings.forward(inputIds);
        var dtype = h.dtype;
        double min = AttentionMasks.MinValue(dtype);
        // HF 4.36 adds a causal mask and a padding mask separately (two finfo.min terms may sum to −inf);
        // kept as is so that rows whose every key is masked behave as in HF.
        var mask = zeros([t, t], dtype, h.device).masked_fill_(ones([t, t], ScalarType.Bool, h.device).triu(1), min).view(1, 1, t, t);
        if (attentionMask is not null)
            mask = mask + zeros([b, 1, 1, t], dtype, h.device).masked_fill_(attentionMask.eq(0).view(b, 1, 1, t), min);
        h = encoder.forward(h, mask);
        var last = final_layer_norm.forward(h);

        Tensor positions = c.EosTokenId == 2
            // Legacy rule (HF 4.36, configs from before PR #24773): the highest id marks the end of text.
            ? inputIds.to_type(ScalarType.Int32).argmax(-1)
            : inputIds.to_type(ScalarType.Int32).eq(c.EosTokenId).to_type(ScalarType.Int32).argmax(-1);
        var pooled = last[arange(b, device: last.device), positions.to(last.device)];
        return new ClipTextOutput(last.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }
}
