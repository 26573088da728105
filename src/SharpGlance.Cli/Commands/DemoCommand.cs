using System.CommandLine;
using SharpGlance.Demo;
using SharpGlance.Training;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance demo [--quick]</c>: the whole paper in miniature on the synthetic world — world, tiny CLIP,
/// stage 0, stage 1, pseudo-initial captions, stage 2 with ablations, evaluation, report.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "A small run (about 2-3 minutes on two cores) with the same steps" };
        var output = new Option<string?>("--out") { Description = "Run folder (default runs/demo or runs/demo-quick)" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the OPT vocab.json + merges.txt (default: the embedded model's)" };
        var ablations = new Option<bool>("--ablations") { Description = "Also train Tab. 3's ablations (① only, ② only, DeepLens as the single glance; about 25 more minutes; the quick run always does)" };
        var export = new Option<string?>("--export") { Description = "Also copy the trained SeR captioner (float16) to this folder, e.g. models/default" };
        // The miniature's size and stage-2 recipe, for experiments (docs/demo/README.md); unset = the run's defaults.
        var trainImages = new Option<int?>("--train-images") { Description = "Training scenes of the world (default 4000)" };
        var imageSize = new Option<int?>("--size") { Description = "Scene side in pixels, as synth --size; a multiple of 8: the tower's patches are 1/8 of it (default 96)" };
        var clipEpochs = new Option<int?>("--clip-epochs") { Description = "Epochs of the tiny CLIP's contrastive training (default 5)" };
        var finetuneSteps = new Option<int?>("--finetune-steps") { Description = "Stage 1's steps (default 4000)" };
        var refineSteps = new Option<int?>("--refine-steps") { Description = "Stage 2's steps; the control row trains stage 1 as many more (default 1500)" };
        var refineLr = new Option<double?>("--refine-lr") { Description = $"Stage 2's learning rate (default {TrainStage.Refine.MiniatureLearningRate():0e0})" };
        var firstShare = new Option<double?>("--first-glance-share") { Description = "Stage 2: share of first-glance examples (default 0.3)" };
        var singleShare = new Option<double?>("--single-glance-share") { Description = "Stage 2: share of DeepLens single-glance examples (default 0.3)" };

        var command = new Command("demo", "Reproduce the paper in miniature on the synthetic world and write results.{json,md,html}.")
        {
            quick, output, seed, tokenizer, export, ablations, trainImages, imageSize, clipEpochs, finetuneSteps, refineSteps, refineLr,
            firstShare, singleShare,
        };
        command.SetAction(parseResult =>
        {
            bool isQuick = parseResult.GetValue(quick);
            string outDir = parseResult.GetValue(output) ?? Path.Combine("runs", isQuick ? "demo-quick" : "demo");
            string tok = parseResult.GetValue(tokenizer) ?? DefaultModel.Folder;
            if (!Tokenization.OptTokenizer.Exists(tok))
                throw GlanceException.ForFile(tok, "no vocab.json + merges.txt here; pass --tokenizer DIR with the OPT vocabulary");
            long s = parseResult.GetValue(seed);
            var options = isQuick ? DemoOptions.QuickRun(outDir, tok, s) : DemoOptions.Full(outDir, tok, s) with { Ablations = parseResult.GetValue(ablations) };
            if (parseResult.GetValue(imageSize) is { } px && (px < 16 || px % 8 != 0))
                throw new GlanceException($"--size {px}: must be a multiple of 8, at least 16 (the tower reads an 8×8 grid of patches)");
            options = options with
            {
                Train = Positive(parseResult.GetValue(trainImages), "--train-images") ?? options.Train,
                ImageSize = parseResult.GetValue(imageSize) ?? options.ImageSize,
                ClipEpochs = Positive(parseResult.GetValue(clipEpochs), "--clip-epochs") ?? options.ClipEpochs,
                FinetuneSteps = Positive(parseResult.GetValue(finetuneSteps), "--finetune-steps") ?? options.FinetuneSteps,
                RefineSteps = Positive(parseResult.GetValue(refineSteps), "--refine-steps") ?? options.RefineSteps,
                RefineLearningRate = parseResult.GetValue(refineLr) ?? options.RefineLearningRate,
                FirstGlanceShare = Share(parseResult.GetValue(firstShare), "--first-glance-share") ?? options.FirstGlanceShare,
                SingleGlanceShare = Share(parseResult.GetValue(singleShare), "--single-glance-share") ?? options.SingleGlanceShare,
            };
            var result = MiniaturePaper.Run(options, new CliSteps());
            var stdout = parseResult.InvocationConfiguration.Output;
            stdout.WriteLine(DemoReport.Markdown(result));
            stdout.WriteLine($"report: {Path.Combine(outDir, "results.html")}");
            if (parseResult.GetValue(export) is { } target)
            {
                Directory.CreateDirectory(target);
                foreach (var f in Directory.EnumerateFiles(result.DefaultModel))
                    File.Copy(f, Path.Combine(target, Path.GetFileName(f)), overwrite: true);
                stdout.WriteLine($"exported the SeR captioner to {target}");
            }
            return 0;
        });
        return command;
    }

    private static int? Positive(int? value, string name) =>
        value is <= 0 ? throw new GlanceException($"{name} {value}: must be at least 1") : value;

    private static double? Share(double? value, string name) =>
        value is < 0 or > 1 ? throw new GlanceException($"{name} {value}: must be between 0 and 1") : value;

    private sealed class CliSteps : IStepRunner
    {
        public T Step<T>(string title, Func<IProgress<ProgressUpdate>, T> work) => CliProgress.Run(title, work);
        public void Log(string line) => Console.Error.WriteLine(line);
    }
}
