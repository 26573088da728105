using System.Text.Json.Nodes;
using SharpGlance.Captioning;
using SharpGlance.Connectors;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Tokenization;
using SharpGlance.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Captioning;

public class CaptionerTests
{
    private static IReadOnlyList<RgbImage> Images()
    {
        var rng = new Random(5);
        return Enumerable.Range(0, 3).Select(i =>
        {
            // Non-square on purpose: expand2square and the resize both run.
            int w = 40 + 10 * i, h = 56;
            var px = new byte[w * h * 3];
            rng.NextBytes(px);
            return new RgbImage(w, h, px);
        }).ToList();
    }

    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 6 };
    private static readonly GenerationOptions Beam3 = GenerationOptions.Paper with { MaxNewTokens = 6 };

    private static Captioner Assemble() => Captioner.Assemble(TinyModels.ClipFolder, TinyModels.OptFolder, new AssembleOptions { Seed = 3 });

    private static IReadOnlyList<ImageCaption> Run(Captioner c, GenerationOptions g, int rounds = 0) =>
        CaptionPipeline.CaptionImages(c, Images(), new CaptionRunOptions { Generation = g, Rounds = rounds });

    [Fact]
    public void The_shipped_config_reads_and_writes_back_byte_for_byte()
    {
        // models/default/config.json was written by an earlier Save: the same keys, order and values come back.
        var path = Path.Combine(Fixtures.RepoRoot, "models", "default", "config.json");
        var config = CaptionerConfig.FromFile(path);
        Assert.Equal(File.ReadAllText(path), config.ToJson().ToJsonString(ConfigJson.Options) + "\n");
        Assert.NotNull(config.DeepLens);
    }

    [Fact]
    public void Saved_captioner_loads_back_with_identical_captions()
    {
        var dir = TempDir.Create();
        IReadOnlyList<ImageCaption> greedy, beams;
        using (var c = Assemble())
        {
            greedy = Run(c, Greedy);
            beams = Run(c, Beam3);
            c.Save(dir);
        }
        Assert.All(greedy, r => Assert.False(string.IsNullOrEmpty(r.Caption)));
        using var back = Captioner.Load(dir);
        Assert.Equal(greedy.Select(r => r.Caption), Run(back, Greedy).Select(r => r.Caption));
        Assert.Equal(beams.Select(r => r.Caption), Run(back, Beam3).Select(r => r.Caption));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
        Assert.Equal("sharpglance_captioner", config["model_type"]!.GetValue<string>());
        Assert.NotNull(config["vision_config"]);
        using var ck = Checkpoint.Open(dir);
        Assert.Contains("model.mm_projector.0.weight", ck.Keys);
        Assert.Contains("model.vision_tower.vision_tower.vision_model.encoder.layers.3.mlp.fc2.bias", ck.Keys);
        Assert.Contains("model.decoder.embed_tokens.weight", ck.Keys);
        Assert.DoesNotContain("lm_head.weight", ck.Keys);
    }

    [Fact]
    public void DeepLens_levels_start_from_the_mlp_connector_only_when_shapes_agree()
    {
        using var c = Assemble();
        c.AttachDeepLens(TinyModels.DeepLens, seed: 4);   // D = 32 = the LM width: every level takes the connector
        Assert.True(c.InitDeepLensLevelsFromMlpConnector());
        var lens = c.DeepLens!.state_dict();
        foreach (var (name, t) in c.MlpConnector.state_dict())
            for (int level = 0; level < 3; level++)
                Assert.True(t.allclose(lens[$"input_projection.{level}.{name}"], rtol: 0, atol: 0), $"level {level} {name}");

        c.AttachDeepLens(TinyModels.DeepLens with { DModel = 64, DecoderFfnDim = 128 }, seed: 4);
        var before = c.DeepLens!.state_dict()["input_projection.0.0.weight"].clone();
        Assert.False(c.InitDeepLensLevelsFromMlpConnector());   // D = 64 ≠ 32: left as created
        Assert.True(before.allclose(c.DeepLens!.state_dict()["input_projection.0.0.weight"], rtol: 0, atol: 0));
    }

    [Fact]
    public void A_reattached_DeepLens_keeps_the_weights_that_still_fit()
    {
        using var c = Assemble();
        c.AttachDeepLens(TinyModels.DeepLens with { CaptionInput = false }, seed: 4);   // as a single glance trains it
        using (torch.no_grad())
            foreach (var (_, t) in c.DeepLens!.state_dict()) t.add_(0.5);              // "trained": unlike any fresh start
        var trained = c.DeepLens!.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        int kept = c.ReattachDeepLens(TinyModels.DeepLens with { MultiLevel = false }, seed: 4);   // caption on, one level
        var now = c.DeepLens!.state_dict();
        Assert.True(c.DeepLens.Config.CaptionInput);
        Assert.Contains(now.Keys, k => k.StartsWith("pre_caption_proj.", StringComparison.Ordinal));
        Assert.DoesNotContain(now.Keys, k => k.StartsWith("input_projection.1.", StringComparison.Ordinal));
        int same = 0;
        foreach (var (name, t) in now)
        {
            if (trained.TryGetValue(name, out var old) && old.shape.SequenceEqual(t.shape))
            {
                Assert.True(t.allclose(old, rtol: 0, atol: 0), name);
                same++;
            }
            else Assert.StartsWith("pre_caption_proj.", name);                                  // only the new part is fresh
        }
        Assert.Equal(kept, same);
        Assert.True(kept > 10);
    }

    [Fact]
    public void Refinement_survives_a_round_trip_and_runs_several_rounds()
    {
        var dir = TempDir.Create();
        IReadOnlyList<ImageCaption> refined;
        using (var c = Assemble())
        {
            c.AttachDeepLens(TinyModels.DeepLens, seed: 4);
            refined = Run(c, Greedy, rounds: 2);
            c.Save(dir, storeAs: null);
        }
        Assert.All(refined, r => { Assert.NotNull(r.Initial); Assert.Equal(2, r.Rounds.Count); Assert.Equal(r.Rounds[^1], r.Caption); });
        using var back = Captioner.Load(dir);
        Assert.NotNull(back.DeepLens);
        var again = Run(back, Greedy, rounds: 2);
        Assert.Equal(refined.Select(r => r.Initial), again.Select(r => r.Initial));
        Assert.Equal(refined.Select(r => string.Join("|", r.Rounds)), again.Select(r => string.Join("|", r.Rounds)));
    }

    [Fact]
    public void The_paper_layout_loads_with_an_external_tower()
    {
        // A LLaVA-OPT save as the paper's code writes it: OPT config + mm_* fields, keys model.decoder.*
        // and model.mm_projector.* (mlp4x_bott4x_gelu), the tower named by mm_vision_tower.
        var dir = TempDir.Create();
        using var lm = new OptForCausalLM(TinyModels.TextConfig, generator: new Generator(21));
        using var mlpConnector = Connector.Create("mlp4x_bott4x_gelu", 32, 32);
        var tensors = lm.state_dict().Concat(mlpConnector.state_dict().Select(kv => new KeyValuePair<string, Tensor>("model.mm_projector." + kv.Key, kv.Value)));
        SafeTensorsFile.Save(Path.Combine(dir, "model.safetensors"), tensors);
        var config = ConfigJson.ToObject(TinyModels.TextConfig);
        config["model_type"] = "llava_opt";
        config["mm_vision_tower"] = TinyModels.ClipFolder;
        config["mm_vision_select_layer"] = -2;
        config["mm_vision_select_feature"] = "patch";
        config["mm_projector_type"] = "mlp4x_bott4x_gelu";
        config["image_aspect_ratio"] = "pad";
        ConfigJson.Write(Path.Combine(dir, "config.json"), config);
        TinyModels.CopyTokenizer(dir);

        using var c = Captioner.Load(dir);
        Assert.Equal("opt_paper", c.Config.Template);
        Assert.Equal("mlp4x_bott4x_gelu", c.MlpConnector.ProjectorType);
        Assert.All(Run(c, Greedy), r => Assert.False(string.IsNullOrEmpty(r.Caption)));
        // The projector's weights really came from the file.
        using var ck = Checkpoint.Open(dir);
        using var expected = ck.Load("model.mm_projector.5.weight");
        Assert.True(expected.eq(c.MlpConnector.state_dict()["5.weight"]).all().item<bool>());
    }

    [Fact]
    public void A_config_that_does_not_match_the_weights_names_the_tensor()
    {
        var dir = TempDir.Create();
        using (var c = Assemble()) c.Save(dir);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        config["ffn_dim"] = 48;
        ConfigJson.Write(Path.Combine(dir, "config.json"), config);
        var e = Assert.Throws<GlanceException>(() => Captioner.Load(dir));
        Assert.Contains("fc1.weight", e.Message);
        Assert.Contains("[64, 32]", e.Message);
    }

    [Fact]
    public void Missing_tokenizer_files_are_a_clear_error()
    {
        var dir = TempDir.Create();
        using (var c = Assemble()) c.Save(dir);
        File.Delete(Path.Combine(dir, "merges.txt"));
        var e = Assert.Throws<GlanceException>(() => Captioner.Load(dir));
        Assert.Contains("merges.txt", e.Message);
    }

    [Fact]
    public void Prompt_batch_splices_the_image_and_pads_on_the_requested_side()
    {
        using var c = Assemble();
        var tok = c.Tokenizer;
        var (p1, t1) = PromptTemplate.Opt.Encode(tok, "two cats");
        var (p2, t2) = PromptTemplate.Opt.Encode(tok, "a dog on a very long red mat");
        using var visual = randn(2, 5, 32);
        using var batch = PromptBatch.Build(c.Lm, [p1, p2], [t1, t2], visual, padLeft: false);
        long n1 = p1.Length - 1 + 5 + t1.Length, n2 = p2.Length - 1 + 5 + t2.Length;
        Assert.Equal(p1.Length, p2.Length);
        Assert.Equal(Math.Max(n1, n2), batch.InputsEmbeds.shape[1]);
        Assert.Equal(n1, batch.AttentionMask[0].sum().item<long>());
        // Row 0's visual block sits right after "</s>USER:" and equals the given embeddings.
        int at = Array.IndexOf(p1, OptTokenizer.ImageTokenId);
        Assert.True(batch.InputsEmbeds[0, TensorIndex.Slice(at, at + 5)].allclose(visual[0]));
        // Labels: exactly the target ids, at the end of the real tokens.
        var labels = batch.Labels!;
        var supervised = labels[0].data<long>().Where(x => x != PromptBatch.IgnoreIndex).ToArray();
        Assert.Equal(t1.Select(x => (long)x), supervised);
        Assert.Equal(tok.EosId, (int)labels[0, n1 - 1].item<long>());
        // Left padding for generation: the last position of every row is real.
        var (q2, _) = PromptTemplate.Opt.Encode(tok, null, question: "What can you see in this picture, in detail?");
        Assert.True(q2.Length > p1.Length);
        using var gen = PromptBatch.Build(c.Lm, [p1, q2], null, visual, padLeft: true);
        Assert.Equal(q2.Length - 1 + 5, gen.InputsEmbeds.shape[1]);
        Assert.Equal(1, gen.AttentionMask[0, -1].item<long>());
        Assert.Equal(1, gen.AttentionMask[1, -1].item<long>());
        Assert.Equal(0, gen.AttentionMask[0, 0].item<long>());   // the shorter prompt is padded on the left
        Assert.Equal(p1.Length - 1 + 5, gen.AttentionMask[0].sum().item<long>());
        Assert.Null(gen.Labels);
    }

    [Fact]
    public void Templates_say_what_the_spec_says()
    {
        Assert.Equal("USER: <image>\nWhat is in the photo? ASSISTANT:", PromptTemplate.Opt.Prompt());
        Assert.Equal("USER: <image>What is in the photo? ASSISTANT:", PromptTemplate.OptPaper.Prompt());
        Assert.Equal(" two cats</s>", PromptTemplate.Opt.Target("two  cats"));
        Assert.Equal("<image>", PromptTemplate.Plain.Prompt());
        Assert.Equal("two cats\n", PromptTemplate.Plain.Target("two cats"));
        Assert.Equal("<image> Initial caption: a dog\n Refined caption:", PromptTemplate.Refine.Prompt(initialCaption: "a dog"));
        var tok = OptTokenizer.FromFolder(Fixtures.OptTokenizer);
        var (prompt, target) = PromptTemplate.Opt.Encode(tok, "two cats");
        // Prompt + target tokenised apart equals the joined text tokenised at once.
        var joined = tok.EncodeWithImage(PromptTemplate.Opt.Prompt() + PromptTemplate.Opt.Target("two cats"));
        Assert.Equal(joined, prompt.Concat(target).ToArray());
        Assert.Equal(2, target[^1]);
        Assert.Equal(50118, PromptTemplate.Plain.StopTokenId(tok));
    }
}
