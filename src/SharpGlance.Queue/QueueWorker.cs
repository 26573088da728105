using System.Threading.Channels;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using SharpGlance.Captioning;
using SharpGlance.Preprocessing;

namespace SharpGlance.Queue;

/// <summary>What <c>glance worker</c> captions with.</summary>
public sealed record WorkerOptions
{
    public required string Broker { get; init; }
    /// <summary>Images per batch, and the prefetch: the broker hands a worker one batch at a time.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>How long a partial batch waits for more messages.</summary>
    public int MaxWaitMs { get; init; } = 200;
    public CaptionRunOptions Caption { get; init; } = new();
    /// <summary>Every this many images, a log line with the process's RSS and live tensor count (0: never).</summary>
    public int StatsEvery { get; init; } = 1000;
    /// <summary>The name results carry (default: host and process id).</summary>
    public string Name { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";
}

/// <summary>
/// <c>glance worker</c>: takes batches from <c>glance.work</c> and publishes one result per message, then
/// acks it. A result is published (and confirmed) before its message is acked, so a worker killed at any
/// point loses nothing: what it had not acked is delivered again, to it or another worker, and
/// <c>glance queue collect</c> drops the duplicate results this can make. An image that cannot be read
/// or decoded becomes an error result. A message whose captioning throws is returned to the queue; after
/// <see cref="QueueTopology.Attempts"/> deliveries the broker moves it to <c>glance.dead</c>. A message
/// that is not a work message goes there at once. A lost broker connection is retried every second.
/// </summary>
public sealed class QueueWorker(Captioner captioner, WorkerOptions options, Action<string>? log = null)
{
    private sealed record Delivery(ulong Tag, WorkMessage? Message);

    /// <summary>The captioning step; tests replace it to make an image fail every time.</summary>
    internal Func<IReadOnlyList<RgbImage>, IReadOnlyList<ImageCaption>> CaptionBatch { get; set; } =
        images => CaptionPipeline.CaptionImages(captioner, images, options.Caption);

    /// <summary>Result queues declared on this connection.</summary>
    private readonly HashSet<string> _declared = [];

    public long Captioned { get; private set; }

    public async Task RunAsync(CancellationToken stop)
    {
        if (options.BatchSize is < 1 or > 1000) throw new GlanceException($"--batch must be 1 to 1000 (got {options.BatchSize})");
        MallocArenas.Limit();
        bool connected = false;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await SessionAsync(stop, () => connected = true);
            }
            catch (Exception e) when (!stop.IsCancellationRequested && connected && e is GlanceException or AlreadyClosedException or OperationInterruptedException or IOException or ChannelClosedException or PublishException)
            {
                log?.Invoke($"worker: lost the broker ({e.Message.ReplaceLineEndings(" ")}); reconnecting");
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            if (!stop.IsCancellationRequested) await Task.Delay(1000, stop).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>One connection: consume and caption until it closes or <paramref name="stop"/> fires.</summary>
    private async Task SessionAsync(CancellationToken stop, Action connected)
    {
        await using var connection = await QueueTopology.ConnectAsync(options.Broker, "glance-worker " + options.Name, stop);
        await using var channel = await QueueTopology.ConfirmingChannelAsync(connection, stop);
        await QueueTopology.DeclareAsync(channel, cancel: stop);
        _declared.Clear();
        await channel.BasicQosAsync(0, (ushort)Math.Min(options.BatchSize, ushort.MaxValue), global: false, stop);
        connected();
        // Deliveries wait here for the loop; a closed channel ends the reader, and whatever it still holds
        // is not acked, so the broker delivers it again.
        var inbox = System.Threading.Channels.Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleReader = true });
        channel.ChannelShutdownAsync += (_, e) =>
        {
            inbox.Writer.TryComplete(new AlreadyClosedException(e));
            return Task.CompletedTask;
        };
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, e) =>
        {
            // The body's buffer is reused once this returns: copy it.
            inbox.Writer.TryWrite(new Delivery(e.DeliveryTag, WorkMessage.Parse(e.BasicProperties, e.Body.ToArray())));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(QueueTopology.Work, autoAck: false, consumer, stop);
        log?.Invoke($"worker: {options.Name} consuming {QueueTopology.Work} in batches of {options.BatchSize}");
        while (!stop.IsCancellationRequested)
        {
            var batch = new List<Delivery> { await inbox.Reader.ReadAsync(stop) };
            using (var wait = CancellationTokenSource.CreateLinkedTokenSource(stop))
            {
                wait.CancelAfter(options.MaxWaitMs);
                try
                {
                    while (batch.Count < options.BatchSize && await inbox.Reader.WaitToReadAsync(wait.Token))
                        while (batch.Count < options.BatchSize && inbox.Reader.TryRead(out var more)) batch.Add(more);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested) { }
            }
            await ProcessAsync(channel, batch);
        }
    }

    private async Task ProcessAsync(IChannel channel, List<Delivery> batch)
    {
        var results = new List<(Delivery Delivery, ResultMessage Result)>();
        var images = new List<(Delivery Delivery, RgbImage Image)>();
        foreach (var d in batch)
        {
            if (d.Message is not { } m)
            {
                await channel.BasicRejectAsync(d.Tag, requeue: false);   // not ours: straight to glance.dead
                continue;
            }
            try
            {
                var image = m.Inline ? RgbImage.FromBytes(m.Body, m.Image) : RgbImage.FromFile(m.Path);
                captioner.ImageProcessor.CheckSize(image, captioner.Config.Aspect);
                images.Add((d, image));
            }
            catch (GlanceException e) { results.Add((d, Result(m, null, e.Message))); }
        }
        var failed = new List<Delivery>();
        if (images.Count > 0)
        {
            try
            {
                var captions = CaptionBatch(images.Select(i => i.Image).ToList());
                for (int i = 0; i < images.Count; i++) results.Add((images[i].Delivery, Result(images[i].Delivery.Message!, captions[i], null)));
            }
            catch (Exception) when (images.Count > 1)
            {
                // One bad image must not fail its batch-mates: each alone, and only those that fail alone go back.
                foreach (var (d, image) in images)
                {
                    try { results.Add((d, Result(d.Message!, CaptionBatch([image])[0], null))); }
                    catch (Exception e) { failed.Add(d); log?.Invoke($"worker: {d.Message!.Image}: {e.Message.ReplaceLineEndings(" ")}; returned to the queue"); }
                }
            }
            catch (Exception e)
            {
                failed.Add(images[0].Delivery);
                log?.Invoke($"worker: {images[0].Delivery.Message!.Image}: {e.Message.ReplaceLineEndings(" ")}; returned to the queue");
            }
        }
        // Confirmed results first, then the acks: a crash between the two repeats work, never loses it.
        foreach (var (_, result) in results)
        {
            var properties = new BasicProperties { Persistent = true, MessageId = $"{result.Job}/{result.Index}", ContentType = "application/json" };
            if (_declared.Add(result.Job)) await QueueTopology.DeclareResultsAsync(channel, result.Job);
            await channel.BasicPublishAsync("", QueueTopology.Results(result.Job), mandatory: true, properties, result.ToBytes());
        }
        foreach (var (d, _) in results) await channel.BasicAckAsync(d.Tag, multiple: false);
        foreach (var d in failed) await channel.BasicNackAsync(d.Tag, multiple: false, requeue: true);
        long before = Captioned;
        Captioned += results.Count;
        if (options.StatsEvery > 0 && Captioned / options.StatsEvery > before / options.StatsEvery)
            log?.Invoke($"worker: {Captioned:N0} images captioned; RSS {Environment.WorkingSet / 1048576.0:F0} MiB (managed heap {GC.GetTotalMemory(false) / 1048576.0:F0} MiB), {TorchSharp.torch.Tensor.TotalCount:N0} live tensors");
    }

    private ResultMessage Result(WorkMessage m, ImageCaption? caption, string? error) =>
        new(m.Job, m.Index, m.Total, m.Image, caption?.Caption, caption?.Initial, error ?? caption?.Error, options.Name);
}

/// <summary>
/// glibc gives each thread that allocates its own malloc arena, up to 8 per core. The worker's batches run on
/// whichever thread-pool thread the loop resumes on, so libtorch's buffers spread over more and more arenas,
/// each keeping freed memory: bench/soak-worker.sh measured RSS 347 → 373 MiB from 1,000 to 5,000 messages
/// with the managed heap and live tensors flat. Two arenas (what <c>MALLOC_ARENA_MAX=2</c> sets) kept it
/// flat (317 → 304 MiB). The server needs none of this: its passes all run on one thread.
/// </summary>
internal static class MallocArenas
{
    private const int ArenaMax = -8;   // glibc's M_ARENA_MAX

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    /// <summary>At most two arenas from now on, unless MALLOC_ARENA_MAX says otherwise; a no-op off glibc.</summary>
    public static void Limit()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null) return;
        try { MallOpt(ArenaMax, 2); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { }   // musl and other libcs
    }
}

