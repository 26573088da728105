using TorchSharp;
using TorchSharp.Modules;
using Linear = TorchSharp.Modules.Linear;   // libtorch's, as in DeepLens.cs
using static TorchSharp.torch;

namespace SharpGlance.Connectors;

// DeepLens's "bert" variant: what the paper's text (Sec. 5, App. C.1, Fig. 11) describes, the selected levels
// concatenated along the channels and passed with the initial caption through BERT-style encoder layers.
// No checkpoint of it was released, so its names match nothing outside SharpGlance. The module's fields and
// the released "detr" variant are in DeepLens.cs.

// Field names follow the DETR/BART encoder layer's keys (self_attn, fc1): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

/// <summary>
/// A BERT layer (post-LN, bidirectional) for the paper-text variant: self-attention → dropout → add &amp; LN;
/// fc1 → act → fc2 → dropout → add &amp; LN. Names follow the DETR/BART encoder layer, not BERT's checkpoint keys.
/// </summary>
public sealed class DeepLensEncoderLayer : nn.Module
{
    public DetrAttention self_attn;
    public LayerNorm self_attn_layer_norm, final_layer_norm;
    public Linear fc1, fc2;
    private readonly double _dropout;
    private readonly Func<Tensor, Tensor> _act;

    public DeepLensEncoderLayer(DeepLensConfig c, Device? device, ScalarType dtype) : base(nameof(DeepLensEncoderLayer))
    {
        self_attn = new DetrAttention(c.DModel, c.DecoderAttentionHeads, device, dtype);
        self_attn_layer_norm = nn.LayerNorm(c.DModel, c.LayerNormEps, device: device, dtype: dtype);
        fc1 = nn.Linear(c.DModel, c.DecoderFfnDim, hasBias: true, device: device, dtype: dtype);
        fc2 = nn.Linear(c.DecoderFfnDim, c.DModel, hasBias: true, device: device, dtype: dtype);
        final_layer_norm = nn.LayerNorm(c.DModel, c.LayerNormEps, device: device, dtype: dtype);
        _dropout = c.Dropout;
        _act = Nn.Activations.Resolve(c.ActivationFunction);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor? mask)
    {
        var h = self_attn.forward(x, null, additiveMask: mask);
        x = self_attn_layer_norm.call(x + nn.functional.dropout(h, _dropout, training));
        h = fc2.call(_act(fc1.call(x)));
        return final_layer_norm.call(x + nn.functional.dropout(h, _dropout, training));
    }
}

public sealed class DeepLensEncoder : nn.Module
{
    public ModuleList<DeepLensEncoderLayer> layers;

    public DeepLensEncoder(DeepLensConfig c, Device? device, ScalarType dtype) : base(nameof(DeepLensEncoder))
    {
        layers = new ModuleList<DeepLensEncoderLayer>(
            Enumerable.Range(0, c.DecoderLayers).Select(_ => new DeepLensEncoderLayer(c, device, dtype)).ToArray());
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor? mask)
    {
        foreach (var layer in layers) x = layer.forward(x, mask);
        return x;
    }
}

public sealed partial class DeepLens
{
    /// <summary>
    /// The paper text's design (App. C.1, Fig. 11). What the text says: the K selected layers' features are
    /// concatenated along the channel axis, and these fused inputs go, with the projected embeddings of the
    /// initial caption, through "Transformer layers following the BERT architecture"; the output goes to the LM.
    /// What we chose where it is silent:
    ///  * fusion: [B, N, K·Dv] → one Linear to D (<c>visual_proj</c>, as the paper code's BERT connectors name it);
    ///  * caption: the same Linear(H, D) → GELU → Linear(D, D) projection as the released design, appended
    ///    after the N visual tokens (one sequence, BERT's sentence pair);
    ///  * embeddings, BERT-style, added once at the input: the 2-D sine positions on the visual tokens (no
    ///    table, so any grid works); no positions on the caption, as in the released design; a token-type
    ///    embedding (0 visual, 1 caption); then LayerNorm and dropout;
    ///  * L post-LN, bidirectional encoder layers; caption padding is masked as keys only;
    ///  * output: the N visual tokens' states → <c>llm_proj</c> → [B, N, H] (the caption rows are dropped);
    ///    no final LayerNorm (BERT has none). activation_function applies (BERT itself uses gelu).
    /// </summary>
    private Tensor ForwardBert(List<Tensor> levels, long b, long n, Tensor pos, Tensor? captionEmbeds, Tensor? captionMask)
    {
        var c = Config;
        var fused = levels.Count == 1 ? levels[0] : torch.cat(levels, dim: 2); // channel concat: [B, N, K·Dv]
        var types = token_type_embeddings!.weight!;
        var x = visual_proj!.call(fused) + pos.unsqueeze(0) + types[0];
        Tensor? mask = null;
        if (captionEmbeds is not null)
        {
            var caption = pre_caption_proj!.call(captionEmbeds) + types[1];
            x = torch.cat([x, caption], dim: 1);
            if (captionMask is not null) mask = Nn.AttentionMasks.Padding(captionMask, x.dtype, visiblePrefix: n);
        }
        x = nn.functional.dropout(embeddings_layer_norm!.call(x), c.Dropout, training);
        x = encoder!.forward(x, mask);
        return llm_proj.call(x.narrow(1, 0, n));
    }
}
