using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using SharpGlance.Captioning;

namespace SharpGlance.Server;

/// <summary>
/// <c>glance serve</c>: loads the captioner once, then answers HTTP on one port — the caption API, an
/// OpenAI-compatible chat endpoint, health, Prometheus metrics, the OpenAPI document and a web page — with
/// every caption made by the <see cref="CaptionBatcher"/>. SIGTERM (or <see cref="DisposeAsync"/>) drains
/// the queue: waiting requests are answered, new ones get 503, then the process exits.
/// </summary>
public sealed class GlanceServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ICaptionModel _captioner;
    private readonly ServerMetrics _metrics;

    internal CaptionBatcher Batcher { get; }
    public ServeOptions Options { get; }
    /// <summary>The address it listens on (the real port when <see cref="ServeOptions.Port"/> was 0).</summary>
    public Uri Address { get; }

    private GlanceServer(WebApplication app, ICaptionModel captioner, CaptionBatcher batcher, ServerMetrics metrics, ServeOptions options)
    {
        _app = app; _captioner = captioner; Batcher = batcher; _metrics = metrics; Options = options;
        var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
        Address = new Uri(addresses.First().Replace("[::]", "localhost", StringComparison.Ordinal));
    }

    /// <summary>
    /// Loads the model, starts the inference thread (it warms the model up; <c>/readyz</c> answers 200
    /// after) and starts listening. <paramref name="handleSignals"/>: SIGTERM and Ctrl-C stop it (the CLI);
    /// off for a server hosted inside another program, which disposes it.
    /// </summary>
    public static async Task<GlanceServer> StartAsync(ServeOptions options, bool handleSignals = true)
    {
        options.Validate();
        var captioner = CaptionModels.Load(options.ModelFolder, new CaptionerLoadOptions
        {
            TrimVision = true,
            DType = SharpGlance.Runtime.Precisions.Resolve(options.Precision, TorchSharp.torch.CPU),
        });
        CaptionBatcher? batcher = null;
        ServerMetrics? metrics = null;
        try
        {
            metrics = new ServerMetrics(() => batcher?.Depth ?? 0, options);
            batcher = new CaptionBatcher(captioner, options, metrics);
            var app = Build(options, captioner, batcher, metrics, handleSignals);
            batcher.Start();
            await app.StartAsync();
            return new GlanceServer(app, captioner, batcher, metrics, options);
        }
        catch
        {
            batcher?.Dispose();
            metrics?.Dispose();
            captioner.Dispose();
            throw;
        }
    }

    private static WebApplication Build(ServeOptions options, ICaptionModel captioner, CaptionBatcher batcher, ServerMetrics metrics, bool handleSignals)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = typeof(GlanceServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        if (!handleSignals) builder.Services.AddSingleton<IHostLifetime, HostedLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(System.Net.IPAddress.Parse(options.Host == "localhost" ? "127.0.0.1" : options.Host), options.Port);
            // A chat request carries the image as base64 (4/3 of its bytes) inside JSON.
            k.Limits.MaxRequestBodySize = CaptionApi.BodyLimit(options);
            // Slow clients: the headers must arrive within HeadersTimeout, a body at MinBodyBytesPerSecond once
            // BodyGrace has passed; Kestrel checks once a second and closes the connection of one that lags.
            k.Limits.RequestHeadersTimeout = options.HeadersTimeout;
            k.Limits.MinRequestBodyDataRate = new MinDataRate(options.MinBodyBytesPerSecond, options.BodyGrace);
            k.Limits.KeepAliveTimeout = options.KeepAliveTimeout;
        });
        builder.Services.Configure<FormOptions>(o => o.MultipartBodyLengthLimit = CaptionApi.BodyLimit(options));
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        });
        builder.Services.AddOpenApi();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(ServerMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.RateLimiting", "System.Runtime")
            .AddPrometheusExporter());
        builder.Services.AddSingleton(new Drain(batcher));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Drain>());
        ServerAccess.AddServices(builder.Services, options, metrics);

        var app = builder.Build();
        var api = new CaptionApi(captioner, batcher, metrics, options);
        api.UseRequestMetrics(app);   // first, so that 401s and 429s are counted too
        ServerAccess.Use(app, options);
        // Exactly GET (or HEAD) /metrics: the exporter alone would answer any method and any path below it.
        app.UseOpenTelemetryPrometheusScrapingEndpoint(http => http.Request.Path == "/metrics" && (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)));
        app.MapOpenApi("/openapi/{documentName}.json");
        api.Map(app);
        return app;
    }

    /// <summary>Returns when the host has stopped (SIGTERM or Ctrl-C, after the queue drained).</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Batcher.Dispose();
        _metrics.Dispose();
        _captioner.Dispose();
    }

    /// <summary>
    /// Drains the queue when the host starts stopping, before Kestrel stops: new requests get 503, the
    /// queued ones are captioned and answered, then Kestrel closes the connections.
    /// </summary>
    private sealed class Drain(CaptionBatcher batcher) : IHostedLifecycleService
    {
        public Task StoppingAsync(CancellationToken cancellationToken) => batcher.DrainAsync().WaitAsync(cancellationToken);
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>A host lifetime that listens to no signal: the program hosting the server stops it.</summary>
    private sealed class HostedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
