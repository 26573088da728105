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

// Field names are Hugging Face checkpoint keys (self_attn, embed_tokens, input_layernorm): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

// Llama decoder-only LM (HF transformers 4.36 `modeling_llama.py`): the language model of LLaVA-1.5
// (Vicuna, Llama-2) and TinyLLaVA (TinyLlama). Reading order: config → RMSNorm → rotary embeddings →
// attention (grouped-query) → SwiGLU MLP → decoder layer → LlamaModel → LlamaForCausalLM. Field paths are
// the checkpoint keys (`model.layers.0.self_attn.q_proj.weight`, ...).

/// <summary>HF <c>rope_scaling</c>: <c>{"type": "linear" | "dynamic", "factor": f}</c>.</summary>
public sealed record RopeScaling
{
    [JsonPropertyName("type")] public string Type { get; init; } = "";
    [JsonPropertyName("factor")] public double Factor { get; init; }
}

/// <summary>HF <c>LlamaConfig</c> with transformers' defaults for absent fields.</summary>
public sealed record LlamaConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 32000;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 4096;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 11008;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 32;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 32;
    /// <summary>Key/value heads: = heads (MHA, the default when absent), 1 (MQA) or a divisor (GQA).</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("use_cache")] public bool UseCache { get; init; } = true;
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 1;
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 2;
    /// <summary>Only 1 is supported: &gt; 1 splits the products into slices, the same numbers up to rounding.</summary>
    [JsonPropertyName("pretraining_tp")] public int PretrainingTp { get; init; } = 1;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;

    /// <summary>TinyLlama-1.1B (TinyLLaVA's LM): 22 layers, 32 query heads over 4 key/value heads.</summary>
    public static LlamaConfig TinyLlama1_1B => new()
    {
        HiddenSize = 2048, IntermediateSize = 5632, NumHiddenLayers = 22, NumAttentionHeads = 32, NumKeyValueHeads = 4,
        RmsNormEps = 1e-5, TorchDtype = "bfloat16",
    };

    /// <summary>Vicuna-7B / Llama-2-7B (LLaVA-1.5-7B's LM), with LLaVA's 32064-entry vocabulary.</summary>
    public static LlamaConfig Llama7B => new() { VocabSize = 32064, RmsNormEps = 1e-5, MaxPositionEmbeddings = 4096, TorchDtype = "float16" };

    /// <summary>A tiny Llama for tests (the sizes of the tiny-llava-llama fixture's LM).</summary>
    public static LlamaConfig Tiny => new()
    {
        VocabSize = 342, HiddenSize = 48, IntermediateSize = 96, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 2, MaxPositionEmbeddings = 256, PadTokenId = 341,
    };

    /// <summary>Throws a <see cref="GlanceException"/> naming the first bad field (HF's checks, and ours).</summary>
    public LlamaConfig Validate(string source = "Llama config")
    {
        static void Positive(string source, string field, double v)
        {
            if (!(v > 0)) throw GlanceException.ForFile(source, $"{field} must be positive, got {v}");
        }
        Positive(source, "vocab_size", VocabSize);
        Positive(source, "hidden_size", HiddenSize);
        Positive(source, "intermediate_size", IntermediateSize);
        Positive(source, "num_hidden_layers", NumHiddenLayers);
        Positive(source, "num_attention_heads", NumAttentionHeads);
        Positive(source, "num_key_value_heads", KeyValueHeads);
        Positive(source, "max_position_embeddings", MaxPositionEmbeddings);
        Positive(source, "rms_norm_eps", RmsNormEps);
        Positive(source, "rope_theta", RopeTheta);
        if (HiddenSize % NumAttentionHeads != 0)
            throw GlanceException.ForFile(source, $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (HeadDim % 2 != 0) throw GlanceException.ForFile(source, $"the head size {HeadDim} must be even for rotary embeddings");
        if (NumAttentionHeads % KeyValueHeads != 0)
            throw GlanceException.ForFile(source, $"num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {KeyValueHeads}");
        if (!Activations.IsKnown(HiddenAct))
            throw GlanceException.ForFile(source, $"hidden_act '{HiddenAct}' is not one of {string.Join(", ", Activations.Known)}");
        if (PretrainingTp != 1) throw GlanceException.ForFile(source, $"pretraining_tp {PretrainingTp} is not supported (only 1)");
        if (AttentionDropout is < 0 or >= 1) throw GlanceException.ForFile(source, $"attention_dropout must be in [0, 1), got {AttentionDropout}");
        if (PadTokenId is { } pad && (pad < 0 || pad >= VocabSize)) throw GlanceException.ForFile(source, $"pad_token_id {pad} is outside the vocabulary of {VocabSize}");
        // HF's _rope_scaling_validation: a known type and a float factor > 1.
        if (RopeScaling is { } rs)
        {
            if (rs.Type is not ("linear" or "dynamic"))
                throw GlanceException.ForFile(source, $"rope_scaling.type '{rs.Type}' is not one of linear, dynamic");
            if (!(rs.Factor > 1)) throw GlanceException.ForFile(source, $"rope_scaling.factor must be a number > 1, got {rs.Factor}");
        }
        return this;
    }

    public static LlamaConfig FromJson(JsonObject root, string source)
    {
        var type = ConfigJson.ModelType(root);
        if (type != "llama") throw GlanceException.ForFile(source, $"model_type is '{type}', expected 'llama'");
        return ConfigJson.Bind<LlamaConfig>(root, source).Validate(source);
    }

    /// <summary>From a config.json file, or the config.json in a model folder.</summary>
    public static LlamaConfig FromFile(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        return FromJson(ConfigJson.ReadObject(path), path);
    }
}

/// <summary>HF <c>LlamaRMSNorm</c>: x / √(mean(x²) + ε) in float32, back to the input dtype, times weight.</summary>
public sealed class LlamaRmsNorm : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    private readonly double _eps;

    public LlamaRmsNorm(long dim, double eps, Device? device, ScalarType dtype) : base(nameof(LlamaRmsNorm))
    {
        _eps = eps;
        weight = Layers.EmptyParameter([dim], device, dtype);
        using (no_grad()) weight.fill_(1.0);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x.to_type(ScalarType.Float32);
        var variance = h.pow(2).mean([-1], keepdim: true);
        h = h * rsqrt(variance + _eps);
        return (weight * h.to_type(x.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// HF <c>LlamaRotaryEmbedding</c> and its two scaled kinds, as transformers 4.36 computes them: angles
/// position·θ_i with θ_i = base^(−2i/d) in float32 (linear: position/factor; dynamic: once the sequence
/// passes max_position_embeddings, base·((factor·len/max) − (factor − 1))^(d/(d−2)), recomputed as it
/// grows). cos/sin are computed for the positions asked (the same float32 products as HF's cached table).
/// Departure: HF's dynamic module keeps the largest base it has seen for every later call, even a short
/// one; here the base follows the length of the sequence being decoded (cached + new tokens), which is
/// the same within one generation and does not leak one request's length into the next.
/// Not a checkpoint entry (HF's inv_freq is a non-persistent buffer).
/// </summary>
public sealed class LlamaRotaryEmbedding
{
    private readonly int _dim;
    private readonly double _base;
    private readonly int _maxPositions;
    private readonly RopeScaling? _scaling;

    public LlamaRotaryEmbedding(int dim, int maxPositions, double ropeBase, RopeScaling? scaling)
    {
        if (scaling is { Type: not ("linear" or "dynamic") }) throw new GlanceException($"rope_scaling.type '{scaling.Type}' is not one of linear, dynamic");
        _dim = dim; _maxPositions = maxPositions; _base = ropeBase; _scaling = scaling;
    }

    public static LlamaRotaryEmbedding For(LlamaConfig c) => new(c.HeadDim, c.MaxPositionEmbeddings, c.RopeTheta, c.RopeScaling);

    /// <summary>The base for a sequence of <paramref name="seqLen"/> tokens (dynamic NTK scaling past max_position_embeddings).</summary>
    public double BaseFor(long seqLen)
    {
        if (_scaling is not { Type: "dynamic" } s || seqLen <= _maxPositions) return _base;
        return _base * Math.Pow(s.Factor * seqLen / _maxPositions - (s.Factor - 1), (double)_dim / (_dim - 2));
    }

    /// <summary>
    /// cos and sin [B, T, head_dim] (float32 cast to <paramref name="dtype"/>, as HF's <c>.to(dtype)</c>)
    /// for <paramref name="positions"/> [B, T] in a sequence of <paramref name="seqLen"/> tokens.
    /// </summary>
    public (Tensor Cos, Tensor Sin) Compute(Tensor positions, long seqLen, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var device = positions.device;
        // inv_freq = 1 / base^(arange(0, d, 2)/d), in float32 as HF computes it.
        var exponents = arange(0, _dim, 2, ScalarType.Int64, device).to_type(ScalarType.Float32) / _dim;
        var invFreq = pow(tensor((float)BaseFor(seqLen), ScalarType.Float32, device), exponents).reciprocal();
        var t = positions.to_type(ScalarType.Float32);
        if (_scaling is { Type: "linear" } lin) t = t / lin.Factor;
        var freqs = t.unsqueeze(-1) * invFreq;                 // [B, T, d/2]: HF's outer(t, inv_freq)
        var emb = cat([freqs, freqs], -1);                    // [B, T, d]
        var cos = emb.cos().to_type(dtype);
        var sin = emb.sin().to_type(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>HF <c>rotate_half</c>: (x1, x2) → (−x2, x1) over the two halves of the last dimension.</summary>
    public static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
    }

    /// <summary>HF <c>apply_rotary_pos_emb</c> on [B, heads, T, d] with cos/sin [B, T, d].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        return (x * c + RotateHalf(x) * s).MoveToOuterDisposeScope();
    }
}

/// <summary>Per-forward state every decoder layer shares: mask (or causal flag), cos/sin, the cache.</summary>
public sealed record LlamaLayerContext(Tensor? Mask, bool IsCausal, Tensor Cos, Tensor Sin, KvCache? Cache, int LayerIndex);

/// <summary>
/// HF <c>LlamaAttention</c> with grouped-query attention: num_key_value_heads K/V heads, each shared by
/// heads/kv_heads query heads (HF's <c>repeat_kv</c>). The cache holds the kv heads only.
/// </summary>
public sealed class LlamaAttention : nn.Module<Tensor, LlamaLayerContext, Tensor>
{
    public Linear q_proj, k_proj, v_proj, o_proj;
    private readonly int _heads, _kvHeads, _headDim;
    private readonly double _dropout;

    public LlamaAttention(LlamaConfig c, Device? device, ScalarType dtype) : base(nameof(LlamaAttention))
    {
        _heads = c.NumAttentionHeads; _kvHeads = c.KeyValueHeads; _headDim = c.HeadDim;
        _dropout = c.AttentionDropout;
        q_proj = Layers.Linear(c.HiddenSize, _heads * _headDim, c.AttentionBias, device, dtype);
        k_proj = Layers.Linear(c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, device, dtype);
        v_proj = Layers.Linear(c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, device, dtype);
        o_proj = Layers.Linear(_heads * _headDim, c.HiddenSize, c.AttentionBias, device, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, hidden]</param>
    public override Tensor forward(Tensor x, LlamaLayerContext ctx)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, _heads, _headDim).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        q = LlamaRotaryEmbedding.Apply(q, ctx.Cos, ctx.Sin);
        k = LlamaRotaryEmbedding.Apply(k, ctx.Cos, ctx.Sin);
        if (ctx.Cache is { } cache) (k, v) = cache.Append(ctx.LayerIndex, k, v);
        k = RepeatKv(k);
        v = RepeatKv(v);
        // softmax(QKᵀ/√d + mask)·V (SDPA's default scale is HF's 1/√head_dim).
        var o = CpuGemm.Attention(q, k, v, ctx.Mask, training ? _dropout : 0.0, ctx.IsCausal);
        o = o.transpose(1, 2).reshape(b, t, _heads * _headDim);
        return o_proj.forward(o).MoveToOuterDisposeScope();
    }

    /// <summary>HF <c>repeat_kv</c>: [B, kv, S, d] → [B, kv·n_rep, S, d], each kv head repeated for its query group.</summary>
    private Tensor RepeatKv(Tensor kv)
    {
        int rep = _heads / _kvHeads;
        if (rep == 1) return kv;
        long b = kv.shape[0], s = kv.shape[2];
        return kv.unsqueeze(2).expand(b, _kvHeads, rep, s, _headDim).reshape(b, _heads, s, _headDim);
    }
}

/// <summary>HF <c>LlamaMLP</c> (SwiGLU): down_proj(act(gate_proj(x)) · up_proj(x)), no biases.</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    public Linear gate_proj, up_proj, down_proj;
    private readonly Func<Tensor, Tensor> _act;

    public LlamaMlp(LlamaConfig c, Device? device, ScalarType dtype) : base(nameof(LlamaMlp))
    {
        _act = Activations.Resolve(c.HiddenAct);
        gate_proj = Layers.Linear(c.HiddenSize, c.IntermediateSize, false, device, dtype);
        up_proj = Layers.Linear(c.HiddenSize, c.IntermediateSize, false, device, dtype);
        down_proj = Layers.Linear(c.IntermediateSize, c.HiddenSize, false, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(_act(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>HF <c>LlamaDecoderLayer</c>: pre-norm attention and MLP, each with a residual.</summary>
public sealed class LlamaDecoderLayer : nn.Module<Tensor, LlamaLayerContext, Tensor>
{
    public LlamaAttention self_attn;
    public LlamaMlp mlp;
    public LlamaRmsNorm input_layernorm, post_attention_layernorm;

    public LlamaDecoderLayer(LlamaConfig c, Device? device, ScalarType dtype) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(c, device, dtype);
        mlp = new LlamaMlp(c, device, dtype);
        input_layernorm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        post_attention_layernorm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, LlamaLayerContext ctx)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.forward(input_layernorm.forward(x), ctx);
        h = h + mlp.forward(post_attention_layernorm.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>HF <c>LlamaModel</c>: embed_tokens, the layers and the final norm (keys <c>model.*</c>).</summary>
public sealed class LlamaModel : nn.Module
{
    public LearnedEmbedding embed_tokens;
    public ModuleList<LlamaDecoderLayer> layers;
    public LlamaRmsNorm norm;
    private readonly LlamaRotaryEmbedding _rotary;

    public LlamaModel(LlamaConfig c, Device? device, ScalarType dtype) : base(nameof(LlamaModel))
    {
        embed_tokens = new LearnedEmbedding(c.VocabSize, c.HiddenSize, device, dtype);
        layers = new ModuleList<LlamaDecoderLayer>();
        for (int i = 0; i < c.NumHiddenLayers; i++) layers.Add(new LlamaDecoderLayer(c, device, dtype));
        norm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        _rotary = LlamaRotaryEmbedding.For(c);
        RegisterComponents();
    }

    /// <summary>
    /// The decoder stack over <paramref name="inputsEmbeds"/> [B, T, hidden] → final states [B, T, hidden].
    /// <paramref name="attentionMask"/> [B, past+T] covers cached and new tokens. Positions are the number
    /// of real tokens before each one, padding at 1, as HF's generate (<c>prepare_inputs_for_generation</c>)
    /// and LLaVA's merge compute them: <c>(mask.cumsum(-1) − 1).masked_fill(mask == 0, 1)</c>.
    /// </summary>
    internal Tensor Run(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0;
        var positions = (attentionMask.cumsum(1) - 1).masked_fill(attentionMask.eq(0), 1).narrow(1, past, t);

        // Mask: nothing for one token without padding, SDPA's causal flag for a fresh causal block, else
        // HF's combined additive mask (finfo.min where blocked: a padding query row attends uniformly).
        bool padded = attentionMask.eq(0).any().item<bool>();
        Tensor? mask = null;
        bool isCausal = false;
        if (padded || (t > 1 && past > 0))
            mask = AttentionMasks.CausalWithPadding(padded ? attentionMask : null, b, t, past, inputsEmbeds.dtype, inputsEmbeds.device);
        else if (t > 1)
            isCausal = true;
        return Stack(inputsEmbeds, positions, mask, isCausal, cache).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The decode step's path: <paramref name="positions"/> [B, T] and the <paramref name="additiveMask"/>
    /// [B, 1, T, past+T] (null: every key visible, or causal for a fresh block) come from the generator,
    /// made once per generation (OPT's <c>PositionIds</c>/<c>AdditiveMask</c>): no cumsum, no mask and no host
    /// sync per token. A real token's position is the same as <see cref="Run(Tensor, Tensor, KvCache)"/>'s.
    /// </summary>
    internal Tensor Run(Tensor inputsEmbeds, Tensor positions, Tensor? additiveMask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        bool isCausal = additiveMask is null && inputsEmbeds.shape[1] > 1;
        return Stack(inputsEmbeds, positions, additiveMask, isCausal, cache).MoveToOuterDisposeScope();
    }

    private Tensor Stack(Tensor inputsEmbeds, Tensor positions, Tensor? mask, bool isCausal, KvCache? cache)
    {
        long t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0;
        var (cos, sin) = _rotary.Compute(positions, past + t, inputsEmbeds.dtype);

        var h = inputsEmbeds;
        for (int i = 0; i < layers.Count; i++)
        {
            var next = layers[i].forward(h, new LlamaLayerContext(mask, isCausal, cos, sin, cache, i));
            if (!ReferenceEquals(h, inputsEmbeds)) h.Dispose();   // free each layer's input once the next exists
            h = next;
        }
        if (cache is not null) cache.Advance(t);
        return norm.forward(h);
    }
}

/// <summary>
/// HF <c>LlamaForCausalLM</c>: <c>model</c> and <c>lm_head</c> (untied in Llama-2 and TinyLlama; with
/// tie_word_embeddings, a real tie to <c>model.embed_tokens.weight</c>, as in <see cref="OptForCausalLM"/>).
/// Runs through the same <see cref="TextGenerator"/> as OPT.
/// </summary>
public sealed class LlamaForCausalLM : TiedHeadLM, ICausalLM
{
    public LlamaModel model;
    public Linear lm_head;

    public LlamaConfig Config { get; }

    /// <summary>A Llama with HF's initialisation (normal(0, initializer_range), unit norms), seeded by <paramref name="generator"/>.</summary>
    public LlamaForCausalLM(LlamaConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32, Generator? generator = null)
        : this(config, device, dtype, initialize: true, generator) { }

    internal LlamaForCausalLM(LlamaConfig config, Device? device, ScalarType dtype, bool initialize, Generator? generator = null)
        : base(nameof(LlamaForCausalLM))
    {
        Config = config.Validate();
        model = new LlamaModel(config, device, dtype);
        lm_head = config.TieWordEmbeddings
            ? new Linear(model.embed_tokens.weight)
            : Layers.Linear(config.HiddenSize, config.VocabSize, false, device, dtype);
        RegisterComponents();
        // The tied head is kept out of the registered submodules: state_dict and to() see the tensor once.
        if (config.TieWordEmbeddings) _internal_submodules.Remove("lm_head");
        if (initialize) InitWeights(generator);
    }

    /// <summary>HF <c>_init_weights</c>: Linear and Embedding weights normal(0, initializer_range), the padding row zero.</summary>
    public void InitWeights(Generator? g = null)
    {
        using var _ = no_grad();
        double std = Config.InitializerRange;
        model.embed_tokens.weight.normal_(0, std, g);
        if (Config.PadTokenId is { } pad) model.embed_tokens.weight[pad].zero_();
        foreach (var layer in model.layers)
            foreach (var lin in new[] { layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.o_proj,
                         layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj })
                Layers.InitNormal(lin, std, g);
        if (!Config.TieWordEmbeddings) Layers.InitNormal(lm_head, std, g);
    }

    protected override void Retie()
    {
        if (Config.TieWordEmbeddings && !ReferenceEquals(lm_head.weight, model.embed_tokens.weight))
            lm_head = new Linear(model.embed_tokens.weight);
    }

    public Tensor Embed(Tensor inputIds) => model.embed_tokens.forward(inputIds);
    public ScalarType DType => model.embed_tokens.weight.dtype;
    public Device Device => model.embed_tokens.weight.device;
    public int VocabSize => Config.VocabSize;
    public int EmbeddingDim => Config.HiddenSize;

    /// <summary>A cache of num_key_value_heads heads with room for <paramref name="maxLength"/> tokens per row.</summary>
    public KvCache NewCache(long batch, long maxLength) =>
        new(Config.NumHiddenLayers, batch, Config.KeyValueHeads, maxLength, Config.HeadDim, DType, Device);

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
            throw new GlanceException("Llama: give exactly one of input_ids and inputs_embeds");
        if (input.OutputAttentions) throw new GlanceException("Llama: attention maps are not implemented for Llama");
        long past = input.Cache?.Length ?? 0;
        long b, t;
        if (input.InputIds is { } ids)
        {
            if (ids.dim() != 2) throw new GlanceException($"Llama: input_ids has shape [{string.Join(", ", ids.shape)}], expected [B, T]");
            (b, t) = (ids.shape[0], ids.shape[1]);
        }
        else
        {
            var e = input.InputsEmbeds!;
            if (e.dim() != 3 || e.shape[2] != c.HiddenSize)
                throw new GlanceException($"Llama: inputs_embeds has shape [{string.Join(", ", e.shape)}], expected [B, T, {c.HiddenSize}]");
            (b, t) = (e.shape[0], e.shape[1]);
        }
        if (t == 0) throw new GlanceException("Llama: no input tokens");
        if (input.PositionIds is { } pid && (pid.dim() != 2 || pid.shape[0] != b || pid.shape[1] != t))
            throw new GlanceException($"Llama: position_ids has shape [{string.Join(", ", pid.shape)}], expected [{b}, {t}]");
        if (input.AdditiveMask is { } am4 && (input.PositionIds is null || am4.dim() != 4 || am4.shape[0] != b || am4.shape[2] != t || am4.shape[3] != past + t))
            throw new GlanceException($"Llama: the additive mask has shape [{string.Join(", ", am4.shape)}], expected [{b}, 1, {t}, {past + t}] with position_ids");
        if (input.AttentionMask is { } m && (m.dim() != 2 || m.shape[0] != b || m.shape[1] != past + t))
            throw new GlanceException($"Llama: attention_mask has shape [{string.Join(", ", m.shape)}], expected [{b}, {past + t}] (cached + new tokens)");
        if (input.Cache is { } cache && (cache.Batch != b || cache.Heads != c.KeyValueHeads || cache.HeadDim != c.HeadDim))
            throw new GlanceException($"Llama: the KV cache holds [{cache.Batch}, {cache.Heads}, ·, {cache.HeadDim}] but the input needs [{b}, {c.KeyValueHeads}, ·, {c.HeadDim}]");
        if (input.Labels is { } l && !l.shape.SequenceEqual(new[] { b, t }))
            throw new GlanceException($"Llama: labels has shape [{string.Join(", ", l.shape)}], expected [{b}, {t}]");

        using var scope = NewDisposeScope();
        var dtype = DType;
        var embeds = input.InputsEmbeds is { } x ? (x.dtype == dtype ? x : x.to_type(dtype)) : Embed(input.InputIds!);
        var h = input.PositionIds is { } positions
            ? model.Run(embeds, positions, input.AdditiveMask, input.Cache)
            : model.Run(embeds, input.AttentionMask is { } am
                ? (am.dtype == ScalarType.Int64 ? am : am.to_type(ScalarType.Int64))
                : ones([b, past + t], ScalarType.Int64, embeds.device), input.Cache);
        if (input.LastPositionOnly) h = h.narrow(1, t - 1, 1);   // generation needs only the last position's (V-wide) head
        var logits = lm_head.forward(h);
        Tensor? loss = null;
        if (input.Labels is { } labels)
        {
            if (input.LastPositionOnly) throw new GlanceException("Llama: labels need the logits of every position");
            var shiftLogits = logits.narrow(1, 0, t - 1).reshape(-1, c.VocabSize).to_type(ScalarType.Float32);
            var shiftLabels = labels.narrow(1, 1, t - 1).reshape(-1).to(logits.device);
            loss = nn.functional.cross_entropy(shiftLogits, shiftLabels, ignore_index: -100);
        }
        return new OptOutput { Logits = logits.MoveToOuterDisposeScope(), Loss = loss?.MoveToOuterDisposeScope() };
    }

    // ---- loading -------------------------------------------------------------------------------

    /// <summary>Keys older checkpoints carry that the model does not (HF's non-persistent rotary inv_freq).</summary>
    private static bool IsRotaryBuffer(string key) => key.EndsWith(".self_attn.rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>Loads an HF Llama folder (config.json + safetensors, sharded or not).</summary>
    public static LlamaForCausalLM FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var config = LlamaConfig.FromFile(folder);
        using var ck = Checkpoint.Open(folder);
        return Load(config, ck, "", device, dtype);
    }

    /// <summary>
    /// Builds a Llama from <paramref name="config"/> and loads it strictly from the keys under
    /// <paramref name="prefix"/> (<c>language_model.</c> in a LLaVA checkpoint). With tied embeddings a
    /// stored <c>lm_head.weight</c> is ignored, as transformers' <c>tie_weights()</c> ignores it.
    /// </summary>
    public static LlamaForCausalLM Load(LlamaConfig config, Checkpoint checkpoint, string prefix = "", Device? device = null,
        ScalarType dtype = ScalarType.Float32)
    {
        var lm = new LlamaForCausalLM(config, device, dtype, initialize: false);
        try
        {
            var ignore = checkpoint.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && IsRotaryBuffer(k))
                .Select(k => k[prefix.Length..]).ToList();
            if (config.TieWordEmbeddings) ignore.Add("lm_head.weight");
            checkpoint.LoadInto(lm, prefix, ignore);
            lm.eval();
            return lm;
        }
        catch
        {
            lm.Dispose();
            throw;
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        // The tied head is not registered, so the base did not dispose it (its weight is already disposed).
        if (disposing && Config.TieWordEmbeddings) lm_head.Dispose();
    }
}
