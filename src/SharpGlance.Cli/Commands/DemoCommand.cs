using System.CommandLine;
using SharpGlance.Demo;

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

        var command = new Command("demo", "Reproduce the paper in miniature on the synthetic world and write results.{json,md,html}.")
        {
            quick, output, seed, tokenizer, export, ablations,
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

    private sealed class CliSteps : IStepRunner
    {
        public T Step<T>(string title, Func<IProgress<ProgressUpdate>, T> work) => CliProgress.Run(title, work);
        public void Log(string line) => Console.Error.WriteLine(line);
    }
}
