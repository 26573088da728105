using System.Text.Json.Nodes;
using SharpGlance.IO;
using SharpGlance.Tests.IO;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Vision;

public class ClipTests
{
    private static string TinyVisionFixture => Path.Combine(Fixtures.Root, "tiny-clip-vision");

    [Fact]
    public void Vit_l_336_builds_the_approved_keys_and_shapes_on_meta()
    {
        using var tower = new ClipVisionModel(ClipVisionConfig.VitL14_336, META, ScalarType.Float32, initialize: false);
        var listing = tower.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]").ToArray();
        var approved = File.ReadAllLines(Path.Combine(Fixtures.RepoRoot, "tests", "SharpGlance.Tests", "Approved", "clip-vit-large-patch14-336.vision.keys.txt"));
        Assert.Equal(approved, listing);
        Assert.Equal(303_507_456L, tower.parameters().Sum(p => p.NumberOfElements));
        Assert.Equal(577, ClipVisionConfig.VitL14_336.NumPositions);
    }

    [Fact]
    public void The_published_clip_config_reads_as_the_vit_l_336_preset()
    {
        // openai/clip-vit-large-patch14-336's config.json (abridged: its vision_config keys that differ
        // from the defaults, plus noise HF ignores).
        var json = """
        {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 768, "logit_scale_init_value": 2.6592,
         "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "projection_dim": 768, "dropout": 0.0},
         "vision_config": {"dropout": 0.0, "hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
                           "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768,
                           "model_type": "clip_vision_model"}}
        """;
        var root = (JsonObject)JsonNode.Parse(json)!;
        Assert.Equal(ClipVisionConfig.VitL14_336, ClipVisionConfig.FromJson(root, "config.json"));
        var full = ClipConfig.FromJson(root, "config.json");
        Assert.Equal(768, full.ProjectionDim);
        Assert.Equal(49407, full.TextConfig.EosTokenId);
        var bad = (JsonObject)JsonNode.Parse("""{"model_type": "clip_vision_model", "hidden_size": 30, "num_attention_heads": 4}""")!;
        Assert.Contains("hidden_size 30 is not divisible", Assert.Throws<GlanceException>(() => ClipVisionConfig.FromJson(bad, "c.json")).Message);
    }

    [Fact]
    public void The_tower_loads_from_a_llava_style_prefix_ignoring_position_ids()
    {
        using var reference = ClipVisionModel.FromPretrained(TinyVisionFixture);
        using var dir = new TempFolder();
        const string prefix = "model.vision_tower.vision_tower.vision_model.";
        var tensors = reference.state_dict().ToDictionary(kv => prefix + kv.Key, kv => kv.Value);
        using var positionIds = arange(17L).unsqueeze(0);
        tensors[prefix + "embeddings.position_ids"] = positionIds;          // as transformers < 4.31 saved it
        using var decoder = zeros(4, 4);
        tensors["model.decoder.embed_tokens.weight"] = decoder;             // the LM's keys are not the tower's
        SafeTensorsFile.Save(dir.File("model.safetensors"), tensors);
        using var ck = Checkpoint.Open(dir.Path);
        using var tower = ClipVisionModel.Load(reference.Config, ck, prefix);

        using var _ = no_grad();
        using var pixels = randn(1, 3, 56, 56);
        using var a = reference.Forward(pixels, [-2]);
        using var b = tower.Forward(pixels, [-2]);
        TensorAssert.Close(a.Hidden(-2), b.Hidden(3), 0, "hidden_states[-2] through the LLaVA prefix");
        Assert.Null(b.PoolerOutput);
        Assert.Single(b.HiddenStates);
    }

    [Fact]
    public void Bad_pixels_and_layers_are_reported()
    {
        using var tower = new ClipVisionModel(ClipVisionConfig.Tiny);
        using var _ = no_grad();
        using var wrong = zeros(1, 3, 64, 64);
        Assert.Contains("expected [B, 3, 56, 56]", Assert.Throws<GlanceException>(() => tower.forward(wrong)).Message);
        using var pixels = zeros(1, 3, 56, 56);
        Assert.Contains("hidden_states[5] does not exist", Assert.Throws<GlanceException>(() => tower.Forward(pixels, [5])).Message);
    }

    [Fact]
    public void Text_pools_at_the_first_eos_or_with_eos_2_at_the_highest_id()
    {
        using var g = new torch.Generator(3);
        using var model = new ClipTextModel(ClipTextConfig.Tiny, generator: g);   // eos 3
        using var _ = no_grad();
        using var ids = tensor(new long[] { 0, 17, 3, 250, 3, 1, 999, 5 }, [1, 8]);
        using var o = model.forward(ids, null);
        TensorAssert.Close(o.LastHiddenState[0, 2], o.PoolerOutput[0], 0, "pooled at the first eos (position 2)");

        using var g2 = new torch.Generator(3);
        using var legacy = new ClipTextModel(ClipTextConfig.Tiny with { EosTokenId = 2 }, generator: g2);
        using var o2 = legacy.forward(ids, null);
        TensorAssert.Close(o2.LastHiddenState[0, 6], o2.PoolerOutput[0], 0, "eos 2: pooled at the highest id (999, position 6)");
    }

    [Fact]
    public void A_full_clip_saves_in_hf_layout_and_loads_back()
    {
        using var g = new torch.Generator(11);
        using var model = new ClipModel(ClipConfig.Tiny, generator: g);
        using var dir = new TempFolder();
        model.Save(dir.Path);

        var config = ConfigJson.ReadObject(dir.File("config.json"));
        Assert.Equal("clip", config["model_type"]!.GetValue<string>());
        Assert.Equal("CLIPModel", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal("clip_vision_model", config["vision_config"]!["model_type"]!.GetValue<string>());
        Assert.Equal(3, config["text_config"]!["eos_token_id"]!.GetValue<int>());
        using (var file = SafeTensorsFile.Open(dir.File("model.safetensors")))
        {
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Contains("logit_scale", file.Tensors.Keys);
            Assert.Contains("vision_model.pre_layrnorm.weight", file.Tensors.Keys);
            Assert.Contains("text_model.final_layer_norm.bias", file.Tensors.Keys);
        }

        using var loaded = ClipModel.FromPretrained(dir.Path);
        Assert.Equal(model.Config, loaded.Config);
        using var _ = no_grad();
        using var pixels = randn(2, 3, 56, 56);
        using var ids = tensor(new long[] { 0, 5, 6, 3, 1, 1, 0, 7, 8, 9, 10, 3 }, [2, 6]);
        using var mask = tensor(new long[] { 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1 }, [2, 6]);
        using var a = model.Forward(pixels, ids, mask);
        using var b = loaded.Forward(pixels, ids, mask);
        TensorAssert.Close(a.LogitsPerImage, b.LogitsPerImage, 0, "logits after save and load");
        TensorAssert.Close(a.LogitsPerImage, a.LogitsPerText.t(), 0, "logits_per_image = logits_per_textᵀ");
        // The vision tower alone reads the same folder.
        using var tower = ClipVisionModel.FromPretrained(dir.Path);
        using var v = tower.forward(pixels);
        TensorAssert.Close(a.VisionLastHiddenState, v.LastHiddenState!, 0, "tower from the CLIP folder");
    }

    [Fact]
    public void Init_follows_hf_scales()
    {
        using var g = new torch.Generator(5);
        var config = ClipConfig.Tiny with { VisionConfig = ClipVisionConfig.Tiny with { HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 8 } };
        using var model = new ClipModel(config, generator: g);
        double Std(Tensor t) => t.std().item<float>();
        // q_proj: d^-0.5 · (2L)^-0.5 = 1/8 · 1/4; fc1: (2d)^-0.5; class_embedding: d^-0.5; projections: d^-0.5.
        Assert.Equal(1.0 / 32, Std(model.vision_model.encoder.layers[0].self_attn.q_proj.weight), 2);
        Assert.Equal(Math.Pow(128, -0.5), Std(model.vision_model.encoder.layers[0].mlp.fc1.weight), 2);
        Assert.Equal(0.02, Std(model.text_model.embeddings.token_embedding.weight), 3);
        Assert.Equal(2.6592f, model.logit_scale.item<float>());
        Assert.Equal(0f, model.vision_model.encoder.layers[0].self_attn.q_proj.bias!.abs().max().item<float>());
    }

    [Fact]
    public void Contrastive_training_lowers_the_loss()
    {
        using var g = new torch.Generator(9);
        using var model = new ClipModel(ClipConfig.Tiny, generator: g);
        model.train();
        using var pixels = randn([4, 3, 56, 56], generator: g);
        using var ids = tensor(new long[] { 0, 10, 11, 3, 0, 20, 21, 3, 0, 30, 31, 3, 0, 40, 41, 3 }, [4, 4]);
        using var optimizer = optim.AdamW(model.parameters(), lr: 3e-3);
        float first = 0, last = 0;
        for (int step = 0; step < 12; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            using var o = model.Forward(pixels, ids, null, returnLoss: true);
            o.Loss!.backward();
            optimizer.step();
            if (step == 0)
            {
                first = o.Loss.item<float>();
                // HF clip_loss: the mean of the two cross-entropies with the diagonal as targets.
                var labels = arange(4L);
                var byHand = (nn.functional.cross_entropy(o.LogitsPerText, labels) + nn.functional.cross_entropy(o.LogitsPerImage, labels)) / 2;
                Assert.Equal(byHand.item<float>(), first, 5);
            }
            last = o.Loss.item<float>();
        }
        Assert.True(last < first * 0.5, $"contrastive loss {first} → {last} should fall on a memorisable batch");
    }
}
