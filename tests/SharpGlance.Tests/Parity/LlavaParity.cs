using System.Text.Json.Nodes;
using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Preprocessing;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Parity;

/// <summary>
/// <c>llava</c> fixtures (HF LlavaForConditionalGeneration with a Llama LM, written by transformers 4.36.2):
/// the logits of a left-padded batch with one <c>&lt;image&gt;</c> per prompt (≤ 1e-4), greedy and 3-beam ids
/// (10 new tokens, identical), every tokenizer-suite text's ids and decoded text, and the end-to-end path
/// from a PNG (e2e.json) when the fixture has one.
/// </summary>
public static class LlavaParity
{
    [FixtureKind("llava")]
    public static void Check(string folder)
    {
        string name = Path.GetFileName(folder);
        using var model = LlavaForConditionalGeneration.FromPretrained(folder);
        CheckTokenizer(name, folder, model);

        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        using var _ = no_grad();
        using var ids = expected.Load("input_ids");
        using var mask = expected.Load("attention_mask");
        using var pixels = expected.Load("pixel_values");
        using (var logits = model.Logits(ids, mask, pixels))
        using (var e = expected.Load("logits"))
            ParityReport.Close(name, e, logits, 1e-4, "logits");

        long prompt = ids.shape[1];
        var greedy = GenerationOptions.Paper with { NumBeams = 1, MaxNewTokens = 10 };
        CheckIds(name, "greedy ids", expected, "greedy_ids", prompt, model.Generate(ids, mask, pixels, model.WithModelTokens(greedy)));
        var beam = GenerationOptions.Paper with { NumBeams = 3, MaxNewTokens = 10 };
        CheckIds(name, "3-beam ids", expected, "beam3_ids", prompt, model.Generate(ids, mask, pixels, model.WithModelTokens(beam)));

        var e2ePath = Path.Combine(folder, "e2e.json");
        if (File.Exists(e2ePath))
        {
            var e2e = JsonNode.Parse(File.ReadAllText(e2ePath))!;
            string question = e2e["question"]!.GetValue<string>();
            Assert.Equal(e2e["prompt"]!.GetValue<string>(), LlavaForConditionalGeneration.Prompt(question));
            var image = RgbImage.FromFile(Path.Combine(folder, "e2e.png"));
            var captions = model.Caption([image], question, greedy);
            Assert.Equal(e2e["greedy_text"]!.GetValue<string>(), captions[0]);
            var (promptIds, promptMask) = model.PromptIds([LlavaForConditionalGeneration.Prompt(question)]);
            using var p = model.ImageProcessor.PreprocessBatch([image]);
            var o = model.WithModelTokens(greedy);
            var newIds = model.Generate(promptIds, promptMask, p, o).Tokens(0, o.EosTokenId);
            Assert.Equal(e2e["greedy_new_ids"]!.AsArray().Select(x => x!.GetValue<long>()), newIds);
            ParityReport.Log($"{name}: e2e caption '{captions[0]}' identical");
        }
    }

    private static void CheckIds(string name, string what, SafeTensorsFile expected, string key, long prompt, GenerationResult result)
    {
        using var e = expected.Load(key);
        var rows = e.data<long>().ToArray();
        long width = e.shape[1];
        for (int i = 0; i < e.shape[0]; i++)
        {
            var want = rows.Skip((int)(i * width + prompt)).Take((int)(width - prompt)).ToArray();
            Assert.True(want.SequenceEqual(result.Sequences[i]),
                $"{name}: {what} row {i}: expected [{string.Join(", ", want)}], got [{string.Join(", ", result.Sequences[i])}]");
        }
        ParityReport.Log($"{name}: {what} identical ({e.shape[0]} rows × {width - prompt} new tokens)");
    }

    private static void CheckTokenizer(string name, string folder, LlavaForConditionalGeneration model)
    {
        var suitePath = Path.Combine(folder, "tokenizer-suite.json");
        if (!File.Exists(suitePath)) return;
        int n = 0;
        foreach (var item in JsonNode.Parse(File.ReadAllText(suitePath))!.AsArray())
        {
            string text = item!["text"]!.GetValue<string>();
            var want = item["ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            var got = model.Tokenizer.Encode(text);
            Assert.True(want.SequenceEqual(got), $"{name}: ids of '{text}': expected [{string.Join(", ", want)}], got [{string.Join(", ", got)}]");
            Assert.Equal(item["decoded"]!.GetValue<string>(), model.Tokenizer.Decode(want.Select(i => (long)i)));
            n++;
        }
        ParityReport.Log($"{name}: tokenizer suite: {n} texts, ids and decoded text identical");
    }
}
