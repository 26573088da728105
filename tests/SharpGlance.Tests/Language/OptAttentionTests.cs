using SharpGlance.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Language;

/// <summary>Attention maps out of OPT: opt-in, explicit softmax(QKᵀ/√d + mask), the normal path untouched.</summary>
public class OptAttentionTests
{
    /// <summary>The tiny-opt fixture (HF weights, init 0.02: near-uniform attention) and a wide-init random OPT (peaked attention).</summary>
    private static OptForCausalLM Load(string which) => which == "fixture"
        ? OptForCausalLM.FromPretrained(Path.Combine(Fixtures.Root, "tiny-opt"))
        : OptTests.RandomOpt();

    /// <summary>Two rows, the second left-padded by 3.</summary>
    private static (Tensor Ids, Tensor Mask) Batch()
    {
        var ids = OptTests.RandomIds(5, 2, 9);
        var mask = ones([2, 9], ScalarType.Int64);
        mask[1, ..3] = tensor(0L);
        return (ids, mask);
    }

    /// <summary>
    /// Layer by layer from the layer's input, with nothing of OptAttention's: LN (pre-LN), q/k projections,
    /// heads split by hand, softmax(QKᵀ/√d) with keys after the query or in the padding set to −∞-like.
    /// </summary>
    private static List<Tensor> Manual(OptForCausalLM lm, Tensor ids, Tensor mask)
    {
        var c = lm.Config;
        var d = lm.model.decoder;
        long b = ids.shape[0], t = ids.shape[1], hd = c.HeadDim;
        var positions = mask.cumsum(1) * mask - 1;
        var h = d.embed_tokens.forward(ids);
        if (d.project_in is not null) h = d.project_in.forward(h);
        h = h + d.embed_positions.forward(positions + OptConfig.PositionOffset);
        var blocked = zeros([b, 1, t, t], ScalarType.Bool);
        for (int i = 0; i < b; i++)
            for (int q = 0; q < t; q++)
                for (int k = 0; k < t; k++)
                    if (k > q || mask[i, k].item<long>() == 0) blocked[i, 0, q, k] = tensor(true);
        var additive = zeros([b, 1, t, t]).masked_fill(blocked, float.MinValue);
        var result = new List<Tensor>();
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var layer = d.layers[l];
            var x = c.DoLayerNormBefore ? layer.self_attn_layer_norm.forward(h) : h;
            var q = layer.self_attn.q_proj.forward(x).view(b, t, c.NumAttentionHeads, hd).permute(0, 2, 1, 3);
            var k = layer.self_attn.k_proj.forward(x).view(b, t, c.NumAttentionHeads, hd).permute(0, 2, 1, 3);
            var scores = matmul(q, k.permute(0, 1, 3, 2)) / Math.Sqrt(hd) + additive;
            result.Add(scores.softmax(-1));
            h = layer.forward(h, new OptLayerContext(additive, false, null, l));
        }
        return result;
    }

    [Theory]
    [InlineData("fixture")]
    [InlineData("wide")]
    public void Attention_rows_sum_to_one_and_equal_an_explicit_softmax_recomputation(string which)
    {
        using var lm = Load(which);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (ids, mask) = Batch();
        using var output = lm.Forward(inputIds: ids, attentionMask: mask, outputAttentions: true);
        var attentions = output.Attentions!;
        Assert.Equal(lm.Config.NumHiddenLayers, attentions.Count);
        var manual = Manual(lm, ids, mask);
        for (int l = 0; l < attentions.Count; l++)
        {
            Assert.Equal([2L, lm.Config.NumAttentionHeads, 9, 9], attentions[l].shape);
            TensorAssert.Close(ones([2, lm.Config.NumAttentionHeads, 9]), attentions[l].sum(-1), 1e-5, $"layer {l}: row sums");
            // Padding queries of row 1 see no key at all (uniform in both); compare the real ones.
            TensorAssert.Close(manual[l][.., .., 3..], attentions[l][.., .., 3..], 1e-5, $"layer {l}: attention vs softmax(QKᵀ/√d + mask)");
            Assert.Equal(0.0, attentions[l][1, .., 3.., ..3].abs().max().item<float>(), 6);   // padding keys take nothing
        }
        if (which == "wide")   // the comparison means something only if attention is far from uniform
            Assert.True(attentions[0][0, .., 8].max().item<float>() > 0.5, "the wide-init OPT's attention is peaked");
    }

    [Fact]
    public void Attention_maps_are_off_by_default_and_do_not_change_the_logits()
    {
        using var lm = Load("wide");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (ids, mask) = Batch();
        using var plain = lm.Forward(inputIds: ids, attentionMask: mask);
        Assert.Null(plain.Attentions);
        using var withMaps = lm.Forward(inputIds: ids, attentionMask: mask, outputAttentions: true);
        var real = mask.unsqueeze(-1).to_type(ScalarType.Float32);
        TensorAssert.Close(plain.Logits * real, withMaps.Logits * real, 1e-4, "logits with and without attention maps");
        // No padding: SDPA's causal flag on the normal path, an explicit causal mask on the other.
        using var causal = lm.Forward(inputIds: ids, outputAttentions: true);
        TensorAssert.Close(lm.Logits(ids), causal.Logits, 1e-4, "causal logits with and without attention maps");
        TensorAssert.Close(zeros([2, lm.Config.NumAttentionHeads]), causal.Attentions![0][.., .., 0, 1..].sum(-1), 1e-6, "the first token sees only itself");
    }

    [Fact]
    public void A_cached_step_attends_as_the_teacher_forced_row_of_the_whole_sequence()
    {
        // What AttentionMaps relies on: the rows of one pass over prompt + caption are the weights each
        // decoding step had.
        using var lm = Load("wide");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (ids, mask) = Batch();
        using var full = lm.Forward(inputIds: ids, attentionMask: mask, outputAttentions: true);
        using var cache = lm.NewCache(2, 9);
        using (lm.Forward(inputIds: ids.narrow(1, 0, 6), attentionMask: mask.narrow(1, 0, 6), cache: cache)) { }
        for (int step = 6; step < 9; step++)
        {
            using var o = lm.Forward(inputIds: ids.narrow(1, step, 1), attentionMask: mask.narrow(1, 0, step + 1), cache: cache, outputAttentions: true);
            for (int l = 0; l < o.Attentions!.Count; l++)
                TensorAssert.Close(full.Attentions![l][.., .., step..(step + 1), ..(step + 1)], o.Attentions[l], 1e-5, $"step {step}, layer {l}");
        }
    }
}
