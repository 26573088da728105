using SharpGlance.Generation;
using SharpGlance.Language;
using SharpGlance.Tests.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Generation;

public class GeneratorTests
{
    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 8, EosTokenId = null };

    /// <summary>Two prompts (lengths 7 and 4) as one left-padded batch, and each alone.</summary>
    private static (Tensor ids, Tensor mask, Tensor a, Tensor b) Prompts()
    {
        var a = OptTests.RandomIds(21, 1, 7);
        var b = OptTests.RandomIds(22, 1, 4);
        var ids = cat([a, cat([full(1, 3, 1L, ScalarType.Int64), b], 1)], 0);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1 }, [2, 7]);
        return (ids, mask, a, b);
    }

    [Fact]
    public void Options_describe_themselves_in_one_line()
    {
        Assert.Equal("beam search, 3 beams, length penalty 0, at most 77 new tokens", GenerationOptions.Paper.Describe());
        Assert.Equal("greedy, at most 20 new tokens", new GenerationOptions { MaxNewTokens = 20 }.Describe());
        Assert.Equal("sampling, temperature 0.7, top-p 0.9, top-k 5, seed 3, at most 77 new tokens",
            new GenerationOptions { DoSample = true, Temperature = 0.7, TopP = 0.9, TopK = 5, Seed = 3 }.Describe());
    }

    [Fact]
    public void Generating_from_embeddings_equals_generating_from_ids()
    {
        using var lm = OptTests.RandomOpt();
        using var ids = OptTests.RandomIds(20, 2, 6);
        using var mask = ones(2, 6, ScalarType.Int64);
        foreach (var o in new[] { Greedy, Greedy with { NumBeams = 3 } })
        {
            var fromIds = TextGenerator.GenerateFromIds(lm, ids, null, o);
            using var embeds = lm.Embed(ids);
            var fromEmbeds = TextGenerator.Generate(lm, embeds, mask, o);
            Assert.Equal(fromIds, fromEmbeds);
        }
    }

    [Fact]
    public void A_left_padded_batch_generates_what_each_prompt_generates_alone()
    {
        using var lm = OptTests.RandomOpt();
        var (ids, mask, a, b) = Prompts();
        using var _ = ids; using var __ = mask; using var ___ = a; using var ____ = b;
        var eos = new GenerationOptions { MaxNewTokens = 10, EosTokenId = 500, NumBeams = 3, LengthPenalty = 0, EarlyStopping = EarlyStopping.True };
        foreach (var o in new[] { Greedy, Greedy with { NumBeams = 3 }, eos })
        {
            var batch = TextGenerator.GenerateFromIds(lm, ids, mask, o);
            var alone = new[] { TextGenerator.GenerateFromIds(lm, a, null, o)[0], TextGenerator.GenerateFromIds(lm, b, null, o)[0] };
            for (int r = 0; r < 2; r++)
            {
                // A batch pads rows to a common width; each row's own tokens come first.
                Assert.Equal(alone[r], batch[r][..alone[r].Length]);
                Assert.All(batch[r][alone[r].Length..], t => Assert.Equal(o.PadTokenId, t));
            }
        }
    }

    [Fact]
    public void Ids_at_or_beyond_the_vocabulary_limit_are_never_emitted()
    {
        using var lm = OptTests.RandomOpt();
        using var ids = OptTests.RandomIds(23, 2, 5);
        var free = TextGenerator.GenerateFromIds(lm, ids, null, Greedy).SelectMany(r => r).ToArray();
        int limit = (int)free.Max();
        Assert.True(limit > 10, "the unconstrained run should use a high id for this test to mean anything");
        foreach (var o in new[]
        {
            Greedy with { VocabLimit = limit },
            Greedy with { VocabLimit = limit, NumBeams = 4, NumReturnSequences = 4 },
            Greedy with { VocabLimit = limit, DoSample = true, Seed = 1, Temperature = 3.0 },
            Greedy with { VocabLimit = limit, DoSample = true, Seed = 2, NumBeams = 2, Temperature = 3.0 },
        })
        {
            var rows = TextGenerator.GenerateFromIds(lm, ids, null, o);
            Assert.All(rows.SelectMany(r => r), t => Assert.True(t < limit, $"id {t} ≥ limit {limit}"));
        }
    }

    [Fact]
    public void Sampling_is_seeded_and_degenerates_to_greedy()
    {
        using var lm = OptTests.RandomOpt();
        using var ids = OptTests.RandomIds(24, 2, 5);
        var sample = Greedy with { DoSample = true, Temperature = 2.0, Seed = 42 };
        Assert.Equal(TextGenerator.GenerateFromIds(lm, ids, null, sample), TextGenerator.GenerateFromIds(lm, ids, null, sample));
        var greedy = TextGenerator.GenerateFromIds(lm, ids, null, Greedy);
        Assert.Equal(greedy, TextGenerator.GenerateFromIds(lm, ids, null, sample with { TopK = 1 }));
        Assert.Equal(greedy, TextGenerator.GenerateFromIds(lm, ids, null, Greedy with { DoSample = true, TopP = 1e-6, Seed = 3 }));
        var seeds = Enumerable.Range(0, 4).Select(s => TextGenerator.GenerateFromIds(lm, ids, null, sample with { Seed = s })[0]).ToList();
        Assert.True(seeds.Distinct(new RowComparer()).Count() > 1, "different seeds should give different samples at temperature 2");
    }

    private sealed class RowComparer : IEqualityComparer<long[]>
    {
        public bool Equals(long[]? x, long[]? y) => x!.SequenceEqual(y!);
        public int GetHashCode(long[] obj) => obj.Aggregate(17, (h, t) => h * 31 + t.GetHashCode());
    }

    [Fact]
    public void Warpers_follow_hf_top_k_and_top_p()
    {
        using var logits = log(tensor(new float[] { 0.1f, 0.2f, 0.3f, 0.4f })).unsqueeze(0);
        using var topK = TextGenerator.Warp(logits, new GenerationOptions { TopK = 2 }, 1);
        Assert.Equal(new[] { false, false, true, true }, topK[0].data<float>().ToArray().Select(float.IsFinite).ToArray());
        // top-p 0.5: ascending cumulative 0.1, 0.3, 0.6, 1.0; drop where ≤ 1 − 0.5 → keep 0.3 and 0.4.
        using var topP = TextGenerator.Warp(logits, new GenerationOptions { TopP = 0.5 }, 1);
        Assert.Equal(new[] { false, false, true, true }, topP[0].data<float>().ToArray().Select(float.IsFinite).ToArray());
        using var keepTwo = TextGenerator.Warp(logits, new GenerationOptions { TopP = 0.01 }, 2);   // beam sampling keeps 2
        Assert.Equal(new[] { false, false, true, true }, keepTwo[0].data<float>().ToArray().Select(float.IsFinite).ToArray());
        using var hot = TextGenerator.Warp(logits, new GenerationOptions { Temperature = 2 }, 1);
        TensorAssert.Close(logits / 2, hot, 0, "temperature");
    }

    [Fact]
    public void Beam_search_returns_hypotheses_best_first_and_padded_like_hf()
    {
        using var lm = OptTests.RandomOpt();
        using var ids = OptTests.RandomIds(25, 2, 5);
        var o = new GenerationOptions { MaxNewTokens = 9, NumBeams = 4, NumReturnSequences = 3, EosTokenId = 200, LengthPenalty = 1.0 };
        var result = TextGenerator.RunFromIds(lm, ids, null, o);
        Assert.Equal(6, result.Sequences.Length);
        Assert.Single(result.Sequences.Select(r => r.Length).Distinct());
        for (int p = 0; p < 2; p++)
            for (int j = 1; j < 3; j++)
                Assert.True(result.Scores![p * 3 + j - 1] >= result.Scores[p * 3 + j], "hypotheses come best first");
        for (int i = 0; i < result.Sequences.Length; i++)
        {
            var row = result.Sequences[i];
            var tokens = result.Tokens(i, o.EosTokenId);
            if (tokens.Length < row.Length)
            {
                Assert.Equal(200, row[tokens.Length]);
                Assert.All(row[(tokens.Length + 1)..], t => Assert.Equal(1, t));
            }
        }
    }

    [Fact]
    public void Streaming_yields_the_greedy_tokens_step_by_step()
    {
        using var lm = OptTests.RandomOpt();
        using var ids = OptTests.RandomIds(26, 2, 5);
        using var mask = ones(2, 5, ScalarType.Int64);
        var o = Greedy with { EosTokenId = 300 };
        var whole = TextGenerator.GenerateFromIds(lm, ids, null, o);
        using var embeds = lm.Embed(ids);
        var steps = TextGenerator.Stream(lm, embeds, mask, o).ToList();
        Assert.Equal(whole[0].Length, steps.Count);
        for (int r = 0; r < 2; r++) Assert.Equal(whole[r], steps.Select(s => s[r]).ToArray());
    }

    [Fact]
    public void Bad_requests_are_reported()
    {
        using var lm = OptTests.RandomOpt();
        using var ids = OptTests.RandomIds(27, 2, 5);
        using var rightPadded = tensor(new long[] { 1, 1, 1, 1, 0, 1, 1, 1, 1, 1 }, [2, 5]);
        Assert.Contains("left-padded", Assert.Throws<GlanceException>(() => TextGenerator.GenerateFromIds(lm, ids, rightPadded, Greedy)).Message);
        Assert.Contains("exceed the 2 beams", Assert.Throws<GlanceException>(() => TextGenerator.GenerateFromIds(lm, ids, null, Greedy with { NumBeams = 2, NumReturnSequences = 3 })).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<GlanceException>(() => TextGenerator.GenerateFromIds(lm, ids, null, Greedy with { EosTokenId = 5000 })).Message);
    }

    [Fact]
    public void Generation_leaves_a_training_model_in_training_mode()
    {
        using var lm = OptTests.RandomOpt(OptConfig.Tiny with { Dropout = 0.3, InitStd = 0.3 });
        using var ids = OptTests.RandomIds(28, 1, 5);
        lm.eval();
        var evalResult = TextGenerator.GenerateFromIds(lm, ids, null, Greedy);
        lm.train();
        var trainResult = TextGenerator.GenerateFromIds(lm, ids, null, Greedy);   // dropout off while generating
        Assert.Equal(evalResult, trainResult);
        Assert.True(lm.training);
    }

    [Fact]
    public void Beam_hypotheses_score_and_stop_like_hf()
    {
        // length_penalty 1: −6 over 3 tokens (−2) beats −5 over 2 (−2.5); the worse one is evicted.
        var h = new BeamHypotheses(numBeams: 1, lengthPenalty: 1.0, EarlyStopping.False, maxNewTokens: 10);
        h.Add([7, 8], -5, 2);
        h.Add([7, 8, 9], -6, 3);
        Assert.Equal([7L, 8, 9], h.Beams.Single().Tokens);
        // False: done when the best running beam at its current length cannot beat the worst kept.
        Assert.False(h.IsDone(-3.9, 2));    // −1.95 > −2
        Assert.True(h.IsDone(-4.2, 2));     // −2.1 ≤ −2
        // Never with a positive penalty scores the running beam at max length: −4.2/10 > −2 → not done.
        var never = new BeamHypotheses(1, 1.0, EarlyStopping.Never, 10);
        never.Add([1, 2, 3], -6, 3);
        Assert.False(never.IsDone(-4.2, 2));
        Assert.True(never.IsDone(-25, 2));
        var eager = new BeamHypotheses(2, 0.0, EarlyStopping.True, 10);
        eager.Add([1], -1, 1);
        Assert.False(eager.IsDone(-100, 1));
        eager.Add([2], -2, 1);
        Assert.True(eager.IsDone(0, 1));
    }
}
