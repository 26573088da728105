using System.Globalization;
using System.Text.RegularExpressions;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Parity;

/// <summary>
/// <c>opt</c> fixtures: logits from ids, from inputs_embeds (a prefix spliced before the embedded ids), from
/// a left-padded batch (compared where the mask is 1), all ≤ 1e-4; then every generation the fixture
/// holds, identical. Settings come from the key names: <c>greedy|beamN</c>, <c>_eos</c> (stop at the
/// fixture's <c>eos_token_id</c>, else at config.json's; without it no EOS), <c>_lpX</c> (length
/// penalty, default 1), <c>_early|_noearly|_never</c> (default HF's False), <c>_retK</c> (returned per
/// prompt). Max new tokens: the <c>max_new_tokens</c> key, else the widest row of the same EOS setting
/// minus the prompt (a run that stops early gives the same ids under any larger limit).
/// </summary>
public static partial class OptParity
{
    [GeneratedRegex(@"^(?<kind>greedy|beam(?<beams>\d+))(?<eos>_eos)?(?:_lp(?<lp>\d+(?:p\d+)?))?(?:_(?<early>early|noearly|never))?(?:_ret(?<ret>\d+))?_ids$")]
    private static partial Regex GenerationKey();

    private static readonly HashSet<string> Inputs = ["input_ids", "input_ids_leftpad", "attention_mask_leftpad", "inputs_embeds", "prefix_embeds", "eos_token_id", "max_new_tokens"];

    [FixtureKind("opt")]
    public static void Check(string folder)
    {
        string name = Path.GetFileName(folder);
        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        using var lm = OptForCausalLM.FromPretrained(folder);
        using var _ = no_grad();
        var keys = expected.Tensors.Keys.ToHashSet();
        using var ids = expected.Load("input_ids");

        if (keys.Contains("logits"))
        {
            using var e = expected.Load("logits");
            using var logits = lm.Logits(ids);
            ParityReport.Close(name, e, logits, 1e-4, "logits");
        }
        if (keys.Contains("logits_from_embeds"))
        {
            using var embeds = expected.Load("inputs_embeds");
            if (keys.Contains("prefix_embeds"))
            {
                // The fixture's inputs_embeds = prefix ++ embed(input_ids): our embedding must give the same.
                using var prefix = expected.Load("prefix_embeds");
                using var spliced = cat([prefix, lm.Embed(ids)], 1);
                TensorAssert.Close(embeds, spliced, 1e-6, $"{name}: prefix_embeds ++ embed(input_ids)");
            }
            using var e = expected.Load("logits_from_embeds");
            using var o = lm.Forward(inputsEmbeds: embeds);
            ParityReport.Close(name, e, o.Logits, 1e-4, "logits_from_embeds");
        }
        if (keys.Contains("logits_leftpad"))
        {
            using var padded = expected.Load("input_ids_leftpad");
            using var mask = expected.Load("attention_mask_leftpad");
            using var e = expected.Load("logits_leftpad");
            using var logits = lm.Logits(padded, mask);
            using var m = mask.unsqueeze(-1).to_type(ScalarType.Float32);
            ParityReport.Close(name, e * m, logits * m, 1e-4, "logits_leftpad (where mask = 1)");
        }

        var generationKeys = keys.Where(k => k.EndsWith("_ids", StringComparison.Ordinal) && !Inputs.Contains(k)).Order(StringComparer.Ordinal).ToList();
        long prompt = ids.shape[1];
        int? fixedMaxNew = keys.Contains("max_new_tokens") ? (int)expected.Load("max_new_tokens").item<long>() : null;
        int configEos = lm.Config.EosTokenId;
        int eosId = keys.Contains("eos_token_id") ? (int)expected.Load("eos_token_id").view(-1)[0].item<long>() : configEos;
        var widest = generationKeys.GroupBy(k => GenerationKey().Match(k).Groups["eos"].Success)
            .ToDictionary(g => g.Key, g => g.Max(k => expected.Tensors[k].Shape[1]));
        foreach (var key in generationKeys)
        {
            var match = GenerationKey().Match(key);
            Assert.True(match.Success, $"{name}: generation key '{key}' has a name the parity check cannot read");
            bool eos = match.Groups["eos"].Success;
            var options = new GenerationOptions
            {
                MaxNewTokens = fixedMaxNew ?? (int)(widest[eos] - prompt),
                NumBeams = match.Groups["beams"].Success ? int.Parse(match.Groups["beams"].Value, CultureInfo.InvariantCulture) : 1,
                LengthPenalty = match.Groups["lp"].Success ? double.Parse(match.Groups["lp"].Value.Replace('p', '.'), CultureInfo.InvariantCulture) : 1.0,
                EarlyStopping = match.Groups["early"].Value switch { "early" => EarlyStopping.True, "never" => EarlyStopping.Never, _ => EarlyStopping.False },
                NumReturnSequences = match.Groups["ret"].Success ? int.Parse(match.Groups["ret"].Value, CultureInfo.InvariantCulture) : 1,
                EosTokenId = eos ? eosId : null,
                PadTokenId = lm.Config.PadTokenId,
            };
            using var e = expected.Load(key);
            var generated = TextGenerator.GenerateFromIds(lm, ids, null, options);
            var promptRows = Enumerable.Range(0, (int)ids.shape[0]).Select(i => ids[i].data<long>().ToArray()).ToArray();
            Assert.Equal((int)e.shape[0], generated.Length);
            for (int r = 0; r < generated.Length; r++)
            {
                var full = promptRows[r / options.NumReturnSequences].Concat(generated[r]).ToArray();
                TensorAssert.Equal(e[r].data<long>().ToArray(), full, $"{name}: {key} row {r}");
            }
            ParityReport.Log($"{name}: {key}: identical ({generated.Length} rows, max new tokens {options.MaxNewTokens})");
        }
    }
}
