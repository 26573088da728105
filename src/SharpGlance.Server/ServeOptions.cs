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
    }
}
