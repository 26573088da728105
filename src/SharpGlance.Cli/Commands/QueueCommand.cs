using System.CommandLine;
using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.Queue;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// Bulk captioning over RabbitMQ: <c>glance queue submit</c> and <c>glance queue collect</c> (one command
/// group), and <c>glance worker</c>, each thin over <see cref="SharpGlance.Queue"/>.
/// </summary>
public static class QueueCommand
{
    /// <summary>
    /// <c>--broker</c> and <c>--broker-file</c>: a password on the command line is visible to every user of the
    /// machine (<c>ps</c>), so the URI can also come from a file or <c>$GLANCE_BROKER</c> (<see cref="Secrets.Broker"/>).
    /// </summary>
    private sealed record BrokerOptions(Option<string?> Uri, Option<string?> File)
    {
        public static BrokerOptions Create() => new(
            new Option<string?>("--broker") { Description = "The RabbitMQ broker, amqp://user:password@host:5672/vhost or amqps:// (TLS); default $GLANCE_BROKER, else amqp://guest:guest@127.0.0.1:5672/" },
            new Option<string?>("--broker-file") { Description = "A file whose first line is the broker URI (keeps the password off the command line); or $GLANCE_BROKER_FILE" });

        public string Resolve(ParseResult parse) => Secrets.Broker(parse.GetValue(Uri), parse.GetValue(File));
    }

    private static Option<string> JobOption() => new("--job") { Description = "The job's name (letters, digits, '-', '_', '.')", Required = true };

    public static Command Create()
    {
        var command = new Command("queue", "Bulk captioning over RabbitMQ: submit a job's images, collect its results (workers: glance worker).");
        command.Subcommands.Add(Submit());
        command.Subcommands.Add(Collect());
        return command;
    }

    private static Command Submit()
    {
        var broker = BrokerOptions.Create();
        var job = JobOption();
        var inline = new Option<bool>("--inline") { Description = "Send the images' bytes (workers need no shared storage); default: their full paths" };
        var images = new Argument<string[]>("images") { Description = "Image files, folders or globs", Arity = ArgumentArity.OneOrMore };
        var command = new Command("submit", "Publish one persistent message per image to the durable quorum queue glance.work, each confirmed by the broker.")
        {
            broker.Uri, broker.File, job, inline, images,
        };
        command.SetAction(parseResult =>
        {
            var paths = ImagePaths.Expand(parseResult.GetValue(images)!, DefaultModel.SamplesFolder);
            string name = parseResult.GetValue(job)!;
            int count = CliProgress.Run("submit", progress =>
                QueueSubmitter.SubmitAsync(broker.Resolve(parseResult), name, paths, parseResult.GetValue(inline), progress).GetAwaiter().GetResult());
            parseResult.InvocationConfiguration.Output.WriteLine($"submitted {count} images as job {name}");
            return 0;
        });
        return command;
    }

    private static Command Collect()
    {
        var broker = BrokerOptions.Create();
        var job = JobOption();
        var output = new Option<string>("--out") { Description = "COCO results JSON to write; the JSONL (one line per image, errors too) goes beside it", Required = true };
        var timeout = new Option<double?>("--timeout") { Description = "Give up after this many seconds without a new result (default: wait for every image)" };
        var command = new Command("collect", "Gather a job's results, one per image (redeliveries deduplicated), into COCO results JSON and JSONL.")
        {
            broker.Uri, broker.File, job, output, timeout,
        };
        command.SetAction(parseResult =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            using var interrupts = Interrupts.Listen();
            string path = parseResult.GetValue(output)!;
            var idle = parseResult.GetValue(timeout) is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
            CollectOutcome outcome;
            try
            {
                outcome = CliProgress.Run("collect", progress =>
                    QueueCollector.CollectAsync(broker.Resolve(parseResult), parseResult.GetValue(job)!, path, idle, progress, interrupts.Token).GetAwaiter().GetResult());
            }
            catch (OperationCanceledException) when (interrupts.Requested)
            {
                return interrupts.Report(error, "nothing written; the results stay in the queue");
            }
            foreach (var r in outcome.Results.Where(r => r.Error is not null)) error.WriteLine($"glance: error: {r.Error}");
            parseResult.InvocationConfiguration.Output.WriteLine(
                $"collected {outcome.Results.Count} of {outcome.Total} images ({outcome.Errors} errors, {outcome.Duplicates} duplicates dropped) into {path} and {Path.ChangeExtension(path, ".jsonl")}");
            if (!outcome.Complete)
            {
                error.WriteLine($"glance: error: {outcome.Total - outcome.Results.Count} images have no result yet (see glance.dead for messages that failed {QueueTopology.Attempts} times)");
                return 2;
            }
            return outcome.Errors == 0 ? 0 : 2;
        });
        return command;
    }

    public static Command Worker()
    {
        var broker = BrokerOptions.Create();
        var model = new Option<string?>("--model") { Description = "Captioner folder (default: the embedded model)" };
        var batch = new Option<int>("--batch") { Description = "Images per batch (and the prefetch)", DefaultValueFactory = _ => 8 };
        var beams = new Option<int>("--beams") { Description = "Beam width (1 = greedy)", DefaultValueFactory = _ => 3 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "New tokens at most", DefaultValueFactory = _ => 77 };
        var refine = new Option<bool>("--refine") { Description = "Take a second glance" };
        var statsEvery = new Option<int>("--stats-every") { Description = "Log the RSS and live tensor count every N images (0: never)", DefaultValueFactory = _ => 1000 };
        var gemm = GemmChoice.Option();
        var precision = PrecisionChoice.Option();
        var command = new Command("worker", "Caption the images of glance.work in batches until SIGTERM or Ctrl-C (run any number, on any machines).")
        {
            broker.Uri, broker.File, model, batch, beams, maxNew, refine, statsEvery, gemm, precision,
        };
        command.SetAction(parseResult =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            var generation = GenerationOptions.Paper with { NumBeams = parseResult.GetValue(beams), MaxNewTokens = parseResult.GetValue(maxNew) };
            generation.Validate(int.MaxValue);
            using var captioner = DefaultModel.LoadForInference(parseResult.GetValue(model), null, "cpu", parseResult.GetValue(gemm), parseResult.GetValue(precision));
            var options = new WorkerOptions
            {
                Broker = broker.Resolve(parseResult),
                BatchSize = parseResult.GetValue(batch),
                StatsEvery = Math.Max(0, parseResult.GetValue(statsEvery)),
                Caption = new CaptionRunOptions { Generation = generation, Rounds = parseResult.GetValue(refine) ? 1 : 0 },
            };
            if (options.Caption.Rounds > 0 && captioner.DeepLens is null)
                throw new GlanceException("refinement needs a captioner with DeepLens (this one is single-pass)");
            using var interrupts = Interrupts.Listen();
            var worker = new QueueWorker(captioner, options, line => error.WriteLine(line));
            worker.RunAsync(interrupts.Token).GetAwaiter().GetResult();
            return interrupts.Report(error, $"{worker.Captioned} images captioned; unacked messages return to the queue");
        });
        return command;
    }
}
