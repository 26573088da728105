using SharpGlance.Connectors;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Connectors;

public class DeepLensTests
{
    // Dv = 16, D = 16, 2 heads, 2 layers, 4 queries, H = 12; three levels of a 3×3 grid.
    private static DeepLensConfig Tiny(string variant = "detr") => new()
    {
        Variant = Enum.Parse<DeepLensVariant>(variant, ignoreCase: true), TappedLayers = [3, 1, 2], VisionWidth = 16, DModel = 16, DecoderLayers = 2,
        DecoderAttentionHeads = 2, DecoderFfnDim = 32, NumQueries = 4, LmHidden = 12,
    };

    private sealed record Inputs(List<Tensor> Levels, Tensor Caption, Tensor Mask);

    // Batch of 2; the second caption has 3 tokens and 2 padding slots.
    private static Inputs MakeInputs(long seed = 7)
    {
        var g = new Generator((ulong)seed);
        var levels = Enumerable.Range(0, 3).Select(_ => torch.randn(2, 9, 16, generator: g)).ToList();
        var caption = torch.randn(2, 5, 12, generator: g);
        var mask = torch.tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }).reshape(2, 5);
        return new Inputs(levels, caption, mask);
    }

    private static double MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void Sine_positions_match_hand_computed_values_on_a_2x2_grid()
    {
        // D = 8: 4 channels per axis, dim_t = 10000^(2⌊k/2⌋/4) = [1, 1, 100, 100].
        // Row i: y = (i+1)/(2+1e-6)·2π ≈ π, 2π (the 1e-6 moves sin by ~1.6e-6); columns alike.
        // Channels per token: [sin y, cos y, sin y/100, cos y/100, sin x, cos x, sin x/100, cos x/100].
        float[] one = [0f, -1f, 0.0314108f, 0.9995066f]; // coordinate π:  sin π, cos π, sin π/100, cos π/100
        float[] two = [0f, 1f, 0.0627905f, 0.9980267f];  // coordinate 2π: sin 2π, cos 2π, sin 2π/100, cos 2π/100
        float[] expected = [.. one, .. one, /* (0,1) */ .. one, .. two, /* (1,0) */ .. two, .. one, /* (1,1) */ .. two, .. two];
        using var pos = SinePositions.Create(2, 2, 8);
        Assert.Equal([4L, 8], pos.shape);
        TensorAssert.Close(torch.tensor(expected).reshape(4, 8), pos, 1e-5, "2×2 sine positions");
    }

    [Fact]
    public void Sine_positions_normalise_each_axis_by_its_own_length_on_a_2x3_grid()
    {
        using var pos = SinePositions.Create(2, 3, 8);
        Assert.Equal([6L, 8], pos.shape);
        // Token 1 = (row 0, column 1): y = 1/2·2π = π, x = 2/3·2π = 4π/3.
        var t1 = pos[1].data<float>().ToArray();
        Assert.Equal(-1f, t1[1], 1e-5f);                               // cos π
        Assert.Equal(-0.8660254f, t1[4], 1e-5f);                       // sin 4π/3
        Assert.Equal(-0.5f, t1[5], 1e-5f);                             // cos 4π/3
        Assert.Equal(0.0418757f, t1[6], 1e-5f);                        // sin 4π/300
        // Token 5 = (row 1, column 2): y = x = 2π.
        var t5 = pos[5].data<float>().ToArray();
        Assert.Equal(1f, t5[1], 1e-5f);
        Assert.Equal(1f, t5[5], 1e-5f);
    }

    [Theory]
    [InlineData("detr", 4L)]
    [InlineData("bert", 9L)]
    public void Output_shape_is_queries_or_patches_by_variant(string variant, long tokens)
    {
        using var lens = DeepLens.Create(Tiny(variant));
        var x = MakeInputs();
        using var _ = torch.no_grad();
        var y = lens.forward(x.Levels, x.Caption, x.Mask);
        Assert.Equal([2L, tokens, 12], y.shape);
        Assert.Equal(tokens, lens.OutputTokens(9));
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.False(y.isnan().any().item<bool>());
    }

    [Theory]
    [InlineData("detr")]
    [InlineData("bert")]
    public void Caption_padding_does_not_change_the_output(string variant)
    {
        torch.manual_seed(11);
        using var lens = DeepLens.Create(Tiny(variant));
        var x = MakeInputs();
        using var _ = torch.no_grad();
        var reference = lens.forward(x.Levels, x.Caption, x.Mask);

        // Arbitrary (huge) embeddings in the two padding slots of row 1: the result is identical.
        var garbage = x.Caption.clone();
        garbage[1, TensorIndex.Slice(3, 5)] = torch.randn(2, 12, generator: new Generator(5)) * 1000;
        Assert.Equal(0.0, MaxDiff(reference, lens.forward(x.Levels, garbage, x.Mask)));

        // And row 1 equals a run of its 3 real tokens with no padding at all.
        var alone = lens.forward(x.Levels.Select(l => l[TensorIndex.Slice(1, 2)]).ToList(), x.Caption[TensorIndex.Slice(1, 2), TensorIndex.Slice(0, 3)]);
        TensorAssert.Close(alone, reference[TensorIndex.Slice(1, 2)], 1e-5, "padded row vs unpadded run");

        // Sanity: changing a real token does change it.
        var changed = x.Caption.clone();
        changed[1, 0] += 1;
        Assert.True(MaxDiff(reference, lens.forward(x.Levels, changed, x.Mask)) > 1e-4);
    }

    [Theory]
    [InlineData("detr")]
    [InlineData("bert")]
    public void Single_level_ablation_reads_only_the_base_level(string variant)
    {
        using var single = DeepLens.Create(Tiny(variant) with { MultiLevel = false });
        var keys = single.state_dict();
        Assert.DoesNotContain(keys.Keys, k => k.StartsWith("input_projection.1.", StringComparison.Ordinal) || k == "layer_embedding");
        if (variant == "bert") Assert.Equal([16L, 16], keys["visual_proj.weight"].shape); // Linear(1·Dv, D)

        var x = MakeInputs();
        var other = MakeInputs(seed: 99);
        using var _ = torch.no_grad();
        var reference = single.forward(x.Levels, x.Caption, x.Mask);
        var swapped = single.forward([x.Levels[0], other.Levels[1], other.Levels[2]], x.Caption, x.Mask);
        var baseOnly = single.forward([x.Levels[0]], x.Caption, x.Mask);
        Assert.Equal(0.0, MaxDiff(reference, swapped));
        Assert.Equal(0.0, MaxDiff(reference, baseOnly));
        Assert.True(MaxDiff(reference, single.forward([other.Levels[0], x.Levels[1], x.Levels[2]], x.Caption, x.Mask)) > 1e-4);

        // Sanity: with multi-level on, the other levels matter.
        using var multi = DeepLens.Create(Tiny(variant));
        Assert.True(MaxDiff(multi.forward(x.Levels, x.Caption, x.Mask),
            multi.forward([x.Levels[0], other.Levels[1], other.Levels[2]], x.Caption, x.Mask)) > 1e-4);
        Assert.Throws<GlanceException>(() => multi.forward([x.Levels[0]], x.Caption, x.Mask));
    }

    [Theory]
    [InlineData("detr")]
    [InlineData("bert")]
    public void Caption_off_ignores_the_caption(string variant)
    {
        using var off = DeepLens.Create(Tiny(variant) with { CaptionInput = false });
        Assert.DoesNotContain(off.state_dict().Keys, k => k.StartsWith("pre_caption_proj.", StringComparison.Ordinal));
        var x = MakeInputs();
        using var _ = torch.no_grad();
        Assert.Equal(0.0, MaxDiff(off.forward(x.Levels), off.forward(x.Levels, x.Caption, x.Mask)));

        using var on = DeepLens.Create(Tiny(variant));
        Assert.True(MaxDiff(on.forward(x.Levels), on.forward(x.Levels, x.Caption, x.Mask)) > 1e-4);
    }

    [Fact]
    public void Keys_equal_the_released_module_for_the_tiny_fixture_layout()
    {
        using var lens = DeepLens.Create(Tiny() with { DecoderLayers = 1 });
        var listing = string.Join("\n", lens.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]"));
        var layer = new[] { "encoder_attn.k_proj", "encoder_attn.out_proj", "encoder_attn.q_proj", "encoder_attn.v_proj" }
            .SelectMany(p => new[] { $"{p}.bias [16]", $"{p}.weight [16, 16]" })
            .Concat(["encoder_attn_layer_norm.bias [16]", "encoder_attn_layer_norm.weight [16]",
                     "fc1.bias [32]", "fc1.weight [32, 16]", "fc2.bias [16]", "fc2.weight [16, 32]",
                     "final_layer_norm.bias [16]", "final_layer_norm.weight [16]"])
            .Concat(new[] { "self_attn.k_proj", "self_attn.out_proj", "self_attn.q_proj", "self_attn.v_proj" }
                .SelectMany(p => new[] { $"{p}.bias [16]", $"{p}.weight [16, 16]" }))
            .Concat(["self_attn_layer_norm.bias [16]", "self_attn_layer_norm.weight [16]"])
            .Select(s => "decoder.layers.0." + s);
        var expected = new[] { "decoder.layernorm.bias [16]", "decoder.layernorm.weight [16]" }
            .Concat(layer)
            .Concat(Enumerable.Range(0, 3).SelectMany(i => new[]
                { $"input_projection.{i}.0.bias [16]", $"input_projection.{i}.0.weight [16, 16]", $"input_projection.{i}.2.bias [16]", $"input_projection.{i}.2.weight [16, 16]" }))
            .Concat(["layer_embedding [2, 16]", "llm_proj.bias [12]", "llm_proj.weight [12, 16]",
                     "pre_caption_proj.0.bias [16]", "pre_caption_proj.0.weight [16, 12]",
                     "pre_caption_proj.2.bias [16]", "pre_caption_proj.2.weight [16, 16]",
                     "query_position_embeddings.weight [4, 16]"])
            .Order(StringComparer.Ordinal);
        Assert.Equal(string.Join("\n", expected), listing);
    }

    [Fact]
    public void Create_initialises_as_documented()
    {
        torch.manual_seed(3);
        using var lens = DeepLens.Create(Tiny());
        var sd = lens.state_dict();
        Assert.Equal(0.0, sd["layer_embedding"].abs().sum().item<float>());        // zero level embedding (SPEC §8)
        Assert.Equal(0.0, sd["llm_proj.bias"].abs().sum().item<float>());          // zero biases
        double bound = Math.Sqrt(6.0 / (16 + 32));                                 // xavier-uniform bound for fc1 [32, 16]
        Assert.True(sd["decoder.layers.0.fc1.weight"].abs().max().item<float>() <= bound + 1e-6);
        Assert.Equal(1.0, sd["decoder.layernorm.weight"].mean().item<float>(), 6);
        Assert.InRange(sd["query_position_embeddings.weight"].std().item<float>(), 0.4, 2.0); // N(0, 1)
        Assert.False(lens.training);
        Assert.All(lens.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Theory]
    [InlineData("detr")]
    [InlineData("bert")]
    public void Dropout_acts_in_training_mode_only(string variant)
    {
        using var lens = DeepLens.Create(Tiny(variant));
        var x = MakeInputs();
        using var _ = torch.no_grad();
        Assert.Equal(0.0, MaxDiff(lens.forward(x.Levels, x.Caption, x.Mask), lens.forward(x.Levels, x.Caption, x.Mask)));
        lens.train();
        Assert.True(MaxDiff(lens.forward(x.Levels, x.Caption, x.Mask), lens.forward(x.Levels, x.Caption, x.Mask)) > 1e-4);
    }

    [Theory]
    [InlineData("detr")]
    [InlineData("bert")]
    public void A_training_step_reaches_every_parameter_and_lowers_the_loss(string variant)
    {
        torch.manual_seed(21);
        using var lens = DeepLens.Create(Tiny(variant));
        var x = MakeInputs();
        var target = torch.randn(2, lens.OutputTokens(9), 12, generator: new Generator(8));
        double EvalLoss()
        {
            lens.eval();
            using var _ = torch.no_grad();
            return nn.functional.mse_loss(lens.forward(x.Levels, x.Caption, x.Mask), target).item<float>();
        }
        double before = EvalLoss();

        lens.train();
        var optimizer = torch.optim.Adam(lens.parameters(), lr: 3e-3);
        for (int step = 0; step < 40; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(lens.forward(x.Levels, x.Caption, x.Mask), target);
            loss.backward();
            if (step == 0)
            {
                var dead = lens.named_parameters()
                    .Where(p => p.parameter.grad is null || p.parameter.grad.abs().sum().item<float>() == 0)
                    .Select(p => p.name).ToList();
                Assert.True(dead.Count == 0, $"no gradient reached: {string.Join(", ", dead)}");
            }
            optimizer.step();
        }
        double after = EvalLoss();
        Assert.True(after < 0.5 * before, $"loss {before:F4} → {after:F4}");
    }

    [Theory]
    [InlineData("detr")]
    [InlineData("bert")]
    public void Converting_the_module_keeps_every_parameter_in_use(string variant)
    {
        // Module.to() replaces parameters (disposing the old ones) and re-points fields named as their keys,
        // such as layer_embedding: a stale reference would fail here.
        using var lens = DeepLens.Create(Tiny(variant));
        var x = MakeInputs();
        using var _ = torch.no_grad();
        var f32 = lens.forward(x.Levels, x.Caption, x.Mask);
        lens.to(ScalarType.Float64);
        Assert.All(lens.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        var f64 = lens.forward(x.Levels.Select(l => l.to_type(ScalarType.Float64)).ToList(), x.Caption.to_type(ScalarType.Float64), x.Mask);
        Assert.Equal(ScalarType.Float64, f64.dtype);
        TensorAssert.Close(f64, f32, 1e-4, "float64 vs float32");
    }

    [Fact]
    public void Non_square_grids_need_the_grid()
    {
        using var lens = DeepLens.Create(Tiny());
        var levels = Enumerable.Range(0, 3).Select(i => torch.randn(1, 6, 16, generator: new Generator((ulong)i))).ToList();
        using var _ = torch.no_grad();
        var e = Assert.Throws<GlanceException>(() => lens.forward(levels));
        Assert.Contains("square", e.Message);
        Assert.Equal([1L, 4, 12], lens.forward(levels, grid: (2, 3)).shape);
        Assert.Throws<GlanceException>(() => lens.forward(levels, grid: (2, 2)));
    }

    [Fact]
    public void Bad_shapes_are_refused_with_the_shapes_named()
    {
        using var lens = DeepLens.Create(Tiny());
        var x = MakeInputs();
        using var _ = torch.no_grad();
        Assert.Contains("[2, 9, 15]", Assert.Throws<GlanceException>(() =>
            lens.forward([torch.zeros(2, 9, 15), x.Levels[1], x.Levels[2]])).Message);
        Assert.Contains("level 2", Assert.Throws<GlanceException>(() =>
            lens.forward([x.Levels[0], x.Levels[1], torch.zeros(2, 4, 16)])).Message);
        Assert.Contains("caption embeddings", Assert.Throws<GlanceException>(() =>
            lens.forward(x.Levels, torch.zeros(2, 5, 11), x.Mask)).Message);
        Assert.Contains("caption mask", Assert.Throws<GlanceException>(() =>
            lens.forward(x.Levels, x.Caption, torch.ones(2, 4))).Message);
    }

    [Fact]
    public void Cross_attention_maps_sum_to_one_over_every_levels_patches_and_leave_the_output_unchanged()
    {
        using var lens = DeepLens.Create(Tiny());
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var x = MakeInputs();
        var plain = lens.forward(x.Levels, x.Caption, x.Mask);
        var sink = new List<Tensor>();
        var recorded = lens.forward(x.Levels, x.Caption, x.Mask, crossAttentions: sink);
        Assert.Equal(0.0, MaxDiff(plain, recorded));
        Assert.Equal(2, sink.Count);   // one per decoder layer
        foreach (var a in sink)
        {
            using (a)
            {
                Assert.Equal([2L, 2, 4 + 5, 3 * 9], a.shape);   // [B, heads, Q + T, K·N]
                Assert.True(MaxDiff(a.sum(-1), torch.ones(2, 2, 9)) < 1e-5, "rows sum to 1 over the keys");
                Assert.True(a.min().item<float>() >= 0);
            }
        }
        Assert.Throws<GlanceException>(() => DeepLens.Create(Tiny("bert")).forward(x.Levels, x.Caption, x.Mask, crossAttentions: []));
    }
}

public class DeepLensConfigTests
{
    [Fact]
    public void Defaults_are_the_papers()
    {
        var c = new DeepLensConfig().Validate();
        Assert.Equal([23, 13, 18], c.TappedLayers);
        Assert.Equal((1024L, 1024L, 4, 16, 4096L, 100, 768L), (c.VisionWidth, c.DModel, c.DecoderLayers, c.DecoderAttentionHeads, c.DecoderFfnDim, c.NumQueries, c.LmHidden));
        Assert.Equal((DeepLensVariant.Detr, "relu", 0.1, 1e-5, true, true), (c.Variant, c.ActivationFunction, c.Dropout, c.LayerNormEps, c.CaptionInput, c.MultiLevel));
        Assert.Equal(3, c.NumLevels);
        Assert.Equal([23], (c with { MultiLevel = false }).UsedLayers);
    }

    [Fact]
    public void Json_round_trips_with_snake_case_names()
    {
        var c = new DeepLensConfig { Variant = DeepLensVariant.Bert, TappedLayers = [23, 18], DModel = 512, MultiLevel = false, ActivationFunction = "gelu" };
        var json = c.ToJson();
        foreach (var name in new[] { "\"variant\"", "\"tapped_layers\"", "\"vision_width\"", "\"d_model\"", "\"decoder_layers\"",
                     "\"decoder_attention_heads\"", "\"decoder_ffn_dim\"", "\"num_queries\"", "\"lm_hidden\"", "\"dropout\"",
                     "\"layer_norm_eps\"", "\"activation_function\"", "\"caption_input\"", "\"multi_level\"", "\"level_projector_type\"" })
            Assert.Contains(name, json);
        Assert.DoesNotContain("NumLevels", json);
        var back = DeepLensConfig.FromJson(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal([23, 18], back.TappedLayers);
        Assert.False(back.MultiLevel);
    }

    [Fact]
    public void Unknown_keys_and_bad_values_name_the_field()
    {
        Assert.Contains("d_modle", Assert.Throws<GlanceException>(() => DeepLensConfig.FromJson("{\"d_modle\": 8}", "cfg.json")).Message);
        Assert.Contains("cfg.json", Assert.Throws<GlanceException>(() => DeepLensConfig.FromJson("{\"d_model\": \"big\"}", "cfg.json")).Message);
        Assert.Contains("decoder_attention_heads", Assert.Throws<GlanceException>(() => new DeepLensConfig { DModel = 1000 }.Validate()).Message);
        Assert.Contains("variant", Assert.Throws<GlanceException>(() => DeepLensConfig.FromJson("{\"variant\": \"qformer\"}", "cfg.json")).Message);
        Assert.Contains("tapped_layers", Assert.Throws<GlanceException>(() => new DeepLensConfig { TappedLayers = [] }.Validate()).Message);
        Assert.Contains("activation_function", Assert.Throws<GlanceException>(() => new DeepLensConfig { ActivationFunction = "swish" }.Validate()).Message);
        Assert.Contains("dropout", Assert.Throws<GlanceException>(() => new DeepLensConfig { Dropout = 1 }.Validate()).Message);
        Assert.Contains("level_projector_type", Assert.Throws<GlanceException>(() => new DeepLensConfig { LevelProjectorType = "mlp" }.Validate()).Message);
    }
}
