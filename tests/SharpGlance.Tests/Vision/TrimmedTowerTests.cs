using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Preprocessing;
using SharpGlance.Vision;
using SharpGlance.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Vision;

/// <summary>A tower built only up to the highest tapped layer (inference; SPEC §2) gives the full tower's hidden states.</summary>
public class TrimmedTowerTests
{
    [Fact]
    public void Vit_l_336_trimmed_to_layer_23_drops_exactly_block_24_and_post_layernorm()
    {
        using var full = new ClipVisionModel(ClipVisionConfig.VitL14_336, META, ScalarType.Float32, initialize: false);
        using var trimmed = new ClipVisionModel(ClipVisionConfig.VitL14_336, META, ScalarType.Float32, initialize: false, buildLayers: 23);
        var fullKeys = full.state_dict().Keys.ToHashSet();
        var trimmedKeys = trimmed.state_dict().Keys.ToHashSet();
        Assert.Subset(fullKeys, trimmedKeys);
        var dropped = fullKeys.Except(trimmedKeys).Order(StringComparer.Ordinal).ToList();
        Assert.All(dropped, k => Assert.True(k.StartsWith("encoder.layers.23.", StringComparison.Ordinal) || k.StartsWith("post_layernorm.", StringComparison.Ordinal), k));
        Assert.Contains("post_layernorm.weight", dropped);
        Assert.Equal(16 + 2, dropped.Count);   // 16 tensors per block + LN weight and bias
        long droppedParams = full.parameters().Sum(p => p.numel()) - trimmed.parameters().Sum(p => p.numel());
        Assert.Equal(12_596_224L + 2048, droppedParams);   // one ViT-L block (~50 MB of fp32) + post_layernorm
        Assert.Equal(23, trimmed.BuiltLayers);
        Assert.True(trimmed.IsTrimmed);
        Assert.False(full.IsTrimmed);
    }

    [Fact]
    public void A_trimmed_tower_loads_from_a_full_checkpoint_and_matches_the_full_tower()
    {
        using var full = ClipVisionModel.FromPretrained(TinyModels.ClipFolder);
        using var trimmed = ClipVisionModel.FromPretrained(TinyModels.ClipFolder, buildLayers: 3);
        Assert.Equal(3, trimmed.BuiltLayers);
        Assert.Null(trimmed.post_layernorm);
        using var _ = no_grad();
        using var pixels = randn([2, 3, 56, 56], generator: new Generator(1));
        using var a = full.Forward(pixels, [-2, 1]);
        using var b = trimmed.Forward(pixels, [-2, 1]);
        TensorAssert.Close(a.Hidden(3), b.Hidden(3), 0, "hidden_states[3] (= -2)");
        TensorAssert.Close(a.Hidden(1), b.Hidden(1), 0, "hidden_states[1]");
        Assert.Equal(a.Hidden(-2).shape, b.Hidden(-2).shape);
        var e = Assert.Throws<GlanceException>(() => trimmed.Forward(pixels, [-1]));
        Assert.Contains("built for inference up to layer 3", e.Message);
        Assert.Throws<GlanceException>(() => trimmed.forward(pixels));
    }

    [Fact]
    public void The_forward_frees_unrequested_hidden_states_but_keeps_the_requested_ones_alive()
    {
        using var tower = ClipVisionModel.FromPretrained(TinyModels.ClipFolder);
        using var _ = no_grad();
        using var pixels = randn([1, 3, 56, 56], generator: new Generator(2));
        using var all = tower.Forward(pixels);
        using var some = tower.Forward(pixels, [0, 2, 4]);
        foreach (int k in new[] { 0, 2, 4 }) TensorAssert.Close(all.Hidden(k), some.Hidden(k), 0, $"hidden_states[{k}]");
        Assert.NotNull(some.PoolerOutput);
        TensorAssert.Close(all.PoolerOutput!, some.PoolerOutput!, 0, "pooler output");
    }

    [Fact]
    public void A_captioner_loaded_trimmed_captions_identically_and_refuses_to_save_its_tower()
    {
        var dir = TempDir.Create();
        using (var c = Captioner.Assemble(TinyModels.ClipFolder, TinyModels.OptFolder, new AssembleOptions { Seed = 3 })) c.Save(dir);
        using var whole = Captioner.Load(dir);
        using var trimmed = Captioner.Load(dir, new CaptionerLoadOptions { TrimVision = true });
        Assert.Equal(4, whole.Vision.BuiltLayers);
        Assert.Equal(3, trimmed.Vision.BuiltLayers);   // select layer −2 of 4

        var rng = new Random(9);
        var images = Enumerable.Range(0, 2).Select(_ => { var px = new byte[56 * 56 * 3]; rng.NextBytes(px); return new RgbImage(56, 56, px); }).ToList();
        var options = new CaptionRunOptions { Generation = new GenerationOptions { MaxNewTokens = 6 } };
        Assert.Equal(CaptionPipeline.CaptionImages(whole, images, options).Select(r => r.Caption),
                     CaptionPipeline.CaptionImages(trimmed, images, options).Select(r => r.Caption));

        var e = Assert.Throws<GlanceException>(() => trimmed.Save(TempDir.Create()));
        Assert.Contains("trimmed", e.Message);
        Assert.Throws<GlanceException>(() => trimmed.AttachDeepLens(TinyModels.DeepLens));   // taps layer 4
    }
}
