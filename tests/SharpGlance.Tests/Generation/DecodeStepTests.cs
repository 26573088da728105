using SharpGlance.Generation;
using SharpGlance.Language;
using SharpGlance.Nn;
using SharpGlance.Tests.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Generation;

/// <summary>
/// The decode step takes its positions and additive mask from the generator, which makes both once per
/// generation: the step builds no mask and runs no cumsum per token (llama2.c allocates nothing per token).
/// </summary>
public class DecodeStepTests
{
    /// <summary>Two prompts of 7 tokens; row 1 left-padded by 3 when <paramref name="padded"/>.</summary>
    private static (Tensor ids, Tensor mask) Prompts(bool padded)
    {
        var ids = OptTests.RandomIds(31, 2, 7);
        var mask = padded ? tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1 }, [2, 7]) : ones(2, 7, ScalarType.Int64);
        return (ids, mask);
    }

    [Fact]
    public void A_step_with_given_positions_and_mask_equals_one_that_derives_them_from_the_padding_mask()
    {
        using var lm = OptTests.RandomOpt();
        var (ids, mask) = Prompts(padded: true);
        using var _ = ids; using var __ = mask;
        using var next = OptTests.RandomIds(32, 2, 1);
        using var full = cat([mask, ones(2, 1, ScalarType.Int64)], 1);
        using var derived = Step(lm, ids, mask, new OptInputs { InputIds = next, AttentionMask = full });
        using var positions = OptDecoder.Positions(full).narrow(1, 7, 1);
        using var additive = AttentionMasks.Padding(full, lm.DType);
        using var given = Step(lm, ids, mask, new OptInputs { InputIds = next, PositionIds = positions, AdditiveMask = additive });
        Assert.True(derived.Equals(given), "the given positions and mask changed the step's logits");
        // Row 1's new token sits at position 4 (3 padding tokens before its 4 real ones), not at index 7.
        Assert.Equal([7L, 4L], positions.data<long>().ToArray());

        // And both equal the uncached pass over the whole sequence.
        using var whole = lm.Logits(cat([ids, next], 1), full);
        TensorAssert.Close(whole.narrow(1, 7, 1), derived, 1e-4, "the cached step against the uncached pass");
    }

    [Fact]
    public void A_step_refuses_a_mask_without_positions_and_one_of_the_wrong_width()
    {
        using var lm = OptTests.RandomOpt();
        using var ids = OptTests.RandomIds(33, 2, 1);
        using var cache = lm.NewCache(2, 9);
        using var positions = zeros(2, 1, ScalarType.Int64);
        using var mask = zeros(2, 1, 1, 3, lm.DType);
        Assert.Contains("needs the positions", Assert.Throws<GlanceException>(() => lm.forward(new OptInputs { InputIds = ids, AdditiveMask = mask })).Message);
        Assert.Contains("expected [2, 1, 1, 1]", Assert.Throws<GlanceException>(() =>
            lm.forward(new OptInputs { InputIds = ids, PositionIds = positions, AdditiveMask = mask, Cache = cache })).Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_decode_step_makes_as_many_tensors_at_every_length_and_builds_no_mask_for_padding(int beams)
    {
        using var lm = OptTests.RandomOpt();
        var o = new GenerationOptions { NumBeams = beams, EosTokenId = null };
        long[] PerStep(bool padded)
        {
            var (ids, mask) = Prompts(padded);
            using var _ = ids; using var __ = mask;
            // Tensors made by generations 4, 8 and 12 tokens long: the prefill and setup cancel out.
            var made = new[] { 4, 8, 12 }.Select(n => TensorsMade(() => TextGenerator.GenerateFromIds(lm, ids, mask, o with { MaxNewTokens = n }))).ToArray();
            return [(made[1] - made[0]) / 4, (made[2] - made[1]) / 4, (made[1] - made[0]) % 4, (made[2] - made[1]) % 4];
        }
        var plain = PerStep(padded: false);
        var padded = PerStep(padded: true);
        Assert.Equal(plain[0], plain[1]);                      // the same at every length
        Assert.Equal([0L, 0L], plain[2..]);
        Assert.Equal(padded[0], padded[1]);
        Assert.Equal([0L, 0L], padded[2..]);
        // A padded batch's step only takes a view of the mask made once (rebuilding HF's combined causal
        // mask per token made a dozen tensors more).
        Assert.InRange(padded[0] - plain[0], 0, 1);
        Assert.True(plain[0] > 0);
    }

    private static Tensor Step(OptForCausalLM lm, Tensor ids, Tensor mask, OptInputs step)
    {
        using var _ = no_grad();
        using var cache = lm.NewCache(ids.shape[0], ids.shape[1] + 1);
        using (lm.forward(new OptInputs { InputIds = ids, AttentionMask = mask, Cache = cache })) { }
        using var o = lm.forward(step with { Cache = cache });
        return o.Logits.alias();
    }

    private static long TensorsMade(Action run)
    {
        var stats = DisposeScopeManager.Statistics.TensorStatistics;
        long before = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
        run();
        return stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - before;
    }
}
