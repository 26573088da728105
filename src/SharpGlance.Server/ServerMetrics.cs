using System.Diagnostics.Metrics;

namespace SharpGlance.Server;

/// <summary>
/// The server's instruments (meter <c>SharpGlance.Server</c>), exported by OpenTelemetry's Prometheus
/// exporter at <c>/metrics</c> as <c>glance_requests_total</c>, <c>glance_request_duration_seconds</c>,
/// <c>glance_batch_size</c>, <c>glance_batches_total</c>, <c>glance_batch_duration_seconds</c>,
/// <c>glance_abandoned_total</c>, <c>glance_rate_limited_total</c>, <c>glance_queue_depth</c> and
/// <c>glance_live_tensors</c> (TorchSharp tensors not yet disposed: flat under load, or something leaks); and the
/// limits the server was started with, as gauges: <c>glance_limit_client_rate</c> (requests a second),
/// <c>glance_limit_client_burst</c>, <c>glance_limit_queue</c>, <c>glance_limit_max_batch</c>,
/// <c>glance_limit_max_image_bytes</c>, <c>glance_limit_headers_timeout_seconds</c>,
/// <c>glance_limit_body_timeout_seconds</c> and <c>glance_limit_min_body_rate</c> (bytes a second).
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "SharpGlance.Server";

    private static readonly double[] SecondsBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _latency;
    private readonly Histogram<int> _batchSize;
    private readonly Counter<long> _batches;
    private readonly Histogram<double> _batchSeconds;
    private readonly Counter<long> _abandoned;
    private readonly Counter<long> _rateLimited;

    public ServerMetrics(Func<int> queueDepth, ServeOptions options)
    {
        _requests = _meter.CreateCounter<long>("glance.requests", description: "HTTP requests to the API, by route and status");
        _latency = _meter.CreateHistogram("glance.request.duration", "s", "Time from request to answer, by route",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _batchSize = _meter.CreateHistogram("glance.batch.size", "{image}", "Images captioned in one batched pass",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256] });
        _batches = _meter.CreateCounter<long>("glance.batches", description: "Batched passes (the tower runs once per pass)");
        _batchSeconds = _meter.CreateHistogram("glance.batch.duration", "s", "Wall time of one batched pass",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _abandoned = _meter.CreateCounter<long>("glance.abandoned", description: "Requests whose client left while they waited in the queue");
        _rateLimited = _meter.CreateCounter<long>("glance.rate_limited", description: "Requests refused with 429: their client's token bucket was empty");
        _meter.CreateObservableGauge("glance.queue.depth", queueDepth, "{request}", "Requests waiting for a pass");
        _meter.CreateObservableGauge("glance.live_tensors", () => TorchSharp.torch.Tensor.TotalCount, "{tensor}", "TorchSharp tensors alive (created, not yet disposed)");
        Limit("client_rate", options.ClientRate, "{request}/s", "Requests a second each client's bucket refills (0: no limit)");
        Limit("client_burst", options.ClientBurst, "{request}", "Requests each client's bucket holds");
        Limit("queue", options.QueueCapacity, "{request}", "Requests waiting at most; one more is 503");
        Limit("max_batch", options.MaxBatch, "{request}", "Requests captioned together at most");
        Limit("max_image_bytes", options.MaxImageBytes, "By", "The largest image accepted; larger is 413");
        Limit("headers_timeout", options.HeadersTimeout.TotalSeconds, "s", "Time a client has to send its headers");
        Limit("body_timeout", options.BodyGrace.TotalSeconds, "s", "Time a body may take before the minimum rate applies");
        Limit("min_body_rate", options.MinBodyBytesPerSecond, "By/s", "Slowest body accepted after the body timeout");
    }

    public void Request(string route, int status, TimeSpan elapsed)
    {
        var tags = new KeyValuePair<string, object?>[] { new("route", route), new("status", status) };
        _requests.Add(1, tags);
        _latency.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("route", route));
    }

    public void Pass(int size, TimeSpan elapsed)
    {
        _batches.Add(1);
        _batchSize.Record(size);
        _batchSeconds.Record(elapsed.TotalSeconds);
    }

    public void Abandoned() => _abandoned.Add(1);

    public void RateLimited() => _rateLimited.Add(1);

    private void Limit(string name, double value, string unit, string description) =>
        _meter.CreateObservableGauge("glance.limit." + name, () => value, unit, description);

    public void Dispose() => _meter.Dispose();
}
