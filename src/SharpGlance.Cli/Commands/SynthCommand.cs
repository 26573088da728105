using System.CommandLine;
using SharpGlance.Data.Synthetic;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance synth</c>: generates the synthetic captioning world (SPEC §11) — images, five reference
/// captions each (LLaVA + COCO JSON), detailed descriptions, scene graphs and the lexicon — or, with
/// <c>--samples DIR</c>, the handful of sample scenes shipped in <c>samples/</c>.
/// </summary>
public static class SynthCommand
{
    public static Command Create()
    {
        var outDir = new Option<string?>("--out") { Description = "Output folder of the dataset." };
        var train = new Option<int>("--train") { Description = "Training images.", DefaultValueFactory = _ => 0 };
        var val = new Option<int>("--val") { Description = "Validation images.", DefaultValueFactory = _ => 0 };
        var test = new Option<int>("--test") { Description = "Test images.", DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { Description = "Random seed; the same seed gives byte-identical files.", DefaultValueFactory = _ => 0 };
        // The defaults are the world the embedded default model and the demo know (96 px, mini), so that
        // `glance synth` → `glance caption --json` → `glance eval` measures that model on its own world.
        var size = new Option<int>("--size") { Description = "Image side in pixels (default 96: the world of the embedded default model and the demo).", DefaultValueFactory = _ => 96 };
        var vocab = new Option<string>("--vocab") { Description = "Emoji vocabulary: mini (3 per class; default: the world of the embedded default model and the demo), small (57 entities) or full (curated few hundred).", DefaultValueFactory = _ => "mini" };
        var occlusion = new Option<double>("--occlusion") { Description = "Probability that a scene lets objects partly overlap.", DefaultValueFactory = _ => 0.25 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0: all cores); the output does not depend on it.", DefaultValueFactory = _ => 0 };
        var worldKind = new Option<string>("--world") { Description = "default (1–2 groups, one-sentence captions: the embedded model's world) or dense (3–6 groups, 2–4 relations, references of several sentences, objects of at least two patches of --grid).", DefaultValueFactory = _ => "default" };
        var grid = new Option<int>("--grid") { Description = "With --world dense: patches per side of the tower that will see the images; object sizes are in its patches (default 8: the embedded model's 96 px / 12 px ViT).", DefaultValueFactory = _ => 8 };
        var samples = new Option<string?>("--samples") { Description = "Instead of a dataset, write 6 varied sample scenes and their captions into this folder." };
        var font = new Option<string?>("--emoji-font") { Description = $"Emoji font (default {EmojiCatalog.DefaultFontPath})." };
        var cldr = new Option<string?>("--cldr") { Description = $"CLDR 'common' folder (default {EmojiCatalog.DefaultCldrDir})." };

        var command = new Command("synth", "Generate the synthetic captioning world: images, captions, scene graphs, lexicon.")
        {
            outDir, train, val, test, seed, size, vocab, occlusion, worldKind, grid, threads, samples, font, cldr,
        };
        command.SetAction(parseResult =>
        {
            var which = parseResult.GetValue(vocab) switch
            {
                "small" => SynthVocab.Small,
                "full" => SynthVocab.Full,
                "mini" => SynthVocab.Mini,
                var v => throw new GlanceException($"--vocab must be mini, small or full (got '{v}')"),
            };
            DenseWorld? dense = parseResult.GetValue(worldKind) switch
            {
                "default" => null,
                "dense" => new DenseWorld(Grid: parseResult.GetValue(grid)),
                var w => throw new GlanceException($"--world must be default or dense (got '{w}')"),
            };
            if (parseResult.GetValue(samples) is { } samplesDir)
            {
                using var world = SyntheticWorld.Open(parseResult.GetValue(seed), parseResult.GetValue(size), which,
                    parseResult.GetValue(occlusion), parseResult.GetValue(font), parseResult.GetValue(cldr), dense);
                foreach (var item in world.WriteSamples(samplesDir))
                    Console.WriteLine($"{Path.Combine(samplesDir, item.Scene.FileName)}: {item.Captions[0]}");
                return 0;
            }
            var options = new SynthOptions
            {
                Train = parseResult.GetValue(train), Val = parseResult.GetValue(val), Test = parseResult.GetValue(test),
                Seed = parseResult.GetValue(seed), ImageSize = parseResult.GetValue(size), Vocab = which,
                Occlusion = parseResult.GetValue(occlusion), Threads = parseResult.GetValue(threads),
                FontPath = parseResult.GetValue(font), CldrDir = parseResult.GetValue(cldr), Dense = dense,
            };
            var dir = parseResult.GetValue(outDir) ?? throw new GlanceException("--out is required (the dataset folder)");
            options.Validate();
            using var interrupts = Interrupts.Listen();
            SynthSummary summary;
            try { summary = CliProgress.Run("synth", progress => SyntheticWorld.Generate(dir, options, progress, interrupts.Token)); }
            catch (OperationCanceledException) when (interrupts.Requested)
            {
                return interrupts.Report(parseResult.InvocationConfiguration.Error, $"nothing written to {dir}; the staging folder is removed");
            }
            Console.WriteLine($"wrote {string.Join(", ", summary.Images.Select(kv => $"{kv.Value} {kv.Key}"))} images to {summary.OutDir} " +
                              $"({summary.Entities} entities in {summary.Classes} classes, {summary.Seconds:F1} s, {summary.ImagesPerSecond:F0} images/s)");
            return 0;
        });
        return command;
    }
}
