using System.CommandLine;
using SharpGlance.Server;

namespace SharpGlance.Cli.Commands;

/// <summary><c>glance serve</c>: the HTTP captioning service (<see cref="GlanceServer"/>) until SIGTERM or Ctrl-C.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServeOptions { ModelFolder = "", ModelId = "" };
        var model = new Option<string?>("--model") { Description = "Captioner folder (default: the embedded model, trained on the synthetic world)" };
        var host = new Option<string>("--host") { Description = "Address to listen on (0.0.0.0 for every interface, e.g. in a container)", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port") { Description = "Port (0 picks a free one)", DefaultValueFactory = _ => defaults.Port };
        var maxBatch = new Option<int>("--max-batch") { Description = "Requests captioned together in one pass at most", DefaultValueFactory = _ => defaults.MaxBatch };
        var maxWait = new Option<int>("--max-wait-ms") { Description = "How long the oldest waiting request waits for others to join its batch", DefaultValueFactory = _ => defaults.MaxWaitMs };
        var queue = new Option<int>("--queue") { Description = "Requests waiting at most; more are answered 503 with Retry-After", DefaultValueFactory = _ => defaults.QueueCapacity };
        var maxMb = new Option<double>("--max-image-mb") { Description = "Largest image file accepted (413 above)", DefaultValueFactory = _ => defaults.MaxImageBytes / 1048576.0 };
        var maxPixels = new Option<long>("--max-pixels") { Description = "Most pixels an image may declare; more is refused before decoding", DefaultValueFactory = _ => defaults.MaxPixels };
        var gemm = GemmChoice.Option();
        var precision = PrecisionChoice.Option();
        var command = new Command("serve", "Serve captions over HTTP: /v1/captions, /v1/chat/completions (OpenAI-compatible), a web page at /, /metrics.")
        {
            model, host, port, maxBatch, maxWait, queue, maxMb, maxPixels, gemm, precision,
        };
        // A synchronous action: System.CommandLine ends an async action's process 2 s after SIGTERM, before the
        // queue has drained; the server's host listens for SIGTERM itself.
        command.SetAction(parseResult =>
        {
            GemmChoice.Apply(GemmChoice.Parse(parseResult.GetValue(gemm)));
            var options = new ServeOptions
            {
                ModelFolder = DefaultModel.Resolve(parseResult.GetValue(model)),
                ModelId = parseResult.GetValue(model) is { } m ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(m))) : "sharpglance-default",
                Host = parseResult.GetValue(host)!,
                Port = parseResult.GetValue(port),
                MaxBatch = parseResult.GetValue(maxBatch),
                MaxWaitMs = parseResult.GetValue(maxWait),
                QueueCapacity = parseResult.GetValue(queue),
                MaxImageBytes = (long)(parseResult.GetValue(maxMb) * 1048576),
                MaxPixels = parseResult.GetValue(maxPixels),
                Precision = PrecisionChoice.Parse(parseResult.GetValue(precision)),
            };
            var server = GlanceServer.StartAsync(options).GetAwaiter().GetResult();
            parseResult.InvocationConfiguration.Output.WriteLine($"glance serve: {options.ModelId} on {server.Address} (web page at /, API at /v1/captions, OpenAPI at /openapi/v1.json)");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        });
        return command;
    }
}
