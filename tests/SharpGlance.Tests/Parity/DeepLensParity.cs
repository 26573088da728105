using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpGlance.Connectors;
using SharpGlance.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Parity;

/// <summary>
/// Parity with the paper's released DeepLens (FP_DETRconnector on transformers 4.36.2 DETR decoder layers):
/// a fixture folder of kind "deeplens" holds its config.json (sizes, grid, weight keys), model.safetensors
/// and expected.safetensors (<c>level_0..K-1</c>, <c>caption_embeds</c>, <c>caption_mask</c> →
/// <c>output_with_caption</c>, <c>output_without_caption</c>). Everything is read from the folder.
/// </summary>
public static class DeepLensParity
{
    public const double Tolerance = 1e-5;

    /// <summary>Maps a released-module fixture config onto ours (the tapped layer indices play no part here).</summary>
    public static DeepLensConfig ConfigFrom(JsonObject j, bool captionInput)
    {
        int levels = j["num_levels"]!.GetValue<int>();
        return new DeepLensConfig
        {
            Variant = DeepLensVariant.Detr,
            TappedLayers = Enumerable.Range(0, levels).ToList(),
            VisionWidth = j["vision_width"]!.GetValue<long>(),
            DModel = j["d_model"]!.GetValue<long>(),
            DecoderLayers = j["decoder_layers"]!.GetValue<int>(),
            DecoderFfnDim = j["decoder_ffn_dim"]!.GetValue<long>(),
            DecoderAttentionHeads = j["decoder_attention_heads"]!.GetValue<int>(),
            NumQueries = j["num_queries"]!.GetValue<int>(),
            LmHidden = j["lm_hidden"]!.GetValue<long>(),
            LayerNormEps = j["layer_norm_eps"]?.GetValue<double>() ?? 1e-5,
            ActivationFunction = j["activation_function"]?.GetValue<string>() ?? "relu",
            CaptionInput = captionInput,
            MultiLevel = true,
        }.Validate();
    }

    [FixtureKind("deeplens")]
    public static void Check(string folder)
    {
        var j = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        // Open the weights file alone: the folder's expected.safetensors is not part of the model.
        using var ck = Checkpoint.Open(Path.Combine(folder, "model.safetensors"));
        bool caption = ck.Keys.Any(k => k.StartsWith("pre_caption_proj.", StringComparison.Ordinal));
        var config = ConfigFrom(j, caption);
        using var lens = DeepLens.FromCheckpoint(config, ck);

        if (j["keys"] is JsonArray keys)
        {
            var want = keys.Select(k => k!.GetValue<string>()).Order(StringComparer.Ordinal).ToList();
            var have = lens.state_dict().Keys.Order(StringComparer.Ordinal).ToList();
            Assert.True(want.SequenceEqual(have),
                $"DeepLens keys differ from the released module's: missing [{string.Join(", ", want.Except(have))}], extra [{string.Join(", ", have.Except(want))}]");
        }

        (long, long)? grid = j["grid"] is JsonArray g ? (g[0]!.GetValue<long>(), g[1]!.GetValue<long>()) : null;
        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var levels = expected.Tensors.Keys
            .Select(k => Regex.Match(k, @"^level_(\d+)$")).Where(m => m.Success)
            .OrderBy(m => int.Parse(m.Groups[1].Value))
            .Select(m => expected.Load(m.Value, ScalarType.Float32)).ToList();
        Assert.Equal(config.NumLevels, levels.Count);

        int compared = 0;
        if (expected.Tensors.ContainsKey("output_without_caption"))
        {
            var actual = lens.forward(levels, grid: grid);
            Report(folder, "output_without_caption", expected.Load("output_without_caption"), actual);
            compared++;
        }
        if (expected.Tensors.ContainsKey("output_with_caption"))
        {
            Assert.True(caption, "the fixture has output_with_caption but its weights have no pre_caption_proj");
            var embeds = expected.Load("caption_embeds", ScalarType.Float32);
            var mask = expected.Load("caption_mask");
            var actual = lens.forward(levels, embeds, mask, grid);
            Report(folder, "output_with_caption", expected.Load("output_with_caption"), actual);
            compared++;
        }
        Assert.True(compared > 0, $"{folder}: expected.safetensors has no output_with_caption / output_without_caption to compare");
    }

    private static void Report(string folder, string what, Tensor expected, Tensor actual)
    {
        if (expected.shape.SequenceEqual(actual.shape))
        {
            double max = (expected.to_type(ScalarType.Float64) - actual.to_type(ScalarType.Float64)).abs().max().item<double>();
            TestContext.Current.TestOutputHelper?.WriteLine($"{Path.GetFileName(folder)} {what}: max abs diff {max:E3}");
        }
        TensorAssert.Close(expected, actual, Tolerance, $"{Path.GetFileName(folder)} {what}");
    }
}
