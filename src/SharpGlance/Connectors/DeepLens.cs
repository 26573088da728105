using SharpGlance.IO;
using SharpGlance.Nn;
using TorchSharp;
using TorchSharp.Modules;
using Linear = TorchSharp.Modules.Linear;   // libtorch's; DeepLens has not been moved onto Nn.Linear's OpenBLAS path (it would change its fp32 bits)
using static TorchSharp.torch;

namespace SharpGlance.Connectors;

// Field names are the released checkpoint's keys (self_attn, encoder_attn, llm_proj): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

// DeepLens, the second-glance connector (SPEC §8). Reading order: its config (DeepLensConfig.cs) → sine
// positions → attention → decoder layer → decoder → the released DETR-style DeepLens; the paper-text
// BERT-style variant's encoder and forward are in DeepLensBert.cs. Activations and attention masks are the
// shared ones of Nn/.
//
// Two designs exist and both are in this folder:
//  * "detr" (default): what the paper's released code builds (FP_DETRconnector over transformers 4.36.2
//    DetrDecoderLayer). Parameter names equal that module's state-dict keys, so its checkpoints load as is.
//  * "bert": what the paper's text (Sec. 5, App. C.1, Fig. 11) describes: "The selected features are
//    concatenated along the channel dimension … These fused inputs are then passed through Transformer
//    layers following the BERT architecture", taking the initial caption's token embeddings as a second
//    input. The text leaves the details open; our choices are documented at DeepLens.ForwardBert (DeepLensBert.cs). No
//    checkpoint of this variant was released, so its names match nothing outside SharpGlance.

/// <summary>
/// DETR's fixed 2-D sine positions (transformers <c>DetrSinePositionEmbedding</c> with normalize=True,
/// scale 2π, temperature 10000, D/2 features per axis), computed with the same float32 operations in the
/// same order so that values agree to the last bits (SPEC §8).
/// </summary>
public static class SinePositions
{
    /// <summary>[h·w, D] float32, tokens row-major; channels: the y block, then the x block, each [sin, cos, sin, cos, …].</summary>
    public static Tensor Create(long height, long width, long dModel, Device? device = null)
    {
        if (height < 1 || width < 1) throw new GlanceException($"sine positions: grid {height}×{width} is empty");
        if (dModel % 4 != 0) throw new GlanceException($"sine positions: d_model {dModel} must be a multiple of 4");
        using var scope = torch.NewDisposeScope();
        long nSteps = dModel / 2;
        var ones = torch.ones(1, height, width, dtype: ScalarType.Float32, device: device);
        var yEmbed = ones.cumsum(1);
        var xEmbed = ones.cumsum(2);
        // HF: y_embed / (y_embed[:, -1:, :] + 1e-6) * scale, i.e. (i+1)/(h+1e-6)·2π.
        yEmbed = yEmbed / (yEmbed.narrow(1, height - 1, 1) + 1e-6) * (2 * Math.PI);
        xEmbed = xEmbed / (xEmbed.narrow(2, width - 1, 1) + 1e-6) * (2 * Math.PI);
        // dim_t[k] = 10000^(2⌊k/2⌋ / (D/2))
        var dimT = torch.arange(nSteps, dtype: ScalarType.Int64, device: device).to_type(ScalarType.Float32);
        dimT = torch.full_like(dimT, 10000f).pow(2 * torch.floor_divide(dimT, 2) / nSteps);
        var posX = xEmbed.unsqueeze(-1) / dimT;
        var posY = yEmbed.unsqueeze(-1) / dimT;
        posX = torch.stack([posX.slice(3, 0, nSteps, 2).sin(), posX.slice(3, 1, nSteps, 2).cos()], dim: 4).flatten(3);
        posY = torch.stack([posY.slice(3, 0, nSteps, 2).sin(), posY.slice(3, 1, nSteps, 2).cos()], dim: 4).flatten(3);
        var pos = torch.cat([posY, posX], dim: 3); // [1, h, w, D]
        return pos.reshape(height * width, dModel).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// transformers <c>DetrAttention</c>: position embeddings are added to the query and key inputs (never to
/// the values); q is scaled by head_dim^−0.5 after projection; padding is an additive finfo.min mask.
/// Attention dropout is DetrConfig's default 0 and so absent.
/// </summary>
public sealed class DetrAttention : nn.Module
{
    public Linear q_proj, k_proj, v_proj, out_proj;
    private readonly long _heads, _headDim;
    private readonly double _scaling;

    public DetrAttention(long dModel, long heads, Device? device, ScalarType dtype) : base(nameof(DetrAttention))
    {
        _heads = heads;
        _headDim = dModel / heads;
        _scaling = Math.Pow(_headDim, -0.5);
        k_proj = nn.Linear(dModel, dModel, hasBias: true, device: device, dtype: dtype);
        v_proj = nn.Linear(dModel, dModel, hasBias: true, device: device, dtype: dtype);
        q_proj = nn.Linear(dModel, dModel, hasBias: true, device: device, dtype: dtype);
        out_proj = nn.Linear(dModel, dModel, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>
    /// Self-attention when <paramref name="keyValue"/> is null (q = k = x + pos, v = x); cross-attention
    /// otherwise (q = x + pos, k = kv + kvPos, v = kv). <paramref name="additiveMask"/>: [B, 1, 1, S].
    /// With <paramref name="probsSink"/> the probabilities [B, heads, T, S] are appended to it, detached
    /// from every dispose scope (the caller owns them).
    /// </summary>
    public Tensor forward(Tensor x, Tensor? pos, Tensor? keyValue = null, Tensor? keyValuePos = null, Tensor? additiveMask = null,
        List<Tensor>? probsSink = null)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var queryIn = pos is null ? x : x + pos;
        Tensor keyIn, valueIn;
        if (keyValue is null) { keyIn = queryIn; valueIn = x; }
        else { keyIn = keyValuePos is null ? keyValue : keyValue + keyValuePos; valueIn = keyValue; }
        long s = keyIn.shape[1];

        var q = (q_proj.call(queryIn) * _scaling).view(b, t, _heads, _headDim).transpose(1, 2);
        var k = k_proj.call(keyIn).view(b, s, _heads, _headDim).transpose(1, 2);
        var v = v_proj.call(valueIn).view(b, s, _heads, _headDim).transpose(1, 2);
        var scores = torch.matmul(q, k.transpose(2, 3)); // [B, heads, T, S]
        if (additiveMask is not null) scores = scores + additiveMask;
        var probs = nn.functional.softmax(scores, -1);
        probsSink?.Add(probs.alias().DetachFromDisposeScope());
        var o = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, d);
        return out_proj.call(o);
    }
}

/// <summary>
/// transformers <c>DetrDecoderLayer</c> (post-LN): self-attention over the queries (+caption) → dropout →
/// add &amp; LN; cross-attention to the memory → dropout → add &amp; LN; fc1 → act → fc2 → dropout → add &amp; LN.
/// </summary>
public sealed class DeepLensDecoderLayer : nn.Module
{
    public DetrAttention self_attn, encoder_attn;
    public LayerNorm self_attn_layer_norm, encoder_attn_layer_norm, final_layer_norm;
    public Linear fc1, fc2;
    private readonly double _dropout;
    private readonly Func<Tensor, Tensor> _act;

    public DeepLensDecoderLayer(DeepLensConfig c, Device? device, ScalarType dtype) : base(nameof(DeepLensDecoderLayer))
    {
        self_attn = new DetrAttention(c.DModel, c.DecoderAttentionHeads, device, dtype);
        self_attn_layer_norm = nn.LayerNorm(c.DModel, c.LayerNormEps, device: device, dtype: dtype);
        encoder_attn = new DetrAttention(c.DModel, c.DecoderAttentionHeads, device, dtype);
        encoder_attn_layer_norm = nn.LayerNorm(c.DModel, c.LayerNormEps, device: device, dtype: dtype);
        fc1 = nn.Linear(c.DModel, c.DecoderFfnDim, hasBias: true, device: device, dtype: dtype);
        fc2 = nn.Linear(c.DecoderFfnDim, c.DModel, hasBias: true, device: device, dtype: dtype);
        final_layer_norm = nn.LayerNorm(c.DModel, c.LayerNormEps, device: device, dtype: dtype);
        _dropout = c.Dropout;
        _act = Activations.Resolve(c.ActivationFunction);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor queryPos, Tensor? selfMask, Tensor memory, Tensor memoryPos, List<Tensor>? crossAttentions)
    {
        var h = self_attn.forward(x, queryPos, additiveMask: selfMask);
        x = self_attn_layer_norm.call(x + nn.functional.dropout(h, _dropout, training));

        h = encoder_attn.forward(x, queryPos, memory, memoryPos, probsSink: crossAttentions);
        x = encoder_attn_layer_norm.call(x + nn.functional.dropout(h, _dropout, training));

        // DetrConfig.activation_dropout is 0: no dropout between fc1 and fc2.
        h = fc2.call(_act(fc1.call(x)));
        return final_layer_norm.call(x + nn.functional.dropout(h, _dropout, training));
    }
}

/// <summary>The decoder stack and DETR's LayerNorm after the last layer (<c>decoder.layernorm</c>).</summary>
public sealed class DeepLensDecoder : nn.Module
{
    public ModuleList<DeepLensDecoderLayer> layers;
    public LayerNorm layernorm;

    public DeepLensDecoder(DeepLensConfig c, Device? device, ScalarType dtype) : base(nameof(DeepLensDecoder))
    {
        layers = new ModuleList<DeepLensDecoderLayer>(
            Enumerable.Range(0, c.DecoderLayers).Select(_ => new DeepLensDecoderLayer(c, device, dtype)).ToArray());
        layernorm = nn.LayerNorm(c.DModel, c.LayerNormEps, device: device, dtype: dtype);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor queryPos, Tensor? selfMask, Tensor memory, Tensor memoryPos, List<Tensor>? crossAttentions)
    {
        // DETR's decoder applies no dropout to its input, and layerdrop is 0 (DetrConfig defaults).
        foreach (var layer in layers) x = layer.forward(x, queryPos, selfMask, memory, memoryPos, crossAttentions);
        return layernorm.call(x);
    }
}

/// <summary>
/// The DeepLens connector (SPEC §8): tapped ViT levels (+ the initial caption's token embeddings) → visual
/// embeddings for the LM, in place of <c>&lt;image&gt;</c>. The "detr" variant outputs Q embeddings, the
/// "bert" variant one per patch (see <see cref="OutputTokens"/>).
/// </summary>
/// <remarks>
/// State-dict keys (detr) equal the released FP_DETRconnector's: <c>input_projection.{i}.{0,2}</c>,
/// <c>layer_embedding</c> [levels−1, D], <c>query_position_embeddings.weight</c>, <c>pre_caption_proj.{0,2}</c>,
/// <c>decoder.layers.{n}.…</c>, <c>decoder.layernorm</c>, <c>llm_proj</c>. Dropout acts only in training mode;
/// <see cref="Create"/> returns the module in eval mode.
/// </remarks>
public sealed partial class DeepLens : nn.Module
{
    // --- detr (released code) ---
    public ModuleList<MlpConnector>? input_projection;
    public Parameter? layer_embedding; // [levels−1, D]: added to every level after the base one
    public Embedding? query_position_embeddings;
    public DeepLensDecoder? decoder;
    // --- bert (paper text) ---
    public Linear? visual_proj;
    public Embedding? token_type_embeddings; // row 0: visual tokens, row 1: caption tokens
    public LayerNorm? embeddings_layer_norm;
    public DeepLensEncoder? encoder;
    // --- both ---
    public MlpConnector? pre_caption_proj; // Linear(H, D) → GELU → Linear(D, D)
    public Linear llm_proj;

    public DeepLensConfig Config { get; }

    private DeepLens(DeepLensConfig config, Device? device, ScalarType dtype) : base(nameof(DeepLens))
    {
        Config = config.Validate();
        var c = config;
        int levels = c.NumLevels;
        if (c.IsDetr)
        {
            input_projection = new ModuleList<MlpConnector>(Enumerable.Range(0, levels)
                .Select(_ => Connector.Create(c.LevelProjectorType, c.VisionWidth, c.DModel, device, dtype)).ToArray());
            // A single level has no level embedding at all (the released code would make an empty [0, D] one).
            if (levels > 1) layer_embedding = new Parameter(torch.zeros(levels - 1, c.DModel, dtype: dtype, device: device));
            query_position_embeddings = nn.Embedding(c.NumQueries, c.DModel, device: device, dtype: dtype);
            decoder = new DeepLensDecoder(c, device, dtype);
        }
        else
        {
            visual_proj = nn.Linear(levels * c.VisionWidth, c.DModel, hasBias: true, device: device, dtype: dtype);
            token_type_embeddings = nn.Embedding(2, c.DModel, device: device, dtype: dtype);
            embeddings_layer_norm = nn.LayerNorm(c.DModel, c.LayerNormEps, device: device, dtype: dtype);
            encoder = new DeepLensEncoder(c, device, dtype);
        }
        if (c.CaptionInput) pre_caption_proj = Connector.Create("mlp2x_gelu", c.LmHidden, c.DModel, device, dtype);
        llm_proj = nn.Linear(c.DModel, c.LmHidden, hasBias: true, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>
    /// A DeepLens with fresh weights for training from scratch, in eval mode (call <c>train()</c> for dropout):
    /// DETR-style xavier-uniform weights and zero biases for every Linear, N(0, 1) query position embeddings
    /// (nn.Embedding's default, as the released code leaves them), a zero level embedding (SPEC §8),
    /// N(0, 0.02) token-type embeddings (BERT's initializer_range), LayerNorms at 1 and 0.
    /// Seed with <c>torch.manual_seed</c> for reproducible weights.
    /// </summary>
    public static DeepLens Create(DeepLensConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var lens = new DeepLens(config, device, dtype);
        using (torch.no_grad())
        {
            // DETR's Transformer._reset_parameters: xavier-uniform on every matrix; the embeddings follow.
            foreach (var (name, p) in lens.named_parameters())
            {
                if (p.dim() > 1) nn.init.xavier_uniform_(p);
                else if (name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal)) nn.init.zeros_(p);
            }
            if (lens.query_position_embeddings is not null) nn.init.normal_(lens.query_position_embeddings.weight!, 0, 1);
            if (lens.layer_embedding is not null) nn.init.zeros_(lens.layer_embedding);
            if (lens.token_type_embeddings is not null) nn.init.normal_(lens.token_type_embeddings.weight!, 0, 0.02);
        }
        lens.eval();
        return lens;
    }

    /// <summary>
    /// Builds DeepLens from <paramref name="config"/> and loads its weights strictly from the keys under
    /// <paramref name="prefix"/> in <paramref name="checkpoint"/> (a missing or extra key is an error naming it).
    /// </summary>
    public static DeepLens FromCheckpoint(DeepLensConfig config, Checkpoint checkpoint, string prefix = "",
        Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var lens = new DeepLens(config, device, dtype);
        try { checkpoint.LoadInto(lens, prefix); }
        catch { lens.Dispose(); throw; }
        lens.eval();
        return lens;
    }

    /// <summary>How many visual embeddings DeepLens hands the LM for <paramref name="numPatches"/> patches per level.</summary>
    public long OutputTokens(long numPatches) => Config.IsDetr ? Config.NumQueries : numPatches;

    /// <summary>Zeroes <c>llm_proj</c>, so that DeepLens's embeddings start at zero (see <see cref="DeepLensConfig.KeepFirstGlance"/>).</summary>
    public void ZeroOutput()
    {
        using var _ = torch.no_grad();
        llm_proj.weight.zero_();
        llm_proj.bias?.zero_();
    }

    /// <summary>
    /// Visual embeddings for the LM.
    /// </summary>
    /// <param name="levels">The tapped ViT levels in <see cref="DeepLensConfig.TappedLayers"/> order, each
    /// [B, N, Dv] patch tokens only (no CLS), row-major over the h×w grid; the first is the base level. With
    /// multi_level off only <c>levels[0]</c> is read and further levels are ignored.</param>
    /// <param name="captionEmbeds">The initial caption embedded with the LM's input embedding table (no LM
    /// positions), [B, T, H]; ignored when caption_input is off; null = no caption.</param>
    /// <param name="captionMask">[B, T], non-zero = token, 0 = padding (masked as keys only); null = all tokens.</param>
    /// <param name="grid">The patch grid (h, w); null = square, h = w = √N.</param>
    /// <param name="crossAttentions">When given (detr only), each decoder layer appends its cross-attention
    /// probabilities [B, heads, Q(+T caption rows), K·N] to it: keys level by level in <paramref name="levels"/>
    /// order, each level's patches row-major. The caller owns and disposes them.</param>
    /// <returns>[B, Q, H] (detr) or [B, N, H] (bert).</returns>
    public Tensor forward(IReadOnlyList<Tensor> levels, Tensor? captionEmbeds = null, Tensor? captionMask = null,
        (long Height, long Width)? grid = null, List<Tensor>? crossAttentions = null)
    {
        var c = Config;
        if (crossAttentions is not null && !c.IsDetr)
            throw new GlanceException("DeepLens: cross-attention maps exist only for the detr variant (the bert variant has no queries)");
        var (b, n, h, w) = CheckLevels(levels, grid);
        if (!c.CaptionInput) { captionEmbeds = null; captionMask = null; }
        if (captionEmbeds is null && captionMask is not null)
            throw new GlanceException("DeepLens: a caption mask was given without caption embeddings");
        if (captionEmbeds is not null)
        {
            if (captionEmbeds.dim() != 3 || captionEmbeds.shape[0] != b || captionEmbeds.shape[2] != c.LmHidden)
                throw new GlanceException($"DeepLens: expected caption embeddings [{b}, T, {c.LmHidden}], got [{string.Join(", ", captionEmbeds.shape)}]");
            if (captionMask is not null && !captionMask.shape.SequenceEqual(captionEmbeds.shape.Take(2)))
                throw new GlanceException($"DeepLens: caption mask [{string.Join(", ", captionMask.shape)}] does not match caption embeddings [{string.Join(", ", captionEmbeds.shape)}]");
        }

        using var scope = torch.NewDisposeScope();
        if (captionEmbeds is not null && captionMask is not null) captionMask = captionMask.to(captionEmbeds.device);
        var used = levels.Take(c.NumLevels).ToList();
        var pos = SinePositions.Create(h, w, c.DModel, used[0].device).to_type(used[0].dtype); // [N, D], SPEC §8
        var result = c.IsDetr ? ForwardDetr(used, b, n, pos, captionEmbeds, captionMask, crossAttentions) : ForwardBert(used, b, n, pos, captionEmbeds, captionMask);
        return result.MoveToOuterDisposeScope();
    }

    private Tensor ForwardDetr(List<Tensor> levels, long b, long n, Tensor pos, Tensor? captionEmbeds, Tensor? captionMask, List<Tensor>? crossAttentions)
    {
        var c = Config;
        var dtype = levels[0].dtype;
        // Memory: each level through its own projection, a learned level embedding on every level after
        // the base one, then the levels concatenated along the sequence: [B, K·N, D].
        var memory = new List<Tensor>(levels.Count);
        for (int i = 0; i < levels.Count; i++)
        {
            var projected = input_projection![i].call(levels[i]);
            if (i > 0) projected = projected + layer_embedding![i - 1];
            memory.Add(projected);
        }
        var mem = torch.cat(memory, dim: 1);
        // The same grid positions for every level (the released code repeats the base level's).
        var memPos = pos.repeat(levels.Count, 1).unsqueeze(0);

        // Queries: zero content, learned positions; the projected caption follows with zero positions.
        var queryPos = query_position_embeddings!.weight!.unsqueeze(0).expand(b, -1, -1);
        var queries = torch.zeros_like(queryPos);
        Tensor? selfMask = null;
        if (captionEmbeds is not null)
        {
            var caption = pre_caption_proj!.call(captionEmbeds);
            queries = torch.cat([queries, caption], dim: 1);
            queryPos = torch.cat([queryPos, torch.zeros_like(caption)], dim: 1);
            if (captionMask is not null) selfMask = AttentionMasks.Padding(captionMask, dtype, visiblePrefix: c.NumQueries);
        }
        var hidden = decoder!.forward(queries, queryPos, selfMask, mem, memPos, crossAttentions);
        return llm_proj.call(hidden.narrow(1, 0, c.NumQueries));
    }

    private (long B, long N, long H, long W) CheckLevels(IReadOnlyList<Tensor> levels, (long Height, long Width)? grid)
    {
        var c = Config;
        if (levels is null || levels.Count == 0) throw new GlanceException("DeepLens: no ViT levels given");
        if (c.MultiLevel && levels.Count != c.NumLevels)
            throw new GlanceException($"DeepLens: expected {c.NumLevels} ViT levels (layers {string.Join(", ", c.TappedLayers)}), got {levels.Count}");
        var first = levels[0];
        if (first.dim() != 3 || first.shape[2] != c.VisionWidth)
            throw new GlanceException($"DeepLens: expected level 0 as [B, N, {c.VisionWidth}], got [{string.Join(", ", first.shape)}]");
        long b = first.shape[0], n = first.shape[1];
        for (int i = 1; i < c.NumLevels; i++)
            if (!levels[i].shape.SequenceEqual(first.shape))
                throw new GlanceException($"DeepLens: level {i} is [{string.Join(", ", levels[i].shape)}] but level 0 is [{string.Join(", ", first.shape)}]");
        long h, w;
        if (grid is { } g) { h = g.Height; w = g.Width; }
        else
        {
            h = w = (long)Math.Round(Math.Sqrt(n));
            if (h * w != n) throw new GlanceException($"DeepLens: {n} patch tokens are not a square grid; pass the grid (h, w)");
        }
        if (h < 1 || w < 1 || h * w != n) throw new GlanceException($"DeepLens: grid {h}×{w} does not hold {n} patch tokens");
        return (b, n, h, w);
    }
}
