namespace SharpGlance.Server;

/// <summary>What <c>glance serve</c> is started with.</summary>
public sealed record ServeOptions
{
    /// <summary>The captioner folder.</summary>
    public required string ModelFolder { get; init; }
    /// <summary>The model's id in answers and in <c>/v1/models</c>.</summary>
    public required string ModelId { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (see <see cref="GlanceServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Requests captioned together in one pass at most.</summary>
    public int MaxBatch { get; init; } = 8;
    /// <summary>How long the oldest waiting request waits for others to join its batch.</summary>
    public int MaxWaitMs { get; init; } = 20;
    /// <summary>Requests waiting at most; one more is answered 503 with Retry-After.</summary>
    public int QueueCapacity { get; init; } = 64;
    /// <summary>The largest encoded image accepted (a chat request may carry its base64, 4/3 of it); larger is 413.</summary>
    public long MaxImageBytes { get; init; } = 20 << 20;
    /// <summary>The most pixels an image may declare in its header; more is refused before it is decoded.</summary>
    public long MaxPixels { get; init; } = 40_000_000;
    /// <summary>Inference precision; fp32 unless asked (the CLI's <c>--precision</c> defaults to auto).</summary>
    public SharpGlance.Runtime.Precision Precision { get; init; } = SharpGlance.Runtime.Precision.Fp32;
    /// <summary>How long SIGTERM waits for the queue to drain.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Keys every <c>/v1/*</c> request must present as <c>Authorization: Bearer KEY</c>; none: the API is open.</summary>
    public ApiKeys ApiKeys { get; init; } = ApiKeys.None;
    /// <summary>With keys: <c>/metrics</c> needs one too (<c>/healthz</c> and <c>/readyz</c> stay open for probes).</summary>
    public bool MetricsNeedKey { get; init; }
    /// <summary>
    /// Each client's token bucket (a client is its key, or its address when there are no keys): it holds
    /// <see cref="ClientBurst"/> requests and refills at <see cref="ClientRate"/> a second; an empty bucket is
    /// 429 with Retry-After. 0 turns the limit off.
    /// </summary>
    public double ClientRate { get; init; } = 8;
    public int ClientBurst { get; init; } = 32;
    /// <summary>A client must have sent its request line and headers within this; else the connection is closed.</summary>
    public TimeSpan HeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>After <see cref="BodyGrace"/>, a body arriving slower than this many bytes a second is cut off (408, connection closed).</summary>
    public double MinBodyBytesPerSecond { get; init; } = 1024;
    public TimeSpan BodyGrace { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>An idle keep-alive connection is closed after this.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>True when <see cref="Host"/> is a loopback address (only this machine can connect).</summary>
    public bool Loopback => Host == "localhost" || (System.Net.IPAddress.TryParse(Host, out var ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <summary>The line to print when the server can be reached from other machines and anyone there could use it; null otherwise.</summary>
    public string? ExposureWarning() => Loopback || ApiKeys.Count > 0 ? null
        : $"warning: listening on {Host} without an API key: anyone who can reach port {Port} can use the API (set GLANCE_API_KEY or --api-key-file)";

    /// <summary>Throws a <see cref="GlanceException"/> naming the bad option.</summary>
    public void Validate()
    {
        if (Host != "localhost" && !System.Net.IPAddress.TryParse(Host, out _))
            throw new GlanceException($"--host must be an IP address such as 127.0.0.1 or 0.0.0.0, or localhost (got \"{Host}\")");
        if (Port is < 0 or > 65535) throw new GlanceException($"--port must be 0 to 65535 (got {Port})");
        if (MaxBatch is < 1 or > 256) throw new GlanceException($"--max-batch must be 1 to 256 (got {MaxBatch})");
        if (MaxWaitMs is < 0 or > 60_000) throw new GlanceException($"--max-wait-ms must be 0 to 60000 (got {MaxWaitMs})");
        if (QueueCapacity is < 1 or > 100_000) throw new GlanceException($"--queue must be 1 to 100000 (got {QueueCapacity})");
        if (MaxImageBytes < 1) throw new GlanceException($"the image size limit must be positive (got {MaxImageBytes})");
        if (MaxPixels < 1) throw new GlanceException($"--max-pixels must be positive (got {MaxPixels})");
        if (!(ClientRate is >= 0 and <= 1_000_000)) throw new GlanceException($"--client-rate must be 0 (off) to 1000000 requests a second (got {ClientRate})");
        if (ClientBurst is < 1 or > 1_000_000) throw new GlanceException($"--client-burst must be 1 to 1000000 (got {ClientBurst})");
        if (HeadersTimeout <= TimeSpan.Zero || HeadersTimeout > TimeSpan.FromHours(1)) throw new GlanceException($"--headers-timeout must be above 0 and at most 3600 seconds (got {HeadersTimeout.TotalSeconds})");
        // Kestrel's own floor: a grace period of 1 s or less is refused.
        if (BodyGrace <= TimeSpan.FromSeconds(1) || BodyGrace > TimeSpan.FromHours(1)) throw new GlanceException($"--body-timeout must be above 1 and at most 3600 seconds (got {BodyGrace.TotalSeconds})");
        if (!(MinBodyBytesPerSecond is >= 1 and <= 1e9)) throw new GlanceException($"--min-body-rate must be 1 to 1e9 bytes a second (got {MinBodyBytesPerSecond})");
        if (KeepAliveTimeout <= TimeSpan.Zero) throw new GlanceException($"the keep-alive timeout must be positive (got {KeepAliveTimeout.TotalSeconds} s)");
        if (MetricsNeedKey && ApiKeys.Count == 0) throw new GlanceException("--metrics-need-key needs an API key (--api-key-file, GLANCE_API_KEY or --api-key)");
    }
}
