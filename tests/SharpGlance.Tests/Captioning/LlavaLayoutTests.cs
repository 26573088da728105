using System.Text.Json.Nodes;
using SharpGlance.Captioning;
using SharpGlance.IO;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Captioning;

/// <summary>
/// The HF LLaVA layout beyond the fixture's one setting: the merge of <c>&lt;image&gt;</c> tokens worked out by
/// hand from transformers 4.36's algorithm (rows with different image counts, left padding), the feature
/// layer and select strategy read from config.json, and sharded safetensors with their index.
/// </summary>
public class LlavaLayoutTests
{
    private static string Folder => Path.Combine(Fixtures.Root, "tiny-llava-llama");

    [Fact]
    public void Image_tokens_expand_where_they_stand_and_left_padding_fills_the_front()
    {
        using var model = LlavaForConditionalGeneration.FromPretrained(Folder);
        const long pad = 341, img = 340;
        // Row 0: [pad, 5, <image>, 6] (one image); row 1: [<image>, 7, <image>, 8] (two). 3 tokens per image.
        using var ids = tensor(new long[] { pad, 5, img, 6, img, 7, img, 8 }, [2, 4]);
        using var mask = tensor(new long[] { 0, 1, 1, 1, 1, 1, 1, 1 }, [2, 4]);
        using var features = randn(3, 3, 48);
        var (embeds, merged) = model.Merge(ids, mask, features);
        using var _e = embeds; using var _m = merged;

        // M = 2 images × (3 − 1) + 4 = 8. Row 0's text goes to cumsum − 1 = [0, 1, 4, 5] shifted by its
        // shortfall 8 − 1 − 5 = 2: [2, 3, 6, 7]; its image fills the unwritten slots after the first 2.
        Assert.Equal(new long[] { 2, 8, 48 }, embeds.shape);
        Assert.Equal(new long[] { 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, merged.data<long>().ToArray());
        using var tokens = model.language_model.Embed(ids);
        void Same(Tensor want, Tensor got, string what) => TensorAssert.Close(want, got, 0, what);
        Same(zeros(2, 48), embeds[0, ..2], "row 0, front padding");
        Same(tokens[0, 0], embeds[0, 2], "row 0, the pad token");
        Same(tokens[0, 1], embeds[0, 3], "row 0, token 5");
        Same(features[0], embeds[0, 4..7], "row 0, image 0");
        Same(tokens[0, 3], embeds[0, 7], "row 0, token 6");
        // Row 1: [2, 3, 6, 7], no shortfall; images 1 and 2 in order.
        Same(features[1], embeds[1, ..3], "row 1, image 1");
        Same(tokens[1, 1], embeds[1, 3], "row 1, token 7");
        Same(features[2], embeds[1, 4..7], "row 1, image 2");
        Same(tokens[1, 3], embeds[1, 7], "row 1, token 8");

        using var two = randn(2, 3, 48);
        var e = Assert.Throws<GlanceException>(() => model.Merge(ids, mask, two));
        Assert.Contains("3 <image> tokens but 2 images", e.Message);
    }

    [Theory]
    [InlineData(-2, "default", 25)]
    [InlineData(-2, "full", 26)]
    [InlineData(-1, "default", 25)]
    [InlineData(1, "full", 26)]
    public void Feature_layer_and_select_strategy_come_from_config(int layer, string strategy, int tokens)
    {
        var dir = CopyFixture();
        var configPath = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["vision_feature_layer"] = layer;
        config["vision_feature_select_strategy"] = strategy;
        File.WriteAllText(configPath, config.ToJsonString());
        using var model = LlavaForConditionalGeneration.FromPretrained(dir);
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder, "expected.safetensors"));
        using var pixels = expected.Load("pixel_values");
        using var _ = no_grad();
        using var features = model.ImageFeatures(pixels);
        Assert.Equal(new long[] { 2, tokens, 48 }, features.shape);

        // The same hidden state from an untrimmed tower, through the same projector.
        using var ck = Checkpoint.Open(dir);
        using var tower = ClipVisionModel.Load(model.Config.Vision, ck, LlavaForConditionalGeneration.VisionPrefix);
        using var all = tower.Forward(pixels);
        var hidden = all.HiddenStates[layer < 0 ? 4 + layer : layer];
        using var want = model.multi_modal_projector.forward(strategy == "full" ? hidden : hidden[.., 1..]);
        TensorAssert.Close(want, features, 1e-6, $"layer {layer}, {strategy}");

        using var ids = expected.Load("input_ids");
        using var mask = expected.Load("attention_mask");
        using var logits = model.Logits(ids, mask, pixels);
        Assert.Equal(ids.shape[1] + tokens - 1, logits.shape[1]);
    }

    [Fact]
    public void Sharded_safetensors_with_their_index_load_the_same_model()
    {
        var dir = CopyFixture();
        var weights = Path.Combine(dir, "model.safetensors");
        var map = new JsonObject();
        using (var ck = Checkpoint.Open(weights))
        {
            var keys = ck.Keys.Order(StringComparer.Ordinal).ToList();
            var shards = new[] { keys.Where(k => !k.StartsWith("language_model.")).ToList(), keys.Where(k => k.StartsWith("language_model.")).ToList() };
            for (int i = 0; i < 2; i++)
            {
                string name = $"model-0000{i + 1}-of-00002.safetensors";
                var tensors = shards[i].ToDictionary(k => k, k => ck.Load(k));
                SafeTensorsFile.Save(Path.Combine(dir, name), tensors, new Dictionary<string, string> { ["format"] = "pt" });
                foreach (var t in tensors.Values) t.Dispose();
                foreach (var k in shards[i]) map[k] = name;
            }
        }
        File.Delete(weights);
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());

        using var sharded = LlavaForConditionalGeneration.FromPretrained(dir);
        using var single = LlavaForConditionalGeneration.FromPretrained(Folder);
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder, "expected.safetensors"));
        using var ids = expected.Load("input_ids");
        using var mask = expected.Load("attention_mask");
        using var pixels = expected.Load("pixel_values");
        using var a = single.Logits(ids, mask, pixels);
        using var b = sharded.Logits(ids, mask, pixels);
        TensorAssert.Close(a, b, 0, "sharded against single-file weights");
    }

    private static string CopyFixture()
    {
        var dir = TempDir.Create("llava-layout");
        foreach (var f in Directory.EnumerateFiles(Folder)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }
}
