using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.IO;
using SharpGlance.Nn;
using SharpGlance.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using Linear = SharpGlance.Nn.Linear;
using static TorchSharp.torch;

namespace SharpGlance.Language;

// Field names are Hugging Face checkpoint keys (self_attn, embed_tokens, final_layer_norm): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

// OPT decoder-only LM (HF transformers `modeling_opt.py`), SPEC §5. Reading order: config → attention →
// decoder layer → decoder → OptModel → OptForCausalLM. Field paths are the checkpoint keys
// (`model.decoder.layers.0.self_attn.q_proj.weight`, ...).

/// <summary>HF <c>OPTConfig</c> with transformers' defaults for absent fields.</summary>
public sealed record OptConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "opt";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50272;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("ffn_dim")] public int FfnDim { get; init; } = 3072;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    /// <summary>true: pre-LN blocks + a final LayerNorm (125m, 1.3b, …); false: post-LN, no final LN (350m).</summary>
    [JsonPropertyName("do_layer_norm_before")] public bool DoLayerNormBefore { get; init; } = true;
    /// <summary>Only for checkpoints fine-tuned before transformers 4.20.1 (metaseq PR 164): no final LN.</summary>
    [JsonPropertyName("_remove_final_layer_norm")] public bool RemoveFinalLayerNorm { get; init; }
    /// <summary>Width of the token embeddings (null = hidden_size); ≠ hidden_size adds project_in/out (350m).</summary>
    [JsonPropertyName("word_embed_proj_dim")] public int? WordEmbedProjDim { get; init; }
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; init; } = "relu";
    [JsonPropertyName("layerdrop")] public double LayerDrop { get; init; }
    [JsonPropertyName("init_std")] public double InitStd { get; init; } = 0.02;
    [JsonPropertyName("use_cache")] public bool UseCache { get; init; } = true;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 2;
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 2;
    [JsonPropertyName("enable_bias")] public bool EnableBias { get; init; } = true;
    [JsonPropertyName("layer_norm_elementwise_affine")] public bool LayerNormElementwiseAffine { get; init; } = true;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

    /// <summary>word_embed_proj_dim, or hidden_size when absent: the width of inputs_embeds and of lm_head's input.</summary>
    [JsonIgnore] public int EmbeddingDim => WordEmbedProjDim ?? HiddenSize;
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;
    [JsonIgnore] public bool HasProjections => EmbeddingDim != HiddenSize;
    [JsonIgnore] public bool HasFinalLayerNorm => DoLayerNormBefore && !RemoveFinalLayerNorm;
    /// <summary>Learned positions are looked up at position + 2 (fairseq's padding offset, SPEC §5).</summary>
    public const int PositionOffset = 2;

    /// <summary>facebook/opt-125m: 125,239,296 parameters (the tied head counted once).</summary>
    public static OptConfig Opt125m => new() { WordEmbedProjDim = 768, TorchDtype = "float16" };

    /// <summary>facebook/opt-350m: post-LN, 512-wide embeddings projected in and out of 1024.</summary>
    public static OptConfig Opt350m => new()
    {
        HiddenSize = 1024, FfnDim = 4096, NumHiddenLayers = 24, NumAttentionHeads = 16,
        WordEmbedProjDim = 512, DoLayerNormBefore = false, TorchDtype = "float16",
    };

    /// <summary>facebook/opt-1.3b.</summary>
    public static OptConfig Opt1_3b => new()
    {
        HiddenSize = 2048, FfnDim = 8192, NumHiddenLayers = 24, NumAttentionHeads = 32,
        WordEmbedProjDim = 2048, TorchDtype = "float16",
    };

    /// <summary>A tiny OPT for tests (the sizes of the tiny-opt fixture).</summary>
    public static OptConfig Tiny => new()
    {
        VocabSize = 1000, HiddenSize = 32, FfnDim = 64, NumHiddenLayers = 2, NumAttentionHeads = 4,
        MaxPositionEmbeddings = 64, WordEmbedProjDim = 32, Dropout = 0.0,
    };

    /// <summary>Throws a <see cref="GlanceException"/> naming the first bad field.</summary>
    public OptConfig Validate(string source = "OPT config")
    {
        static void Positive(string source, string field, double v)
        {
            if (!(v > 0)) throw GlanceException.ForFile(source, $"{field} must be positive, got {v}");
        }
        Positive(source, "vocab_size", VocabSize);
        Positive(source, "hidden_size", HiddenSize);
        Positive(source, "num_hidden_layers", NumHiddenLayers);
        Positive(source, "ffn_dim", FfnDim);
        Positive(source, "max_position_embeddings", MaxPositionEmbeddings);
        Positive(source, "num_attention_heads", NumAttentionHeads);
        Positive(source, "word_embed_proj_dim", EmbeddingDim);
        if (HiddenSize % NumAttentionHeads != 0)
            throw GlanceException.ForFile(source, $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (!Activations.IsKnown(ActivationFunction))
            throw GlanceException.ForFile(source, $"activation_function '{ActivationFunction}' is not one of {string.Join(", ", Activations.Known)}");
        if (Dropout is < 0 or >= 1) throw GlanceException.ForFile(source, $"dropout must be in [0, 1), got {Dropout}");
        if (AttentionDropout is < 0 or >= 1) throw GlanceException.ForFile(source, $"attention_dropout must be in [0, 1), got {AttentionDropout}");
        if (LayerDrop is < 0 or >= 1) throw GlanceException.ForFile(source, $"layerdrop must be in [0, 1), got {LayerDrop}");
        if (PadTokenId < 0 || PadTokenId >= VocabSize) throw GlanceException.ForFile(source, $"pad_token_id {PadTokenId} is outside the vocabulary of {VocabSize}");
        return this;
    }

    public static OptConfig FromJson(JsonObject root, string source)
    {
        var type = ConfigJson.ModelType(root);
        if (type != "opt") throw GlanceException.ForFile(source, $"model_type is '{type}', expected 'opt'");
        return ConfigJson.Bind<OptConfig>(root, source).Validate(source);
    }

    /// <summary>From a config.json file, or the config.json in a model folder.</summary>
    public static OptConfig FromFile(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        return FromJson(ConfigJson.ReadObject(path), path);
    }
}

/// <summary>
/// Per-forward state every decoder layer shares: the additive mask (or causal flag), the cache and, when
/// attention maps were asked for, the list each layer appends its attention probabilities to.
/// </summary>
public sealed record OptLayerContext(Tensor? Mask, bool IsCausal, KvCache? Cache, int LayerIndex, List<Tensor>? Attentions = null);

/// <summary>HF <c>OPTAttention</c>: q scaled by head_dim^−0.5 after projection, causal + padding mask.</summary>
public sealed class OptAttention : nn.Module<Tensor, OptLayerContext, Tensor>
{
    public Linear k_proj, v_proj, q_proj, out_proj;
    private readonly int _heads;
    private readonly double _dropout;

    public OptAttention(OptConfig c, Device? device, ScalarType dtype) : base(nameof(OptAttention))
    {
        _heads = c.NumAttentionHeads;
        _dropout = c.AttentionDropout;
        k_proj = Layers.Linear(c.HiddenSize, c.HiddenSize, c.EnableBias, device, dtype);
        v_proj = Layers.Linear(c.HiddenSize, c.HiddenSize, c.EnableBias, device, dtype);
        q_proj = Layers.Linear(c.HiddenSize, c.HiddenSize, c.EnableBias, device, dtype);
        out_proj = Layers.Linear(c.HiddenSize, c.HiddenSize, c.EnableBias, device, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, hidden]</param>
    public override Tensor forward(Tensor x, OptLayerContext ctx)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / _heads;
        var q = q_proj.forward(x).view(b, t, _heads, hd).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, _heads, hd).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, _heads, hd).transpose(1, 2);
        if (ctx.Cache is { } cache) (k, v) = cache.Append(ctx.LayerIndex, k, v);
        // SDPA's default scale is head_dim^-0.5, HF's `q_proj(x) * scaling` (equal to ≤1 ulp). SDPA never
        // materialises the probabilities, so attention maps take the explicit path, and only when asked.
        var o = ctx.Attentions is { } sink
            ? ExplicitAttention(q, k, v, ctx, sink)
            : CpuGemm.Attention(q, k, v, ctx.Mask, training ? _dropout : 0.0, ctx.IsCausal);
        o = o.transpose(1, 2).reshape(b, t, d);
        return out_proj.forward(o).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// softmax(QKᵀ/√d + mask)·V written out (HF's eager <c>OPTAttention</c>), appending the probabilities
    /// [B, heads, T, past+T] in float32 to <paramref name="sink"/>, detached from every dispose scope: the
    /// caller owns them. Scores and softmax are in float32 so a float16 model's maps still sum to 1.
    /// </summary>
    private Tensor ExplicitAttention(Tensor q, Tensor k, Tensor v, OptLayerContext ctx, List<Tensor> sink)
    {
        long t = q.shape[2], s = k.shape[2];
        var scores = matmul(q.to_type(ScalarType.Float32), k.to_type(ScalarType.Float32).transpose(2, 3)) / Math.Sqrt(q.shape[3]);
        if (ctx.Mask is { } mask) scores = scores + mask.to_type(ScalarType.Float32);
        else if (ctx.IsCausal)
            scores = scores.masked_fill(ones(t, s, ScalarType.Bool, q.device).triu(s - t + 1), AttentionMasks.MinValue(ScalarType.Float32));
        var probs = nn.functional.softmax(scores, -1);
        sink.Add(probs.alias().DetachFromDisposeScope());
        var weights = nn.functional.dropout(probs, training ? _dropout : 0.0, training);
        return matmul(weights.to_type(v.dtype), v);
    }
}

/// <summary>HF <c>OPTDecoderLayer</c>: attention and FFN (fc1 → ReLU → fc2), pre-LN or post-LN.</summary>
public sealed class OptDecoderLayer : nn.Module<Tensor, OptLayerContext, Tensor>
{
    public OptAttention self_attn;
    public LayerNorm self_attn_layer_norm;
    public Linear fc1, fc2;
    public LayerNorm final_layer_norm;
    private readonly bool _preLn;
    private readonly double _dropout;
    private readonly Func<Tensor, Tensor> _act;

    public OptDecoderLayer(OptConfig c, Device? device, ScalarType dtype) : base(nameof(OptDecoderLayer))
    {
        _preLn = c.DoLayerNormBefore;
        _dropout = c.Dropout;
        _act = Activations.Resolve(c.ActivationFunction);
        self_attn = new OptAttention(c, device, dtype);
        self_attn_layer_norm = Layers.LayerNorm(c.HiddenSize, 1e-5, c.LayerNormElementwiseAffine, device, dtype);
        fc1 = Layers.Linear(c.HiddenSize, c.FfnDim, c.EnableBias, device, dtype);
        fc2 = Layers.Linear(c.FfnDim, c.HiddenSize, c.EnableBias, device, dtype);
        final_layer_norm = Layers.LayerNorm(c.HiddenSize, 1e-5, c.LayerNormElementwiseAffine, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, OptLayerContext ctx)
    {
        using var scope = NewDisposeScope();
        var residual = x;
        var h = _preLn ? self_attn_layer_norm.forward(x) : x;     // 125m, 1.3b, …: LN BEFORE attention
        h = self_attn.forward(h, ctx);
        h = nn.functional.dropout(h, _dropout, training);
        h = residual + h;
        if (!_preLn) h = self_attn_layer_norm.forward(h);          // 350m: LN AFTER attention

        residual = h;
        if (_preLn) h = final_layer_norm.forward(h);
        h = fc2.forward(_act(fc1.forward(h)));
        h = nn.functional.dropout(h, _dropout, training);
        h = residual + h;
        if (!_preLn) h = final_layer_norm.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// HF <c>OPTDecoder</c>: embed_tokens (word_embed_proj_dim wide), learned positions (hidden_size wide,
/// offset 2), optional project_in/out, the layers and an optional final LayerNorm.
/// </summary>
public sealed class OptDecoder : nn.Module
{
    public LearnedEmbedding embed_tokens;
    public LearnedEmbedding embed_positions;
    public Linear? project_out;
    public Linear? project_in;
    public LayerNorm? final_layer_norm;
    public ModuleList<OptDecoderLayer> layers;
    private readonly OptConfig _config;

    public OptDecoder(OptConfig c, Device? device, ScalarType dtype) : base(nameof(OptDecoder))
    {
        _config = c;
        embed_tokens = new LearnedEmbedding(c.VocabSize, c.EmbeddingDim, device, dtype);
        embed_positions = new LearnedEmbedding(c.MaxPositionEmbeddings + OptConfig.PositionOffset, c.HiddenSize, device, dtype);
        if (c.HasProjections)
        {
            project_out = Layers.Linear(c.HiddenSize, c.EmbeddingDim, false, device, dtype);
            project_in = Layers.Linear(c.EmbeddingDim, c.HiddenSize, false, device, dtype);
        }
        if (c.HasFinalLayerNorm)
            final_layer_norm = Layers.LayerNorm(c.HiddenSize, 1e-5, c.LayerNormElementwiseAffine, device, dtype);
        layers = new ModuleList<OptDecoderLayer>();
        for (int i = 0; i < c.NumHiddenLayers; i++) layers.Add(new OptDecoderLayer(c, device, dtype));
        RegisterComponents();
    }

    /// <summary>HF OPT <c>_init_weights</c>: normal(0, init_std) for Linear and Embedding weights, zero biases, zero padding row.</summary>
    internal void InitWeights(Generator? g)
    {
        using var _ = no_grad();
        double std = _config.InitStd;
        embed_tokens.weight.normal_(0, std, g);
        embed_tokens.weight[_config.PadTokenId].zero_();
        embed_positions.weight.normal_(0, std, g);
        if (project_in is not null) Layers.InitNormal(project_in, std, g);
        if (project_out is not null) Layers.InitNormal(project_out, std, g);
        if (final_layer_norm is not null) Layers.InitLayerNorm(final_layer_norm);
        foreach (var layer in layers)
        {
            foreach (var lin in new[] { layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.out_proj, layer.fc1, layer.fc2 })
                Layers.InitNormal(lin, std, g);
            Layers.InitLayerNorm(layer.self_attn_layer_norm);
            Layers.InitLayerNorm(layer.final_layer_norm);
        }
    }

    /// <summary>
    /// The decoder stack over <paramref name="inputsEmbeds"/> [B, T, word_embed_proj_dim], returning the
    /// final states [B, T, word_embed_proj_dim] (after final_layer_norm and project_out), with positions and
    /// mask derived from <paramref name="attentionMask"/> [B, past+T], which covers cached and new tokens
    /// (SPEC §5). With <paramref name="attentions"/> each layer appends its attention probabilities to it
    /// (explicit softmax, slower than SDPA: only for attention maps).
    /// </summary>
    internal Tensor Run(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache, List<Tensor>? attentions = null)
    {
        using var scope = NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0;
        var h = InputStates(inputsEmbeds, Positions(attentionMask).narrow(1, past, t), past + t);

        // Mask: nothing for one token without padding, SDPA's causal flag for a fresh causal block,
        // else HF's combined additive mask (finfo.min where blocked).
        bool padded = attentionMask.eq(0).any().item<bool>();
        Tensor? mask = null;
        bool isCausal = false;
        if (padded || (t > 1 && past > 0))
            mask = AttentionMasks.CausalWithPadding(padded ? attentionMask : null, b, t, past, h.dtype, h.device);
        else if (t > 1)
            isCausal = true;
        return Stack(h, mask, isCausal, cache, attentions).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The decoder stack with the positions [B, T] of the new tokens and the additive mask [B, 1, T, past+T]
    /// given (null: every key visible, or SDPA's causal flag with <paramref name="isCausal"/>), as a
    /// generator's decode step calls it: no cumsum, no mask built, no host sync and nothing that grows with
    /// the sequence (but for the position-table check beyond max_position_embeddings).
    /// </summary>
    internal Tensor Run(Tensor inputsEmbeds, Tensor positions, Tensor? mask, bool isCausal, KvCache? cache, List<Tensor>? attentions = null)
    {
        using var scope = NewDisposeScope();
        var h = InputStates(inputsEmbeds, positions, (cache?.Length ?? 0) + inputsEmbeds.shape[1]);
        return Stack(h, mask, isCausal, cache, attentions).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Each token's position [B, L] from a 0/1 mask [B, L]: with left padding a token's position is the
    /// number of real tokens before it, not its index (SPEC §5; HF <c>OPTLearnedPositionalEmbedding</c>).
    /// Padding gets −1 (→ row 1 of the table). A generator computes it once for the whole generation.
    /// </summary>
    public static Tensor Positions(Tensor attentionMask) => attentionMask.cumsum(1) * attentionMask - 1;

    /// <summary>The first layer's input: the embeddings (projected in) plus the learned positions (offset 2).</summary>
    private Tensor InputStates(Tensor inputsEmbeds, Tensor positions, long total)
    {
        if (total > _config.MaxPositionEmbeddings)
        {
            long maxPos = positions.max().item<long>();
            if (maxPos >= _config.MaxPositionEmbeddings)
                throw new GlanceException($"OPT: position {maxPos} exceeds max_position_embeddings {_config.MaxPositionEmbeddings}");
        }
        var posEmbeds = embed_positions.forward(positions + OptConfig.PositionOffset);
        var h = project_in is null ? inputsEmbeds : project_in.forward(inputsEmbeds);
        return h + posEmbeds;
    }

    /// <summary>The layers, then final_layer_norm and project_out; advances the cache by the new tokens.</summary>
    private Tensor Stack(Tensor h, Tensor? mask, bool isCausal, KvCache? cache, List<Tensor>? attentions)
    {
        long t = h.shape[1];
        for (int i = 0; i < layers.Count; i++)
        {
            // LayerDrop (https://arxiv.org/abs/1909.11556) while training, as HF does.
            if (training && _config.LayerDrop > 0 && rand(1).item<float>() < _config.LayerDrop) continue;
            var next = layers[i].forward(h, new OptLayerContext(mask, isCausal, cache, i, attentions));
            // Free each layer's input once the next state exists (h is never the caller's tensor here: it
            // is at least `embeds + positions`), rather than holding 12 of them to the end of the pass.
            h.Dispose();
            h = next;
        }
        if (cache is not null) cache.Advance(t);

        if (final_layer_norm is not null) h = final_layer_norm.forward(h);
        if (project_out is not null) h = project_out.forward(h);
        return h;
    }
}

/// <summary>HF <c>OPTModel</c>: just <c>decoder</c> (so keys read <c>model.decoder.…</c>).</summary>
public sealed class OptModel : nn.Module
{
    public OptDecoder decoder;

    public OptModel(OptConfig c, Device? device, ScalarType dtype) : base(nameof(OptModel))
    {
        decoder = new OptDecoder(c, device, dtype);
        RegisterComponents();
    }
}

/// <summary>Inputs of <see cref="OptForCausalLM.forward"/>; exactly one of InputIds / InputsEmbeds.</summary>
public sealed record OptInputs
{
    /// <summary>[B, T] int64 token ids.</summary>
    public Tensor? InputIds { get; init; }
    /// <summary>[B, T, word_embed_proj_dim] embeddings (e.g. visual tokens spliced into the prompt).</summary>
    public Tensor? InputsEmbeds { get; init; }
    /// <summary>[B, past + T], 1 = token, 0 = padding (left padding); null = all ones.</summary>
    public Tensor? AttentionMask { get; init; }
    /// <summary>
    /// [B, T] int64 positions of the new tokens (<see cref="OptDecoder.Positions"/> of the whole mask, sliced),
    /// given by a generator that computed them once; then <see cref="AdditiveMask"/> is the mask and
    /// <see cref="AttentionMask"/> is not read: the decode step makes no cumsum, no mask and no host sync.
    /// </summary>
    public Tensor? PositionIds { get; init; }
    /// <summary>
    /// With <see cref="PositionIds"/>: [B, 1, T, past + T] in the model's dtype, 0 where a key is visible and
    /// finfo.min where not (a view of one mask made for the whole generation); null = every key visible
    /// (one new token per row, no padding) or, for a fresh block, causal.
    /// </summary>
    public Tensor? AdditiveMask { get; init; }
    /// <summary>When set, new K/V are written into it and attention spans the cached tokens too.</summary>
    public KvCache? Cache { get; init; }
    /// <summary>[B, T] targets; shifted inside (position t predicts t+1), −100 = ignored.</summary>
    public Tensor? Labels { get; init; }
    /// <summary>Compute logits for the last position only (generation): [B, 1, V].</summary>
    public bool LastPositionOnly { get; init; }
    /// <summary>
    /// Also return every layer's attention probabilities (<see cref="OptOutput.Attentions"/>). Off by
    /// default: it replaces SDPA by an explicit softmax(QKᵀ/√d + mask), which costs time and memory.
    /// </summary>
    public bool OutputAttentions { get; init; }
}

/// <summary>Logits [B, T or 1, vocab] and, with labels, the mean cross-entropy loss.</summary>
public sealed class OptOutput : IDisposable
{
    public required Tensor Logits { get; init; }
    public Tensor? Loss { get; init; }
    /// <summary>With <see cref="OptInputs.OutputAttentions"/>: per layer, [B, heads, T, past+T] float32, each row summing to 1 over the keys.</summary>
    public IReadOnlyList<Tensor>? Attentions { get; init; }

    public void Dispose()
    {
        Logits.Dispose(); Loss?.Dispose();
        if (Attentions is not null) foreach (var a in Attentions) a.Dispose();
    }
}

/// <summary>
/// HF <c>OPTForCausalLM</c>: <c>model</c> (the decoder) and <c>lm_head</c>, tied to
/// <c>model.decoder.embed_tokens.weight</c>.
/// </summary>
public sealed class OptForCausalLM : TiedHeadLM, ICausalLM
{
    public OptModel model;
    /// <summary>
    /// With tie_word_embeddings (every OPT), a real tie: this Linear's <c>weight</c> is the very
    /// <see cref="Parameter"/> of <c>model.decoder.embed_tokens</c>, not a copy. It is then kept out of the
    /// registered submodules so that state_dict, parameters() and <c>to()</c> see the tensor once under its
    /// checkpoint key, and it is re-made over the new parameter after a dtype/device move.
    /// </summary>
    public Linear lm_head;

    public OptConfig Config { get; }

    /// <summary>A randomly initialised OPT (HF's <c>_init_weights</c>), seeded by <paramref name="generator"/>.</summary>
    public OptForCausalLM(OptConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32, Generator? generator = null)
        : this(config, device, dtype, initialize: true, generator) { }

    internal OptForCausalLM(OptConfig config, Device? device, ScalarType dtype, bool initialize, Generator? generator = null)
        : base(nameof(OptForCausalLM))
    {
        Config = config.Validate();
        model = new OptModel(config, device, dtype);
        lm_head = config.TieWordEmbeddings
            ? new Linear(model.decoder.embed_tokens.weight)
            : Layers.Linear(config.EmbeddingDim, config.VocabSize, false, device, dtype);
        RegisterComponents();
        if (config.TieWordEmbeddings) _internal_submodules.Remove("lm_head");
        if (initialize) InitWeights(generator);
    }

    public void InitWeights(Generator? g = null)
    {
        model.decoder.InitWeights(g);
        if (!Config.TieWordEmbeddings) Layers.InitNormal(lm_head, Config.InitStd, g);
    }

    protected override void Retie()
    {
        if (Config.TieWordEmbeddings && !ReferenceEquals(lm_head.weight, model.decoder.embed_tokens.weight))
            lm_head = new Linear(model.decoder.embed_tokens.weight);
    }

    /// <summary>The token embeddings [.., word_embed_proj_dim] of <paramref name="inputIds"/> (for splicing prompts).</summary>
    public Tensor Embed(Tensor inputIds) => model.decoder.embed_tokens.forward(inputIds);

    public ScalarType DType => model.decoder.embed_tokens.weight.dtype;
    int ICausalLM.VocabSize => Config.VocabSize;
    int ICausalLM.EmbeddingDim => Config.EmbeddingDim;
    public Device Device => model.decoder.embed_tokens.weight.device;

    /// <summary>Logits [B, T, V] for <paramref name="inputIds"/> without a cache.</summary>
    public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var o = forward(new OptInputs { InputIds = inputIds, AttentionMask = attentionMask });
        return o.Logits.alias();
    }

    public override OptOutput forward(OptInputs input)
    {
        var c = Config;
        if ((input.InputIds is null) == (input.InputsEmbeds is null))
            throw new GlanceException("OPT: give exactly one of input_ids and inputs_embeds");
        long past = input.Cache?.Length ?? 0;
        long b, t;
        if (input.InputIds is { } ids)
        {
            if (ids.dim() != 2) throw new GlanceException($"OPT: input_ids has shape [{string.Join(", ", ids.shape)}], expected [B, T]");
            (b, t) = (ids.shape[0], ids.shape[1]);
        }
        else
        {
            var e = input.InputsEmbeds!;
            if (e.dim() != 3 || e.shape[2] != c.EmbeddingDim)
                throw new GlanceException($"OPT: inputs_embeds has shape [{string.Join(", ", e.shape)}], expected [B, T, {c.EmbeddingDim}]");
            (b, t) = (e.shape[0], e.shape[1]);
        }
        if (t == 0) throw new GlanceException("OPT: no input tokens");
        if (input.AttentionMask is { } m && (m.dim() != 2 || m.shape[0] != b || m.shape[1] != past + t))
            throw new GlanceException($"OPT: attention_mask has shape [{string.Join(", ", m.shape)}], expected [{b}, {past + t}] (cached + new tokens)");
        if (input.Cache is { } cache && cache.Batch != b)
            throw new GlanceException($"OPT: the KV cache holds {cache.Batch} rows but the input has {b}");
        if (input.PositionIds is { } pos && (pos.dim() != 2 || pos.shape[0] != b || pos.shape[1] != t))
            throw new GlanceException($"OPT: position_ids has shape [{string.Join(", ", pos.shape)}], expected [{b}, {t}]");
        if (input.AdditiveMask is { } am4)
        {
            if (input.PositionIds is null) throw new GlanceException("OPT: an additive mask needs the positions it was made with");
            if (am4.dim() != 4 || am4.shape[0] != b || am4.shape[1] != 1 || am4.shape[2] != t || am4.shape[3] != past + t)
                throw new GlanceException($"OPT: the additive mask has shape [{string.Join(", ", am4.shape)}], expected [{b}, 1, {t}, {past + t}]");
        }
        else if (input.PositionIds is not null && t > 1 && past > 0)
            throw new GlanceException("OPT: several new tokens after a cache need an additive mask");
        if (input.Labels is { } l && !l.shape.SequenceEqual(new[] { b, t }))
            throw new GlanceException($"OPT: labels has shape [{string.Join(", ", l.shape)}], expected [{b}, {t}]");

        using var scope = NewDisposeScope();
        var dtype = DType;
        var embeds = input.InputsEmbeds is { } x ? (x.dtype == dtype ? x : x.to_type(dtype)) : Embed(input.InputIds!);
        var attentions = input.OutputAttentions ? new List<Tensor>(c.NumHiddenLayers) : null;
        Tensor h;
        try
        {
            h = input.PositionIds is { } positions
                ? model.decoder.Run(embeds, positions, input.AdditiveMask, isCausal: input.AdditiveMask is null && t > 1, input.Cache, attentions)
                : model.decoder.Run(embeds, ZeroOneMask(input.AttentionMask, b, past + t, embeds.device), input.Cache, attentions);
        }
        catch
        {
            // The recorded maps are outside every scope: a failed pass must not leak them.
            if (attentions is not null) foreach (var a in attentions) a.Dispose();
            throw;
        }
        // At generation only the last position needs the (V-wide, costly) head.
        if (input.LastPositionOnly) h = h.narrow(1, t - 1, 1);
        var logits = lm_head.forward(h);
        Tensor? loss = null;
        if (input.Labels is { } labels)
        {
            if (input.LastPositionOnly) throw new GlanceException("OPT: labels need the logits of every position");
            var shiftLogits = logits.narrow(1, 0, t - 1).reshape(-1, c.VocabSize).to_type(ScalarType.Float32);
            var shiftLabels = labels.narrow(1, 1, t - 1).reshape(-1).to(logits.device);
            loss = nn.functional.cross_entropy(shiftLogits, shiftLabels, ignore_index: -100);
        }
        return new OptOutput { Logits = logits.MoveToOuterDisposeScope(), Loss = loss?.MoveToOuterDisposeScope(), Attentions = attentions };
    }

    private static Tensor ZeroOneMask(Tensor? mask, long b, long length, Device device) => mask is { } m
        ? (m.dtype == ScalarType.Int64 ? m : m.to_type(ScalarType.Int64))
        : ones([b, length], ScalarType.Int64, device);

    /// <summary>Forward with named arguments (see <see cref="OptInputs"/>).</summary>
    public OptOutput Forward(Tensor? inputIds = null, Tensor? inputsEmbeds = null, Tensor? attentionMask = null,
        KvCache? cache = null, Tensor? labels = null, bool lastPositionOnly = false, bool outputAttentions = false) =>
        forward(new OptInputs
        {
            InputIds = inputIds, InputsEmbeds = inputsEmbeds, AttentionMask = attentionMask,
            Cache = cache, Labels = labels, LastPositionOnly = lastPositionOnly, OutputAttentions = outputAttentions,
        });

    /// <summary>A cache with room for <paramref name="maxLength"/> tokens per row, in the model's dtype and device.</summary>
    public KvCache NewCache(long batch, long maxLength) => KvCache.For(Config, batch, maxLength, DType, Device);

    // ---- loading and saving --------------------------------------------------------------------

    /// <summary>Loads an HF OPT folder (config.json + safetensors, sharded or not).</summary>
    public static OptForCausalLM FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var config = OptConfig.FromFile(folder);
        using var ck = Checkpoint.Open(folder);
        return Load(config, ck, device, dtype);
    }

    /// <summary>
    /// Builds an OPT from <paramref name="config"/> and loads it strictly from <paramref name="checkpoint"/>
    /// (keys <c>model.decoder.*</c>, or <c>decoder.*</c> of a bare OPTModel). Keys starting with one of
    /// <paramref name="ignorePrefixes"/> are skipped (a LLaVA-OPT save also holds <c>model.mm_projector.*</c>
    /// and <c>model.vision_tower.*</c>). With tied embeddings a stored <c>lm_head.weight</c> is ignored, as
    /// transformers' <c>tie_weights()</c> ignores it after loading: the head is the input embedding.
    /// </summary>
    public static OptForCausalLM Load(OptConfig config, Checkpoint checkpoint, Device? device = null, ScalarType dtype = ScalarType.Float32,
        IEnumerable<string>? ignorePrefixes = null)
    {
        var lm = new OptForCausalLM(config, device, dtype, initialize: false);
        try
        {
            var ignore = (ignorePrefixes ?? []).ToList();
            if (config.TieWordEmbeddings) ignore.Add("lm_head.weight");
            if (!checkpoint.Contains("model.decoder.embed_tokens.weight") && checkpoint.Contains("decoder.embed_tokens.weight") && config.TieWordEmbeddings)
                checkpoint.LoadInto(lm.model, "", ignore);
            else
                checkpoint.LoadInto(lm, "", ignore);
            lm.eval();
            return lm;
        }
        catch
        {
            lm.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes an HF-layout folder: config.json + model.safetensors (metadata format "pt"; the tied head is
    /// not written, as transformers does not write it). Loads back with <see cref="FromPretrained"/> and
    /// with transformers' OPTForCausalLM.from_pretrained.
    /// </summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        SafeTensorsFile.Save(Path.Combine(folder, "model.safetensors"), state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
        var config = ConfigJson.ToObject(Config with { TorchDtype = Dtypes.Name(DType) });
        config.Insert(0, "architectures", new JsonArray("OPTForCausalLM"));
        ConfigJson.Write(Path.Combine(folder, "config.json"), config);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        // The tied head is not registered, so the base did not dispose it; its weight (the embedding's) is
        // already disposed, which makes that second Dispose a no-op.
        if (disposing && Config.TieWordEmbeddings) lm_head.Dispose();
    }
}
