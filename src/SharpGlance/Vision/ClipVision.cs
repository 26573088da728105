using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.IO;
using SharpGlance.Nn;
using TorchSharp;
using TorchSharp.Modules;
using Linear = SharpGlance.Nn.Linear;
using static TorchSharp.torch;

namespace SharpGlance.Vision;

// Field names are Hugging Face checkpoint keys (self_attn, pre_layrnorm): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

// CLIP vision transformer (HF transformers `modeling_clip.py`: CLIPVisionEmbeddings → pre_layrnorm →
// CLIPEncoder → post_layernorm on the pooled CLS token), SPEC §2. Module fields are the checkpoint keys
// without the `vision_model.` prefix. The encoder pieces (attention, MLP, layer, encoder) are shared with
// the text tower in ClipText.cs.

/// <summary>The sizes an encoder tower needs; both CLIP tower configs provide them.</summary>
public interface IClipEncoderConfig
{
    int HiddenSize { get; }
    int IntermediateSize { get; }
    int NumHiddenLayers { get; }
    int NumAttentionHeads { get; }
    string HiddenAct { get; }
    double LayerNormEps { get; }
    double AttentionDropout { get; }
    double InitializerFactor { get; }
}

/// <summary>
/// HF <c>CLIPVisionConfig</c> (transformers 4.36 defaults for absent fields). Reads a
/// <c>clip_vision_model</c> config.json or the <c>vision_config</c> of a full <c>clip</c> config.
/// </summary>
public sealed record ClipVisionConfig : IClipEncoderConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "clip_vision_model";
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 32;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("initializer_factor")] public double InitializerFactor { get; init; } = 1.0;

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;
    [JsonIgnore] public int GridSize => ImageSize / PatchSize;
    [JsonIgnore] public int NumPatches => GridSize * GridSize;
    /// <summary>Patches + the CLS token: the sequence length of every hidden state.</summary>
    [JsonIgnore] public int NumPositions => NumPatches + 1;

    /// <summary>openai/clip-vit-large-patch14-336, the paper's frozen tower: 24 layers, 577 tokens of width 1024.</summary>
    public static ClipVisionConfig VitL14_336 => new()
    {
        HiddenSize = 1024, IntermediateSize = 4096, ProjectionDim = 768, NumHiddenLayers = 24,
        NumAttentionHeads = 16, ImageSize = 336, PatchSize = 14,
    };

    /// <summary>A tiny tower for tests: 56 px, patch 14 (16 patches + CLS), width 32, 4 layers.</summary>
    public static ClipVisionConfig Tiny => new()
    {
        HiddenSize = 32, IntermediateSize = 64, ProjectionDim = 16, NumHiddenLayers = 4,
        NumAttentionHeads = 4, ImageSize = 56, PatchSize = 14,
    };

    /// <summary>Throws a <see cref="GlanceException"/> naming the first bad field.</summary>
    /// <summary>Patches per side at most (ViT-L/14-336 has 24; 64 is a 896-px ViT/14).</summary>
    public const int MaxGridSide = 64;

    public ClipVisionConfig Validate(string source = "vision config")
    {
        static void Positive(string source, string field, double v)
        {
            if (!(v > 0)) throw GlanceException.ForFile(source, $"{field} must be positive, got {v}");
        }
        Positive(source, "hidden_size", HiddenSize);
        Positive(source, "intermediate_size", IntermediateSize);
        Positive(source, "num_hidden_layers", NumHiddenLayers);
        Positive(source, "num_attention_heads", NumAttentionHeads);
        Positive(source, "num_channels", NumChannels);
        Positive(source, "patch_size", PatchSize);
        Positive(source, "layer_norm_eps", LayerNormEps);
        if (ImageSize < PatchSize) throw GlanceException.ForFile(source, $"image_size {ImageSize} is smaller than patch_size {PatchSize}");
        // Attention is quadratic in the patches: 100000 px at patch 14 would ask libtorch for terabytes.
        if (ImageSize / PatchSize > MaxGridSide)
            throw GlanceException.ForFile(source, $"image_size {ImageSize} / patch_size {PatchSize} is a {ImageSize / PatchSize}-patch side, above the limit of {MaxGridSide} ({MaxGridSide * MaxGridSide:N0} patches)");
        if (HiddenSize % NumAttentionHeads != 0)
            throw GlanceException.ForFile(source, $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (!Activations.IsKnown(HiddenAct)) throw GlanceException.ForFile(source, $"hidden_act '{HiddenAct}' is not one of {string.Join(", ", Activations.Known)}");
        if (AttentionDropout is < 0 or >= 1) throw GlanceException.ForFile(source, $"attention_dropout must be in [0, 1), got {AttentionDropout}");
        return this;
    }

    /// <summary>From a parsed config: the object itself, or its <c>vision_config</c> when it is a full CLIP config.</summary>
    public static ClipVisionConfig FromJson(JsonObject root, string source)
    {
        JsonNode node = root;
        if (ConfigJson.ModelType(root) == "clip" || root["vision_config"] is JsonObject)
            node = root["vision_config"] as JsonObject ?? new JsonObject();
        return ConfigJson.Bind<ClipVisionConfig>(node, source).Validate(source);
    }

    /// <summary>From a config.json file, or the config.json in a model folder.</summary>
    public static ClipVisionConfig FromFile(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        return FromJson(ConfigJson.ReadObject(path), path);
    }
}

/// <summary>HF <c>CLIPAttention</c>: multi-head self-attention, q/k/v/out projections with bias.</summary>
public sealed class ClipAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    // Declaration order = HF's (k, v, q, out), so state_dict order matches too.
    public Linear k_proj, v_proj, q_proj, out_proj;
    private readonly int _heads;
    private readonly double _dropout;

    // q, k, v side by side in one buffer: one GEMM at inference (see PackedLinears). Set after
    // RegisterComponents so that it is not a module component; its parts are the three fields above.
    private readonly PackedLinears _qkv;

    public ClipAttention(IClipEncoderConfig c, Device? device, ScalarType dtype) : base(nameof(ClipAttention))
    {
        _heads = c.NumAttentionHeads;
        _dropout = c.AttentionDropout;
        var qkv = new PackedLinears(c.HiddenSize, c.HiddenSize, 3, true, device, dtype);
        (q_proj, k_proj, v_proj) = (qkv.Parts[0], qkv.Parts[1], qkv.Parts[2]);
        out_proj = Layers.Linear(c.HiddenSize, c.HiddenSize, true, device, dtype);
        RegisterComponents();
        _qkv = qkv;
    }

    /// <param name="x">[B, T, D]</param>
    /// <param name="mask">additive [B or 1, 1, T, T] or null</param>
    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / _heads;
        Tensor q, k, v;
        if (_qkv.TryForward(x) is { } fused)   // [B, T, 3D]: q | k | v
        {
            q = fused.narrow(-1, 0, d).view(b, t, _heads, hd).transpose(1, 2);
            k = fused.narrow(-1, d, d).view(b, t, _heads, hd).transpose(1, 2);
            v = fused.narrow(-1, 2 * d, d).view(b, t, _heads, hd).transpose(1, 2);
        }
        else
        {
            q = q_proj.forward(x).view(b, t, _heads, hd).transpose(1, 2);
            k = k_proj.forward(x).view(b, t, _heads, hd).transpose(1, 2);
            v = v_proj.forward(x).view(b, t, _heads, hd).transpose(1, 2);
        }
        // SDPA scales q·k by head_dim^-0.5 as HF's `q_proj(x) * scale` does (same value, ≤1 ulp apart).
        var o = nn.functional.scaled_dot_product_attention(q, k, v, mask, training ? _dropout : 0.0);
        o = o.transpose(1, 2).reshape(b, t, d);
        return out_proj.forward(o).MoveToOuterDisposeScope();
    }

    /// <summary>q | k | v projections as one product [.., 3D], or null where that path does not apply (for the profiler and tests).</summary>
    internal Tensor? PackedQkv(Tensor x) => _qkv.TryForward(x);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _qkv.Dispose();
    }
}

/// <summary>HF <c>CLIPMLP</c>: fc1 → activation (quick_gelu for OpenAI CLIP) → fc2.</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    public Linear fc1, fc2;
    private readonly Func<Tensor, Tensor> _act;

    public ClipMlp(IClipEncoderConfig c, Device? device, ScalarType dtype) : base(nameof(ClipMlp))
    {
        _act = Activations.Resolve(c.HiddenAct);
        fc1 = Layers.Linear(c.HiddenSize, c.IntermediateSize, true, device, dtype);
        fc2 = Layers.Linear(c.IntermediateSize, c.HiddenSize, true, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(_act(fc1.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>HF <c>CLIPEncoderLayer</c>: pre-LN block, LN → attention → residual; LN → MLP → residual.</summary>
public sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor?, Tensor>
{
    public ClipAttention self_attn;
    public LayerNorm layer_norm1;
    public ClipMlp mlp;
    public LayerNorm layer_norm2;

    public ClipEncoderLayer(IClipEncoderConfig c, Device? device, ScalarType dtype) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(c, device, dtype);
        layer_norm1 = Layers.LayerNorm(c.HiddenSize, c.LayerNormEps, true, device, dtype);
        mlp = new ClipMlp(c, device, dtype);
        layer_norm2 = Layers.LayerNorm(c.HiddenSize, c.LayerNormEps, true, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.forward(layer_norm1.forward(x), mask);
        h = h + mlp.forward(layer_norm2.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// HF <c>CLIPEncoder</c>: the stack <c>layers.N</c>. <paramref name="buildLayers"/> &lt; N builds only the
/// first blocks (an inference tower that stops at a tapped layer, SPEC §2); their keys are unchanged.
/// </summary>
public sealed class ClipEncoder : nn.Module<Tensor, Tensor?, Tensor>
{
    public ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(IClipEncoderConfig c, Device? device, ScalarType dtype, int? buildLayers = null) : base(nameof(ClipEncoder))
    {
        int n = Math.Min(buildLayers ?? c.NumHiddenLayers, c.NumHiddenLayers);
        layers = new ModuleList<ClipEncoderLayer>();
        for (int i = 0; i < n; i++) layers.Add(new ClipEncoderLayer(c, device, dtype));
        RegisterComponents();
    }

    /// <summary>All layers, output of the last.</summary>
    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var layer in layers) h = layer.forward(h, mask);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>HF's CLIP <c>_init_weights</c> for the attention and MLP of every layer.</summary>
    internal void InitWeights(IClipEncoderConfig c, Generator? g)
    {
        double f = c.InitializerFactor;
        double inProjStd = Math.Pow(c.HiddenSize, -0.5) * Math.Pow(2.0 * c.NumHiddenLayers, -0.5) * f;
        double outProjStd = Math.Pow(c.HiddenSize, -0.5) * f;
        double fcStd = Math.Pow(2.0 * c.HiddenSize, -0.5) * f;
        foreach (var layer in layers)
        {
            Layers.InitNormal(layer.self_attn.q_proj, inProjStd, g);
            Layers.InitNormal(layer.self_attn.k_proj, inProjStd, g);
            Layers.InitNormal(layer.self_attn.v_proj, inProjStd, g);
            Layers.InitNormal(layer.self_attn.out_proj, outProjStd, g);
            Layers.InitNormal(layer.mlp.fc1, fcStd, g);
            Layers.InitNormal(layer.mlp.fc2, inProjStd, g);
            Layers.InitLayerNorm(layer.layer_norm1);
            Layers.InitLayerNorm(layer.layer_norm2);
        }
    }
}

/// <summary>HF <c>CLIPVisionEmbeddings</c>: patch conv (no bias) → prepend CLS → add learned positions.</summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    public Parameter class_embedding;
    public Conv2d patch_embedding;
    public LearnedEmbedding position_embedding;
    // HF's `position_ids` buffer is non-persistent (and absent from new checkpoints); positions are always
    // 0..N-1 here, so the whole table is added instead of looking rows up.

    public ClipVisionEmbeddings(ClipVisionConfig c, Device? device, ScalarType dtype) : base(nameof(ClipVisionEmbeddings))
    {
        class_embedding = Layers.EmptyParameter([c.HiddenSize], device, dtype);
        patch_embedding = nn.Conv2d(c.NumChannels, c.HiddenSize, c.PatchSize, stride: c.PatchSize, bias: false, device: device, dtype: dtype);
        position_embedding = new LearnedEmbedding(c.NumPositions, c.HiddenSize, device, dtype);
        RegisterComponents();
    }

    /// <param name="pixels">[B, C, S, S] already in the weights' dtype</param>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        long b = pixels.shape[0];
        var patches = patch_embedding.forward(pixels).flatten(2).transpose(1, 2);    // [B, N, D]
        var cls = class_embedding.view(1, 1, -1).expand(b, 1, -1);
        var h = cat([cls, patches], 1) + position_embedding.weight.unsqueeze(0);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// What the vision tower returns. <see cref="HiddenStates"/> is keyed by HF's <c>hidden_states</c> index:
/// 0 = the <c>pre_layrnorm</c> output, k = block k's output (SPEC §2). Only the requested indices are
/// present. <see cref="LastHiddenState"/> (= hidden_states[N]) and <see cref="PoolerOutput"/>
/// (post_layernorm of the CLS token) are null when the run stopped before block N.
/// </summary>
public sealed class ClipVisionOutput : IDisposable
{
    public IReadOnlyDictionary<int, Tensor> HiddenStates { get; }
    public Tensor? LastHiddenState { get; }
    public Tensor? PoolerOutput { get; }
    public int NumLayers { get; }

    internal ClipVisionOutput(IReadOnlyDictionary<int, Tensor> hidden, Tensor? last, Tensor? pooled, int numLayers)
    {
        HiddenStates = hidden; LastHiddenState = last; PoolerOutput = pooled; NumLayers = numLayers;
    }

    /// <summary><c>hidden_states[index]</c>, negative indices from the end as in Python (−1 = N, −2 = N−1).</summary>
    public Tensor Hidden(int index)
    {
        int k = index < 0 ? NumLayers + 1 + index : index;
        return HiddenStates.TryGetValue(k, out var t) ? t
            : throw new ArgumentException($"hidden_states[{index}] was not requested (have {string.Join(", ", HiddenStates.Keys)})");
    }

    public void Dispose()
    {
        var all = HiddenStates.Values.Append(LastHiddenState).Append(PoolerOutput).OfType<Tensor>().Distinct<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var t in all) t.Dispose();
    }
}

/// <summary>
/// HF <c>CLIPVisionTransformer</c> (the part under <c>vision_model.</c>): fields <c>embeddings</c>,
/// <c>pre_layrnorm</c> (sic, it is the key), <c>encoder</c>, <c>post_layernorm</c>.
/// A tower built for inference up to a tapped layer k &lt; N (<see cref="BuiltLayers"/>) holds only blocks
/// 1..k and no <c>post_layernorm</c>: LLaVA's select layer −2 never runs ViT-L's block 24 (~50 MB of fp32
/// weights). Its hidden_states indices are those of the full tower.
/// </summary>
public sealed class ClipVisionModel : nn.Module<Tensor, ClipVisionOutput>
{
    public ClipVisionEmbeddings embeddings;
    public LayerNorm pre_layrnorm;
    public ClipEncoder encoder;
    public LayerNorm? post_layernorm;

    public ClipVisionConfig Config { get; }

    /// <summary>Blocks present: <c>Config.NumHiddenLayers</c> for a full tower, fewer for a trimmed one.</summary>
    public int BuiltLayers => encoder.layers.Count;

    /// <summary>True when blocks (and post_layernorm) after a tapped layer were left out.</summary>
    public bool IsTrimmed => BuiltLayers < Config.NumHiddenLayers;

    /// <summary>A randomly initialised tower (HF's <c>_init_weights</c>); <paramref name="generator"/> seeds it.</summary>
    public ClipVisionModel(ClipVisionConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32, Generator? generator = null)
        : this(config, device, dtype, initialize: true, generator) { }

    /// <param name="buildLayers">Blocks to build (null or ≥ N: all, with post_layernorm); see <see cref="BuiltLayers"/>.</param>
    internal ClipVisionModel(ClipVisionConfig config, Device? device, ScalarType dtype, bool initialize, Generator? generator = null, int? buildLayers = null)
        : base(nameof(ClipVisionModel))
    {
        Config = config.Validate();
        if (buildLayers is < 0) throw new ArgumentException($"CLIP vision tower: cannot build {buildLayers} layers");
        int built = Math.Min(buildLayers ?? config.NumHiddenLayers, config.NumHiddenLayers);
        embeddings = new ClipVisionEmbeddings(config, device, dtype);
        pre_layrnorm = Layers.LayerNorm(config.HiddenSize, config.LayerNormEps, true, device, dtype);
        encoder = new ClipEncoder(config, device, dtype, built);
        post_layernorm = built == config.NumHiddenLayers ? Layers.LayerNorm(config.HiddenSize, config.LayerNormEps, true, device, dtype) : null;
        RegisterComponents();
        if (initialize) InitWeights(generator);
    }

    /// <summary>HF's CLIP <c>_init_weights</c> for the vision tower.</summary>
    public void InitWeights(Generator? g = null)
    {
        using var _ = no_grad();
        var c = Config;
        embeddings.class_embedding.normal_(0, Math.Pow(c.HiddenSize, -0.5) * c.InitializerFactor, g);
        embeddings.patch_embedding.weight!.normal_(0, c.InitializerRange * c.InitializerFactor, g);
        embeddings.position_embedding.weight.normal_(0, c.InitializerRange * c.InitializerFactor, g);
        Layers.InitLayerNorm(pre_layrnorm);
        if (post_layernorm is not null) Layers.InitLayerNorm(post_layernorm);
        encoder.InitWeights(c, g);
    }

    /// <summary>Every hidden state, the last one and the pooled output.</summary>
    public override ClipVisionOutput forward(Tensor pixelValues) => Forward(pixelValues);

    /// <summary>
    /// Runs the tower on <paramref name="pixelValues"/> [B, C, S, S]. With <paramref name="layers"/> given
    /// (indices into hidden_states, negatives from the end) only those are kept and the blocks after the
    /// highest one are not run (SPEC §2: the paper taps layers 13, 18, 23 of 24). The last hidden state
    /// and the pooled output come back only when block N ran.
    /// </summary>
    public ClipVisionOutput Forward(Tensor pixelValues, IReadOnlyCollection<int>? layers = null)
    {
        var c = Config;
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != c.NumChannels || pixelValues.shape[2] != c.ImageSize || pixelValues.shape[3] != c.ImageSize)
            throw new GlanceException($"CLIP vision tower: pixel_values has shape [{string.Join(", ", pixelValues.shape)}], expected [B, {c.NumChannels}, {c.ImageSize}, {c.ImageSize}]");
        int n = c.NumHiddenLayers;
        HashSet<int> keep;
        if (layers is null) keep = Enumerable.Range(0, n + 1).ToHashSet();
        else
        {
            keep = new HashSet<int>();
            foreach (var l in layers)
            {
                int k = l < 0 ? n + 1 + l : l;
                if (k < 0 || k > n) throw new GlanceException($"CLIP vision tower: hidden_states[{l}] does not exist (the tower has {n} layers: indices 0..{n} or -{n + 1}..-1)");
                keep.Add(k);
            }
            if (keep.Count == 0) throw new GlanceException("CLIP vision tower: no layer requested");
        }
        int last = keep.Max();
        if (last > BuiltLayers)
            throw new GlanceException($"CLIP vision tower: hidden_states[{last}] was asked for, but this tower was built for inference up to layer {BuiltLayers} (load it untrimmed)");

        using var scope = NewDisposeScope();
        var weightDtype = embeddings.class_embedding.dtype;
        var x = pixelValues.dtype == weightDtype ? pixelValues : pixelValues.to_type(weightDtype);
        Tensor h;
        using (var embedded = embeddings.forward(x)) h = pre_layrnorm.forward(embedded);
        var hidden = new Dictionary<int, Tensor>();
        if (keep.Contains(0)) hidden[0] = h;
        for (int i = 0; i < last; i++)
        {
            var next = encoder.layers[i].forward(h, null);
            // Free each hidden state nobody asked for as soon as the next exists, instead of holding all
            // 23 of ViT-L (54 MB at batch 1) to the end. (Autograd keeps its own references.)
            if (!keep.Contains(i)) h.Dispose();
            h = next;
            if (keep.Contains(i + 1)) hidden[i + 1] = h;
        }
        Tensor? lastHidden = null, pooled = null;
        if (last == n)
        {
            lastHidden = h;
            pooled = post_layernorm!.forward(h.select(1, 0));
        }
        foreach (var t in hidden.Values.Append(lastHidden).Append(pooled).OfType<Tensor>().Distinct<Tensor>(ReferenceEqualityComparer.Instance))
            t.MoveToOuterDisposeScope();
        return new ClipVisionOutput(hidden, lastHidden, pooled, n);
    }

    // ---- loading -------------------------------------------------------------------------------

    /// <summary>Keys old HF checkpoints carry that the model does not (the non-persistent position_ids).</summary>
    internal static readonly string[] IgnoredKeys = ["embeddings.position_ids"];

    /// <summary>
    /// Loads a tower from a folder holding a <c>clip_vision_model</c> or full <c>clip</c> config.json and its
    /// safetensors. Keys may carry the <c>vision_model.</c> prefix or not; a full CLIPModel's text tower
    /// and projections are ignored (SPEC §1).
    /// </summary>
    public static ClipVisionModel FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32, int? buildLayers = null)
    {
        var configPath = Path.Combine(folder, "config.json");
        var config = ClipVisionConfig.FromJson(ConfigJson.ReadObject(configPath), configPath);
        using var ck = Checkpoint.Open(folder);
        return Load(config, ck, DetectPrefix(ck), device, dtype, buildLayers);
    }

    /// <summary>"vision_model." when the checkpoint's keys carry it, else "".</summary>
    public static string DetectPrefix(Checkpoint ck) =>
        ck.Contains("vision_model.embeddings.patch_embedding.weight") ? "vision_model." : "";

    /// <summary>
    /// Builds a tower from <paramref name="config"/> and loads it strictly from the keys under
    /// <paramref name="prefix"/> (e.g. <c>model.vision_tower.vision_tower.vision_model.</c> in a LLaVA save).
    /// With <paramref name="buildLayers"/> k &lt; N only blocks 1..k are built and read; the checkpoint's
    /// later blocks and post_layernorm are skipped (never loaded into memory).
    /// </summary>
    public static ClipVisionModel Load(ClipVisionConfig config, Checkpoint checkpoint, string prefix, Device? device = null,
        ScalarType dtype = ScalarType.Float32, int? buildLayers = null)
    {
        var model = new ClipVisionModel(config, device, dtype, initialize: false, buildLayers: buildLayers);
        try
        {
            var ignored = IgnoredKeys.ToList();
            if (model.IsTrimmed)
            {
                for (int i = model.BuiltLayers; i < config.NumHiddenLayers; i++) ignored.Add($"encoder.layers.{i}.");
                ignored.Add("post_layernorm.");
            }
            checkpoint.LoadInto(model, prefix, ignored);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
