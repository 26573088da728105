using System.CommandLine;
using System.Text.Json;
using SharpGlance.Attention;
using SharpGlance.Demo;
using SharpGlance.Generation;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance analyze tower --clip DIR --world DIR</c>: what a synthetic world's frozen CLIP tells apart in its
/// pooled embedding (true caption against one swapped word, per kind), and image→text recall.
/// <c>glance analyze attention --images DIR</c>: where the captioner looks (paper Sec. 4), see <see cref="AttentionAnalysis"/>.
/// <c>glance analyze drift --images WORLD/images/SPLIT</c>: whether the first glance looks away from the image and errs
/// more as its caption grows (paper Sec. 4, visual blindness), see <see cref="DriftAnalysis"/>.
/// </summary>
public static class AnalyzeCommand
{
    public static Command Create()
    {
        var clip = new Option<string?>("--clip") { Description = "A full CLIP folder (both towers), e.g. a demo run's clip/; with --layers a vision-only CLIP folder will do" };
        var model = new Option<string?>("--model") { Description = "With --layers: a captioner folder holding its tower (default: the embedded model)" };
        var layersFlag = new Option<bool>("--layers") { Description = "Probe the patch tokens of every hidden state instead (entity, colour, count, size, region, arrangement, relation), trained on --train-split, scored on --split" };
        var only = new Option<string?>("--only-layers") { Description = "With --layers: hidden states probed, comma-separated (default all)" };
        var probeTasks = new Option<string?>("--tasks") { Description = "With --layers: tasks probed, comma-separated (entity, colour, count, size, region, arrangement, relation; default all)" };
        var trainSplit = new Option<string>("--train-split") { Description = "With --layers: the split the probes train on", DefaultValueFactory = _ => "train" };
        var trainImages = new Option<int>("--train-images") { Description = "With --layers: training scenes at most", DefaultValueFactory = _ => 8000 };
        var epochs = new Option<int>("--epochs") { Description = "With --layers: epochs of each probe", DefaultValueFactory = _ => 10 };
        var world = new Option<string>("--world") { Description = "A synthetic world folder (glance synth or a demo run's world/)", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the OPT vocab.json + merges.txt (default: the embedded model's)" };
        var split = new Option<string>("--split") { DefaultValueFactory = _ => "test" };
        var images = new Option<int>("--images") { Description = "Images probed at most", DefaultValueFactory = _ => 500 };
        var seed = new Option<long>("--seed") { Description = "Seed of the swapped words", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var tower = new Command("tower", "Forced choice between each image's caption and the caption with one word swapped (entity, colour, count, size, relation), by CLIP's pooled embeddings; chance is 50%. With --layers: probes on every hidden state's patch tokens.")
        {
            clip, world, tokenizer, split, images, seed, json, model, layersFlag, only, probeTasks, trainSplit, trainImages, epochs,
        };
        tower.SetAction(parse =>
        {
            if (parse.GetValue(layersFlag))
            {
                if (parse.GetValue(clip) is not null && parse.GetValue(model) is not null) throw new GlanceException("give --clip or --model, not both");
                string folder = parse.GetValue(clip) ?? parse.GetValue(model) ?? DefaultModel.Folder;
                var options = new TowerLayerProbe.Options
                {
                    TrainSplit = parse.GetValue(trainSplit)!, TestSplit = parse.GetValue(split)!, MaxTrain = parse.GetValue(trainImages),
                    MaxTest = parse.GetValue(images), Epochs = parse.GetValue(epochs), Seed = parse.GetValue(seed),
                    Layers = parse.GetValue(only) is { } l ? ParseLayers(l) : null,
                    Tasks = parse.GetValue(probeTasks)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                };
                using var vision = TowerLayerProbe.LoadTower(folder);
                var probe = CliProgress.Run("analyze tower --layers", p => TowerLayerProbe.Run(vision, parse.GetValue(world)!, options, p));
                parse.InvocationConfiguration.Output.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(new
                    {
                        grid = probe.Grid, train_images = probe.TrainImages, test_images = probe.TestImages,
                        layers = probe.Rows.Select(r => new { layer = r.Layer, scores = r.Scores.ToDictionary(kv => kv.Key, kv => new { right = kv.Value.Right, total = kv.Value.Total, accuracy = kv.Value.Accuracy }) }),
                    })
                    : probe.Format());
                return 0;
            }
            if (parse.GetValue(clip) is null) throw new GlanceException("--clip is required (a full CLIP folder), unless --layers is given");
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
        return new Command("analyze", "Analyses of a model's parts.") { tower, Attention(), Drift() };
    }

    private static IReadOnlyList<int> ParseLayers(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => int.TryParse(x, out var v) ? v : throw new GlanceException($"--only-layers: '{x}' is not a layer index")).ToList();

    private static Command Attention()
    {
        var images = new Option<string>("--images") { Description = "A folder of images; a synthetic world's WORLD/images/SPLIT also gets the grounding figure from WORLD/SPLIT.scenes.json", Required = true };
        var model = new Option<string?>("--model") { Description = "Captioner folder or hub name (default: the embedded model)" };
        var refine = new Option<bool>("--refine") { Description = "Also the second glance (its share on DeepLens's outputs, and grounding through DeepLens)" };
        var beams = new Option<int>("--beams") { Description = "Beam width (1 = greedy, the default here)", DefaultValueFactory = _ => 1 };
        var limit = new Option<int?>("--limit") { Description = "Images at most (the first N by name)" };
        var plot = new Option<string?>("--plot") { Description = "Write the per-layer shares as a bar chart PNG here" };
        var command = new Command("attention", "Share of each generated token's attention on the visual tokens per LM layer (paper Sec. 4) and, on synthetic scenes, how often a noun's heat-map maximum lies in the named object's box.")
        {
            images, model, refine, beams, limit, plot,
        };
        command.SetAction(parse =>
        {
            string folder = parse.GetValue(images)!;
            var paths = ImagePaths.Expand([folder], folder);
            if (parse.GetValue(limit) is int n) paths = paths.Take(Math.Max(0, n)).ToList();
            var options = new AttentionOptions { Generation = GenerationOptions.Paper with { NumBeams = parse.GetValue(beams) }, Refine = parse.GetValue(refine) };
            options.Generation.Validate(int.MaxValue);
            using var captioner = DefaultModel.LoadForInference(parse.GetValue(model), null, "cpu");
            var world = AttentionAnalysis.WorldOf(folder);
            var stats = CliProgress.Run("analyze attention", p => AttentionAnalysis.Run(captioner, paths, options, world, p));
            parse.InvocationConfiguration.Output.Write(stats.Format());
            if (parse.GetValue(plot) is { } png) AttentionAnalysis.WritePlot(stats, png);
            return 0;
        });
        return command;
    }

    private static Command Drift()
    {
        var images = new Option<string>("--images") { Description = "A synthetic world's image folder WORLD/images/SPLIT (its scene graphs WORLD/SPLIT.scenes.json judge the mentions)", Required = true };
        var model = new Option<string?>("--model") { Description = "Captioner folder or hub name (default: the embedded model)" };
        var beams = new Option<int>("--beams") { Description = "Beam width (1 = greedy, the default here)", DefaultValueFactory = _ => 1 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Longest caption in tokens (the dense world's descriptions need ~160)", DefaultValueFactory = _ => GenerationOptions.Paper.MaxNewTokens };
        var limit = new Option<int?>("--limit") { Description = "Images at most (the first N by name)" };
        var plots = new Option<string?>("--plots") { Description = "Folder for attention-by-position.png and errors-by-position.png" };
        var title = new Option<string>("--title") { Description = "Title of the figures", DefaultValueFactory = _ => "first glance" };
        var minCount = new Option<int>("--min-count") { Description = "Positions reached by fewer captions (mentions) are left out of the tables and figures", DefaultValueFactory = _ => 10 };
        var command = new Command("drift", "Visual blindness (paper Sec. 4): the first glance's share of attention on the image by generated-token position, and the error rate of its mentions (entity, count, colour, size, relation) by their position in the caption, judged against the scene graphs.")
        {
            images, model, beams, maxNew, limit, plots, title, minCount,
        };
        command.SetAction(parse =>
        {
            string folder = parse.GetValue(images)!;
            var world = AttentionAnalysis.WorldOf(folder)
                ?? throw GlanceException.ForFile(folder, "is not a synthetic world's WORLD/images/SPLIT folder (WORLD/SPLIT.scenes.json and WORLD/lexicon.json beside it): the mentions need scene graphs");
            var paths = ImagePaths.Expand([folder], folder);
            if (parse.GetValue(limit) is int n) paths = paths.Take(Math.Max(0, n)).ToList();
            var generation = GenerationOptions.Paper with { NumBeams = parse.GetValue(beams), MaxNewTokens = parse.GetValue(maxNew) };
            generation.Validate(int.MaxValue);
            using var captioner = DefaultModel.LoadForInference(parse.GetValue(model), null, "cpu");
            var stats = CliProgress.Run("analyze drift", p => DriftAnalysis.Run(captioner, paths, new AttentionOptions { Generation = generation }, world, p));
            var output = parse.InvocationConfiguration.Output;
            output.Write(stats.Format(parse.GetValue(minCount)));
            if (parse.GetValue(plots) is { } dir)
                foreach (var png in DriftAnalysis.WritePlots(stats, dir, parse.GetValue(title)!, parse.GetValue(minCount))) output.WriteLine($"figure: {png}");
            return 0;
        });
        return command;
    }
}
