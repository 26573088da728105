using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Tests.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Language;

public class OptTests
{
    /// <summary>A tiny random OPT with a wide init so that logits are far from uniform.</summary>
    internal static OptForCausalLM RandomOpt(OptConfig? config = null, ulong seed = 7)
    {
        using var g = new torch.Generator(seed);
        return new OptForCausalLM(config ?? OptConfig.Tiny with { InitStd = 0.3 }, generator: g);
    }

    internal static Tensor RandomIds(int seed, long rows, long length, int vocab = 1000)
    {
        var rng = new Random(seed);
        var data = Enumerable.Range(0, (int)(rows * length)).Select(_ => (long)rng.Next(3, vocab)).ToArray();
        return tensor(data, [rows, length]);
    }

    [Fact]
    public void Cached_decoding_equals_the_uncached_forward()
    {
        using var lm = RandomOpt();
        using var _ = no_grad();
        using var ids = RandomIds(1, 2, 12);
        using var mask = ones([2, 12], ScalarType.Int64);
        mask[1, ..3] = tensor(0L);                              // row 1 left-padded by 3
        using var full = lm.Logits(ids, mask);

        using var cache = lm.NewCache(2, 12);
        // Prefill 5, then one token at a time, then a chunk of 3 (a causal block after a cache).
        var chunks = new[] { (0L, 5L), (5L, 1L), (6L, 1L), (7L, 1L), (8L, 1L), (9L, 3L) };
        foreach (var (start, len) in chunks)
        {
            using var stepMask = mask.narrow(1, 0, start + len);
            using var o = lm.Forward(inputIds: ids.narrow(1, start, len), attentionMask: stepMask, cache: cache);
            using var expected = full.narrow(1, start, len);
            using var m = mask.narrow(1, start, len).unsqueeze(-1).to_type(ScalarType.Float32);
            TensorAssert.Close(expected * m, o.Logits * m, 1e-4, $"cached logits of tokens {start}..{start + len - 1}");
        }
        Assert.Equal(12, cache.Length);
    }

    [Fact]
    public void Left_padded_rows_equal_the_unpadded_rows()
    {
        using var lm = RandomOpt();
        using var _ = no_grad();
        using var a = RandomIds(2, 1, 8);
        using var b = RandomIds(3, 1, 5);
        using var padded = cat([a, cat([full(1, 3, 1L, ScalarType.Int64), b], 1)], 0);
        using var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1 }, [2, 8]);
        using var batch = lm.Logits(padded, mask);
        using var aAlone = lm.Logits(a);
        using var bAlone = lm.Logits(b);
        TensorAssert.Close(aAlone[0], batch[0], 1e-4, "unpadded row in the batch");
        TensorAssert.Close(bAlone[0], batch[1].narrow(0, 3, 5), 1e-4, "left-padded row in the batch");
    }

    [Fact]
    public void Inputs_embeds_equal_input_ids()
    {
        using var lm = RandomOpt();
        using var _ = no_grad();
        using var ids = RandomIds(4, 2, 6);
        using var fromIds = lm.Logits(ids);
        using var o = lm.Forward(inputsEmbeds: lm.Embed(ids));
        TensorAssert.Close(fromIds, o.Logits, 0, "logits from embed(ids)");
        using var last = lm.Forward(inputIds: ids, lastPositionOnly: true);
        TensorAssert.Close(fromIds.narrow(1, 5, 1), last.Logits, 1e-5, "last-position logits");
    }

    [Fact]
    public void Post_ln_opt_with_projections_and_no_biases_saves_and_loads_back()
    {
        var config = OptConfig.Tiny with { WordEmbedProjDim = 16, DoLayerNormBefore = false, EnableBias = false, InitStd = 0.3, Dropout = 0.1 };
        using var lm = RandomOpt(config);
        var keys = lm.state_dict().Keys.ToHashSet();
        Assert.Contains("model.decoder.project_in.weight", keys);
        Assert.Contains("model.decoder.project_out.weight", keys);
        Assert.DoesNotContain("model.decoder.final_layer_norm.weight", keys);   // post-LN (350m): no final LN
        Assert.DoesNotContain("model.decoder.layers.0.fc1.bias", keys);
        Assert.DoesNotContain("lm_head.weight", keys);
        Assert.Equal(new long[] { 1000, 16 }, lm.state_dict()["model.decoder.embed_tokens.weight"].shape);

        using var dir = new TempFolder();
        lm.Save(dir.Path);
        using var loaded = OptForCausalLM.FromPretrained(dir.Path);
        Assert.Equal(config with { TorchDtype = "float32" }, loaded.Config);
        using var _ = no_grad();
        lm.eval();
        using var ids = RandomIds(5, 2, 7);
        using var before = lm.Logits(ids);
        using var after = loaded.Logits(ids);
        TensorAssert.Close(before, after, 0, "logits after save and load");
        using var file = SafeTensorsFile.Open(Path.Combine(dir.Path, "model.safetensors"));
        Assert.Equal("pt", file.Metadata["format"]);   // transformers refuses safetensors without it
    }

    [Fact]
    public void Lm_head_is_really_tied_and_stays_tied_after_a_dtype_move()
    {
        using var lm = RandomOpt();
        Assert.Same(lm.model.decoder.embed_tokens.weight, lm.lm_head.weight);
        Assert.DoesNotContain("lm_head.weight", lm.state_dict().Keys);
        Assert.Equal(lm.state_dict().Count, lm.parameters().Count());
        using (no_grad()) lm.model.decoder.embed_tokens.weight[5].fill_(0.25);
        Assert.Equal(0.25f, lm.lm_head.weight[5, 0].item<float>());

        lm.to(ScalarType.Float64);
        Assert.Same(lm.model.decoder.embed_tokens.weight, lm.lm_head.weight);
        Assert.Equal(ScalarType.Float64, lm.lm_head.weight.dtype);
        using var _ = no_grad();
        using var ids = RandomIds(6, 1, 4);
        using var logits = lm.Logits(ids);
        Assert.Equal(ScalarType.Float64, logits.dtype);
    }

    [Fact]
    public void A_stored_lm_head_is_ignored_when_tied_and_bare_decoder_keys_load()
    {
        using var lm = RandomOpt();
        using var dir = new TempFolder();
        var tensors = lm.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        using var junk = randn(1000, 32);
        tensors["lm_head.weight"] = junk;
        SafeTensorsFile.Save(Path.Combine(dir.Path, "model.safetensors"), tensors);
        ConfigJson.Write(Path.Combine(dir.Path, "config.json"), ConfigJson.ToObject(lm.Config));
        using var loaded = OptForCausalLM.FromPretrained(dir.Path);
        Assert.True(loaded.lm_head.weight.eq(lm.model.decoder.embed_tokens.weight).all().item<bool>(), "the head must be the input embedding");

        using var bare = new TempFolder();
        SafeTensorsFile.Save(Path.Combine(bare.Path, "model.safetensors"),
            lm.state_dict().ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value));   // an OPTModel save
        ConfigJson.Write(Path.Combine(bare.Path, "config.json"), ConfigJson.ToObject(lm.Config));
        using var fromBare = OptForCausalLM.FromPretrained(bare.Path);
        Assert.True(fromBare.model.decoder.layers[1].fc2.weight.eq(lm.model.decoder.layers[1].fc2.weight).all().item<bool>());
    }

    [Fact]
    public void A_config_that_does_not_match_the_weights_names_the_tensor_and_both_shapes()
    {
        using var lm = RandomOpt();
        using var dir = new TempFolder();
        lm.Save(dir.Path);
        using var ck = Checkpoint.Open(dir.Path);
        var e = Assert.Throws<GlanceException>(() => OptForCausalLM.Load(lm.Config with { FfnDim = 48 }, ck));
        Assert.Contains("'model.decoder.layers.0.fc1.weight' has shape [64, 32]", e.Message);
        Assert.Contains("expects [48, 32]", e.Message);
        var layers = Assert.Throws<GlanceException>(() => OptForCausalLM.Load(lm.Config with { NumHiddenLayers = 1 }, ck));
        Assert.Contains("unexpected tensors 'model.decoder.layers.1.", layers.Message);
    }

    [Fact]
    public void Labels_give_the_shifted_cross_entropy_ignoring_minus_100()
    {
        using var lm = RandomOpt();
        using var _ = no_grad();
        using var ids = RandomIds(7, 2, 6);
        using var labels = ids.clone();
        labels[0, ..3] = tensor(-100L);
        using var o = lm.Forward(inputIds: ids, labels: labels);
        // By hand: position t predicts label t+1, over the 2·5 − 2 pairs whose label is not −100.
        using var logp = nn.functional.log_softmax(o.Logits, -1);
        double sum = 0; int count = 0;
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < 5; t++)
            {
                long target = labels[r, t + 1].item<long>();
                if (target == -100) continue;
                sum -= logp[r, t, target].item<float>();
                count++;
            }
        Assert.Equal(8, count);
        Assert.Equal(sum / count, o.Loss!.item<float>(), 4);
    }

    [Fact]
    public void Dropout_acts_only_in_training_and_a_few_steps_lower_the_loss()
    {
        using var lm = RandomOpt(OptConfig.Tiny with { Dropout = 0.1, InitStd = 0.02 });
        using var ids = RandomIds(8, 4, 10);
        lm.eval();
        using (no_grad())
        {
            using var a = lm.Logits(ids);
            using var b = lm.Logits(ids);
            TensorAssert.Close(a, b, 0, "eval is deterministic");
            lm.train();
            using var c = lm.Logits(ids);
            Assert.True(c.sub(a).abs().max().item<float>() > 1e-6, "dropout should change training outputs");
        }
        lm.train();
        using var optimizer = optim.AdamW(lm.parameters(), lr: 1e-2);
        float first = 0, last = 0;
        for (int step = 0; step < 12; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var o = lm.Forward(inputIds: ids, labels: ids);
            o.Loss!.backward();
            optimizer.step();
            if (step == 0) first = o.Loss.item<float>();
            last = o.Loss.item<float>();
        }
        Assert.True(last < first - 1.0, $"loss {first} → {last} should fall on a memorisable batch");
    }

    [Fact]
    public void Bad_shapes_are_reported_not_crashed_on()
    {
        using var lm = RandomOpt();
        using var _ = no_grad();
        using var ids = RandomIds(9, 2, 5);
        using var badMask = ones(2, 4);
        Assert.Contains("attention_mask has shape [2, 4], expected [2, 5]", Assert.Throws<GlanceException>(() => lm.Logits(ids, badMask)).Message);
        using var badEmbeds = zeros(2, 5, 7);
        Assert.Contains("expected [B, T, 32]", Assert.Throws<GlanceException>(() => lm.Forward(inputsEmbeds: badEmbeds)).Message);
        using var cache = lm.NewCache(3, 8);
        Assert.Contains("3 rows", Assert.Throws<GlanceException>(() => lm.Forward(inputIds: ids, cache: cache)).Message);
        using var small = lm.NewCache(2, 4);
        Assert.Contains("exceed", Assert.Throws<GlanceException>(() => lm.Forward(inputIds: ids, cache: small)).Message);
    }

    [Fact]
    public void Kv_cache_reorders_and_selects_rows()
    {
        using var cache = new KvCache(1, 3, 1, 4, 2);
        using var k = arange(3 * 2 * 2, ScalarType.Float32).view(3, 1, 2, 2);
        cache.Append(0, k, k);
        cache.Advance(2);
        cache.Reorder([2, 2, 0]);
        var (keys, _) = cache.Append(0, zeros(3, 1, 1, 2), zeros(3, 1, 1, 2));
        TensorAssert.Close(k[2], keys[0].narrow(1, 0, 2), 0, "row 0 ← old row 2");
        TensorAssert.Close(k[0], keys[2].narrow(1, 0, 2), 0, "row 2 ← old row 0");
        // From position 1 on only: position 0 (a shared prefill) stays as it was.
        cache.Reorder([2, 0, 1], fromPosition: 1);
        var (after, _) = cache.Append(0, zeros(3, 1, 1, 2), zeros(3, 1, 1, 2));
        TensorAssert.Close(k[2].narrow(1, 0, 1), after[0].narrow(1, 0, 1), 0, "row 0 keeps its position 0");
        TensorAssert.Close(k[0].narrow(1, 1, 1), after[0].narrow(1, 1, 1), 0, "row 0 gathers position 1 from row 2 (old row 0)");
        using var picked = cache.SelectRows([1, 1], 6);
        Assert.Equal(2, picked.Length);
        Assert.Equal(6, picked.MaxLength);
        var (pk, _) = picked.Append(0, zeros(2, 1, 1, 2), zeros(2, 1, 1, 2));
        TensorAssert.Close(k[2], pk[1].narrow(1, 0, 2), 0, "selected row");
    }

    [Fact]
    public void Hf_config_json_reads_with_defaults_and_bad_fields_are_named()
    {
        // facebook/opt-125m's config.json as published (extra fields ignored, word_embed_proj_dim given).
        var json = """
        {"_name_or_path": "facebook/opt-125m", "activation_dropout": 0.0, "activation_function": "relu",
         "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 2, "do_layer_norm_before": true,
         "dropout": 0.1, "eos_token_id": 2, "ffn_dim": 3072, "hidden_size": 768, "init_std": 0.02, "layerdrop": 0.0,
         "max_position_embeddings": 2048, "model_type": "opt", "num_attention_heads": 12, "num_hidden_layers": 12,
         "pad_token_id": 1, "prefix": "</s>", "torch_dtype": "float16", "transformers_version": "4.21.0.dev0",
         "use_cache": true, "vocab_size": 50272, "word_embed_proj_dim": 768}
        """;
        var config = OptConfig.FromJson((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(json)!, "config.json");
        Assert.Equal(OptConfig.Opt125m, config);
        var minimal = OptConfig.FromJson((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse("""{"model_type": "opt", "hidden_size": 64, "num_attention_heads": 4}""")!, "c.json");
        Assert.Equal(64, minimal.EmbeddingDim);   // word_embed_proj_dim defaults to hidden_size
        Assert.True(minimal.HasFinalLayerNorm);
        var bad = Assert.Throws<GlanceException>(() => OptConfig.FromJson((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse("""{"model_type": "opt", "hidden_size": 100, "num_attention_heads": 12}""")!, "c.json"));
        Assert.Contains("hidden_size 100 is not divisible by num_attention_heads 12", bad.Message);
        var wrongType = Assert.Throws<GlanceException>(() => OptConfig.FromJson((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse("""{"model_type": "opt", "ffn_dim": "big"}""")!, "c.json"));
        Assert.Contains("ffn_dim", wrongType.Message);
    }

    [Theory]
    [InlineData("opt-125m", 125_239_296L)]
    [InlineData("opt-350m", 331_196_416L)]
    public void Real_configs_build_the_approved_keys_and_shapes_on_meta(string name, long parameters)
    {
        var config = name == "opt-125m" ? OptConfig.Opt125m : OptConfig.Opt350m;
        using var lm = new OptForCausalLM(config, META, ScalarType.Float32, initialize: false);
        var listing = lm.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]").ToArray();
        var approved = File.ReadAllLines(Path.Combine(Fixtures.RepoRoot, "tests", "SharpGlance.Tests", "Approved", $"{name}.keys.txt"));
        Assert.Equal(approved, listing);
        Assert.Equal(parameters, lm.parameters().Sum(p => p.NumberOfElements));
        Assert.Equal(DeviceType.META, lm.lm_head.weight.device_type);
    }
}
