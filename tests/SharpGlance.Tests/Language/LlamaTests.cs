using SharpGlance.Generation;
using SharpGlance.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Language;

/// <summary>
/// Llama beyond the fixture's one layout (4 query heads over 2 kv heads, no rope scaling): invariants that
/// fail when grouping, caching, the rotary kinds or the tie are wrong.
/// </summary>
public class LlamaTests
{
    private static LlamaForCausalLM RandomLlama(LlamaConfig config, ulong seed = 11)
    {
        using var g = new torch.Generator(seed);
        return new LlamaForCausalLM(config with { InitializerRange = 0.3 }, generator: g);
    }

    private static (Tensor Ids, Tensor Mask) LeftPadded(long length = 12, long pad = 3)
    {
        var ids = OptTests.RandomIds(5, 2, length, vocab: 340);
        var mask = ones([2, length], ScalarType.Int64);
        mask[1, ..(int)pad] = tensor(0L);
        return (ids, mask);
    }

    /// <summary>
    /// A model with <paramref name="kvHeads"/> key/value heads equals the plain multi-head model whose K/V
    /// projections repeat each kv head's rows for the query heads of its group (HF's repeat_kv).
    /// </summary>
    [Theory]
    [InlineData(2)]   // grouped-query
    [InlineData(1)]   // multi-query
    public void Grouped_attention_equals_multi_head_attention_with_repeated_kv_heads(int kvHeads)
    {
        var gqaConfig = LlamaConfig.Tiny with { NumKeyValueHeads = kvHeads };
        using var gqa = RandomLlama(gqaConfig);
        using var mha = new LlamaForCausalLM(LlamaConfig.Tiny with { NumKeyValueHeads = null });
        int heads = gqaConfig.NumAttentionHeads, rep = heads / kvHeads, hd = gqaConfig.HeadDim, h = gqaConfig.HiddenSize;
        using (no_grad())
        {
            var source = gqa.state_dict();
            foreach (var (key, target) in mha.state_dict())
            {
                var value = source[key];
                if (key.EndsWith("k_proj.weight") || key.EndsWith("v_proj.weight"))
                    value = value.view(kvHeads, hd, h).repeat_interleave(rep, 0).reshape(heads * hd, h);
                target.copy_(value);
            }
        }
        var (ids, mask) = LeftPadded();
        using var _ = no_grad();
        using var a = gqa.Logits(ids, mask);
        using var b = mha.Logits(ids, mask);
        TensorAssert.Close(b, a, 1e-5, $"{kvHeads} kv heads against 4 repeated");
        Assert.Equal(kvHeads, gqa.NewCache(2, 4).Heads);   // the cache holds the kv heads only
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    [InlineData(4)]
    public void Cached_decoding_equals_the_uncached_forward(int kvHeads)
    {
        using var lm = RandomLlama(LlamaConfig.Tiny with { NumKeyValueHeads = kvHeads });
        using var _ = no_grad();
        var (ids, mask) = LeftPadded();
        using var full = lm.Logits(ids, mask);
        using var cache = lm.NewCache(2, 12);
        foreach (var (start, len) in new[] { (0L, 5L), (5L, 1L), (6L, 1L), (7L, 2L), (9L, 3L) })
        {
            using var output = lm.forward(new OptInputs
            {
                InputIds = ids.narrow(1, start, len), AttentionMask = mask.narrow(1, 0, start + len), Cache = cache,
            });
            // Padded query rows are not compared: their (uniform) attention spans different key sets.
            using var want = full.narrow(1, start, len);
            TensorAssert.Close(want[0], output.Logits[0], 1e-4, $"row 0, tokens {start}..{start + len}");
            if (start >= 3) TensorAssert.Close(want[1], output.Logits[1], 1e-4, $"row 1, tokens {start}..{start + len}");
        }
    }

    [Fact]
    public void Linear_rope_scaling_by_one_equals_none_and_by_two_halves_the_positions()
    {
        var none = new LlamaRotaryEmbedding(12, 256, 10000, null);
        var byOne = new LlamaRotaryEmbedding(12, 256, 10000, new RopeScaling { Type = "linear", Factor = 1 });
        var byTwo = new LlamaRotaryEmbedding(12, 256, 10000, new RopeScaling { Type = "linear", Factor = 2 });
        using var p = arange(0, 40, ScalarType.Int64).view(1, 40);
        using var p2 = p * 2;
        var (c0, s0) = none.Compute(p, 40, ScalarType.Float32);
        var (c1, s1) = byOne.Compute(p, 40, ScalarType.Float32);
        var (c2, s2) = byTwo.Compute(p2, 80, ScalarType.Float32);
        TensorAssert.Close(c0, c1, 0, "cos, factor 1"); TensorAssert.Close(s0, s1, 0, "sin, factor 1");
        TensorAssert.Close(c0, c2, 0, "cos, factor 2 at 2p"); TensorAssert.Close(s0, s2, 0, "sin, factor 2 at 2p");
        var (c2p, _) = byTwo.Compute(p, 40, ScalarType.Float32);
        Assert.False(allclose(c0, c2p), "factor 2 must change the angle of a position");
    }

    [Fact]
    public void Dynamic_rope_scaling_keeps_the_base_up_to_max_positions_then_raises_it()
    {
        var dynamic = new LlamaRotaryEmbedding(12, 256, 10000, new RopeScaling { Type = "dynamic", Factor = 2 });
        Assert.Equal(10000, dynamic.BaseFor(256));
        // transformers 4.36: base · ((factor · len / max) − (factor − 1)) ^ (d / (d − 2))
        Assert.Equal(10000 * Math.Pow(2.0 * 512 / 256 - 1, 12.0 / 10), dynamic.BaseFor(512), 6);

        // Through the model: a sequence within max_position_embeddings is unchanged, a longer one is not.
        var c = LlamaConfig.Tiny with { MaxPositionEmbeddings = 8 };
        using var plain = RandomLlama(c);
        using var scaled = RandomLlama(c with { RopeScaling = new RopeScaling { Type = "dynamic", Factor = 2 } });
        using var _ = no_grad();
        var ids = OptTests.RandomIds(3, 1, 12, vocab: 340);
        using var a8 = plain.Logits(ids.narrow(1, 0, 8));
        using var b8 = scaled.Logits(ids.narrow(1, 0, 8));
        TensorAssert.Close(a8, b8, 0, "8 tokens, max 8");
        using var a12 = plain.Logits(ids);
        using var b12 = scaled.Logits(ids);
        Assert.False(allclose(a12, b12, 1e-4, 1e-4), "12 tokens past max 8 must use the scaled base");
    }

    [Theory]
    [InlineData("{\"type\": \"linear\", \"factor\": 1.0}", "rope_scaling.factor")]
    [InlineData("{\"type\": \"yarn\", \"factor\": 2.0}", "rope_scaling.type 'yarn'")]
    public void Rope_scaling_transformers_rejects_is_named(string scaling, string named)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse($"{{\"model_type\": \"llama\", \"rope_scaling\": {scaling}}}")!.AsObject();
        var e = Assert.Throws<GlanceException>(() => LlamaConfig.FromJson(json, "config.json"));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void A_tied_head_is_the_embedding_itself()
    {
        using var lm = RandomLlama(LlamaConfig.Tiny with { TieWordEmbeddings = true });
        Assert.Same(lm.model.embed_tokens.weight, lm.lm_head.weight);
        Assert.DoesNotContain("lm_head.weight", lm.state_dict().Keys);
        lm.to(ScalarType.Float64);
        Assert.Same(lm.model.embed_tokens.weight, lm.lm_head.weight);
        using var untied = RandomLlama(LlamaConfig.Tiny);
        Assert.Contains("lm_head.weight", untied.state_dict().Keys);
    }

    [Fact]
    public void Generation_runs_through_the_shared_generator()
    {
        using var lm = RandomLlama(LlamaConfig.Tiny);
        var (ids, mask) = LeftPadded();
        var options = new GenerationOptions { MaxNewTokens = 6, EosTokenId = 2, PadTokenId = 341 };
        var greedy = TextGenerator.GenerateFromIds(lm, ids, mask, options);
        // Greedy equals repeated argmax over the uncached forward.
        using var _ = no_grad();
        for (int row = 0; row < 2; row++)
        {
            var seq = ids[row].data<long>().ToList();
            var m = mask[row].data<long>().ToList();
            foreach (var token in greedy[row])
            {
                using var logits = lm.Logits(tensor(seq.ToArray(), [1, seq.Count]), tensor(m.ToArray(), [1, m.Count]));
                Assert.Equal(logits[0, -1].argmax().item<long>(), token);
                if (token == 2) break;
                seq.Add(token); m.Add(1);
            }
        }
        var beams = TextGenerator.GenerateFromIds(lm, ids, mask, options with { NumBeams = 3 });
        Assert.Equal(2, beams.Length);
    }
}
