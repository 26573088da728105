using System.Text.Json.Nodes;

namespace SharpGlance.Tests.Training;

/// <summary>
/// `glance train --stage lm` without --lm (issue #15): a fresh tiny OPT over the embedded model's vocabulary,
/// so the README's training chain starts with nothing downloaded.
/// </summary>
public class FreshLanguageModelTests
{
    [Fact]
    public void Stage_lm_without_an_lm_trains_a_fresh_opt_of_the_given_shape()
    {
        var dir = TempDir.Create("fresh-lm");
        string[] captions = ["a red ball left of a cat", "two blue cubes above a dog", "a small green star next to an owl", "three fish below a car"];
        // Captions group into documents by image: two documents, one batch of 2, so one step per epoch.
        var entries = captions.Select((c, i) =>
            $$"""{"id": "{{i}}", "image": "scene{{i % 2}}.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "{{c}}"}]}""");
        var data = Path.Combine(dir, "train.json");
        File.WriteAllText(data, "[" + string.Join(",\n", entries) + "]");
        var output = Path.Combine(dir, "lm");

        var (code, stdout, error) = GlanceCli.RunReported("train", "--stage", "lm", "--data", data, "--out", output,
            "--lm-width", "32", "--lm-layers", "1", "--batch", "2", "--epochs", "12", "--warmup", "0", "--json");

        Assert.True(code == 0, error);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!;
        Assert.Equal(32, config["hidden_size"]!.GetValue<int>());
        Assert.Equal(1, config["num_hidden_layers"]!.GetValue<int>());
        Assert.Equal(50272, config["vocab_size"]!.GetValue<int>());
        // The tokenizer came from the embedded model and travels with the LM, ready for --stage pretrain --lm.
        Assert.Equal(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "models", "default", "vocab.json")), File.ReadAllText(Path.Combine(output, "vocab.json")));
        var summary = JsonNode.Parse(stdout)!;
        Assert.Equal(12, summary["steps"]!.GetValue<long>());
        Assert.True(summary["last_loss"]!.GetValue<double>() < summary["first_loss"]!.GetValue<double>(), stdout);
    }
}
