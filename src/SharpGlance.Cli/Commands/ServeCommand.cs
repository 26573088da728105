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
        var apiKey = new Option<string?>("--api-key") { Description = "The key /v1/* requests must send as Authorization: Bearer KEY (visible in ps: prefer $GLANCE_API_KEY or --api-key-file)" };
        var apiKeyFile = new Option<string?>("--api-key-file") { Description = "A file of accepted keys, one a line ('#' comments); or $GLANCE_API_KEY_FILE" };
        var metricsNeedKey = new Option<bool>("--metrics-need-key") { Description = "/metrics needs the key too (/healthz and /readyz stay open)" };
        var clientRate = new Option<double>("--client-rate") { Description = "Requests a second each client's token bucket refills (a client: its key, or its address without keys); 0 = no limit", DefaultValueFactory = _ => defaults.ClientRate };
        var clientBurst = new Option<int>("--client-burst") { Description = "Requests each client's bucket holds; past it, 429 with Retry-After", DefaultValueFactory = _ => defaults.ClientBurst };
        var headersTimeout = new Option<double>("--headers-timeout") { Description = "Seconds a client has to send its request headers", DefaultValueFactory = _ => defaults.HeadersTimeout.TotalSeconds };
        var bodyTimeout = new Option<double>("--body-timeout") { Description = "Seconds a request body may take before --min-body-rate applies", DefaultValueFactory = _ => defaults.BodyGrace.TotalSeconds };
        var minBodyRate = new Option<double>("--min-body-rate") { Description = "Bytes a second a body must keep arriving at after --body-timeout; slower is cut off", DefaultValueFactory = _ => defaults.MinBodyBytesPerSecond };
        var gemm = GemmChoice.Option();
        var precision = PrecisionChoice.Option();
        var command = new Command("serve", "Serve captions over HTTP: /v1/captions, /v1/chat/completions (OpenAI-compatible), a web page at /, /metrics.")
        {
            model, host, port, maxBatch, maxWait, queue, maxMb, maxPixels, apiKey, apiKeyFile, metricsNeedKey,
            clientRate, clientBurst, headersTimeout, bodyTimeout, minBodyRate, gemm, precision,
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
                ApiKeys = Keys(parseResult.GetValue(apiKey), parseResult.GetValue(apiKeyFile)),
                MetricsNeedKey = parseResult.GetValue(metricsNeedKey),
                ClientRate = parseResult.GetValue(clientRate),
                ClientBurst = parseResult.GetValue(clientBurst),
                HeadersTimeout = Seconds(parseResult.GetValue(headersTimeout), "--headers-timeout"),
                BodyGrace = Seconds(parseResult.GetValue(bodyTimeout), "--body-timeout"),
                MinBodyBytesPerSecond = parseResult.GetValue(minBodyRate),
            };
            options.Validate();   // before the model loads: a mistyped option is one line at once
            if (options.ExposureWarning() is { } warning) parseResult.InvocationConfiguration.Error.WriteLine("glance serve: " + warning);
            var server = GlanceServer.StartAsync(options).GetAwaiter().GetResult();
            string keys = options.ApiKeys.Count > 0 ? $"; /v1/* needs one of {options.ApiKeys}" : "";
            parseResult.InvocationConfiguration.Output.WriteLine($"glance serve: {options.ModelId} on {server.Address} (web page at /, API at /v1/captions, OpenAPI at /openapi/v1.json{keys})");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The accepted keys: <c>--api-key</c> and the lines of <c>--api-key-file</c>; with neither,
    /// <c>$GLANCE_API_KEY</c> and the lines of <c>$GLANCE_API_KEY_FILE</c>; none of them: the API is open.
    /// </summary>
    private static ApiKeys Keys(string? key, string? file)
    {
        var keys = new List<string>();
        if (key is not null || file is not null)
        {
            if (key is not null) keys.Add(key);
            if (file is not null) keys.AddRange(ApiKeys.ReadFile(file));
            return ApiKeys.Of(keys, key is not null ? "--api-key" : "--api-key-file " + file);
        }
        if (Secrets.Env("GLANCE_API_KEY") is { } env) keys.Add(env);
        if (Secrets.Env("GLANCE_API_KEY_FILE") is { } envFile) keys.AddRange(ApiKeys.ReadFile(envFile));
        return ApiKeys.Of(keys, "GLANCE_API_KEY");
    }

    private static TimeSpan Seconds(double value, string option) =>
        double.IsFinite(value) && value is > 0 and <= 3600 ? TimeSpan.FromSeconds(value)
        : throw new GlanceException($"{option} must be above 0 and at most 3600 seconds (got {value})");
}
