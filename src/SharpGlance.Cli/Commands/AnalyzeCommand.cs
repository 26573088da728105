using System.CommandLine;
using System.Text.Json;
using SharpGlance.Demo;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance analyze tower --clip DIR --world DIR</c>: what a synthetic world's frozen CLIP tells apart in its
/// pooled embedding (true caption against one swapped word, per kind), and image→text recall.
/// </summary>
public static class AnalyzeCommand
{
    public static Command Create()
    {
        var clip = new Option<string>("--clip") { Description = "A full CLIP folder (both towers), e.g. a demo run's clip/", Required = true };
        var world = new Option<string>("--world") { Description = "A synthetic world folder (glance synth or a demo run's world/)", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the OPT vocab.json + merges.txt (default: the embedded model's)" };
        var split = new Option<string>("--split") { DefaultValueFactory = _ => "test" };
        var images = new Option<int>("--images") { Description = "Images probed at most", DefaultValueFactory = _ => 500 };
        var seed = new Option<long>("--seed") { Description = "Seed of the swapped words", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var tower = new Command("tower", "Forced choice between each image's caption and the caption with one word swapped (entity, colour, count, size, relation), by CLIP's pooled embeddings; chance is 50%.")
        {
            clip, world, tokenizer, split, images, seed, json,
        };
        tower.SetAction(parse =>
        {
            string tok = parse.GetValue(tokenizer) ?? DefaultModel.Folder;
            var result = CliProgress.Run("analyze tower", p => TowerProbe.Run(parse.GetValue(clip)!, tok, parse.GetValue(world)!, parse.GetValue(split)!,
                parse.GetValue(images), parse.GetValue(seed), p));
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(new
                {
                    forced_choice = result.Choices.ToDictionary(c => c.Kind, c => new { right = c.Right, total = c.Total, accuracy = c.Accuracy }),
                    recall_at_1 = result.RecallAt1, images = result.Images,
                })
                : result.Format());
            return 0;
        });
        return new Command("analyze", "Analyses of a model's parts.") { tower };
    }
}
