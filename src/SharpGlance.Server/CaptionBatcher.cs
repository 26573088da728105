using System.Diagnostics;
using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.Preprocessing;

namespace SharpGlance.Server;

/// <summary>How one request wants its caption; requests with equal settings can share a batch.</summary>
public sealed record CaptionSettings(int Rounds, int Beams, int MaxNewTokens)
{
    public const int DefaultBeams = 3, DefaultMaxNewTokens = 77, MaxRounds = 8;

    /// <summary>The options <c>glance caption</c> would use for the same flags (the paper's decoding, <c>--beams</c>, <c>--max-new-tokens</c>).</summary>
    public CaptionRunOptions ToRunOptions() => new()
    {
        Generation = GenerationOptions.Paper with { NumBeams = Beams, MaxNewTokens = MaxNewTokens },
        Rounds = Rounds,
    };

    /// <summary>Checks the settings against the loaded captioner; throws a <see cref="GlanceException"/> naming the bad option.</summary>
    public CaptionSettings Validate(ICaptionModel captioner)
    {
        if (Rounds is < 0 or > MaxRounds) throw new GlanceException($"rounds must be 0 to {MaxRounds} (got {Rounds})");
        if (Rounds > 0 && !captioner.CanRefine)
            throw new GlanceException("refinement needs a captioner with DeepLens (this model has only the first glance)");
        ToRunOptions().Generation.Validate(captioner.VocabSize);
        return this;
    }
}

/// <summary>Wall times of the pass that captioned a request, in milliseconds, and which pass it was.</summary>
public sealed record CaptionTimings(double QueueMs, double TowerMs, double FirstGlanceMs, double SecondGlanceMs, double BatchMs, int BatchSize, long Batch);

/// <summary>One request's caption and how it was made.</summary>
public sealed record CaptionAnswer(ImageCaption Caption, CaptionTimings Timings);

/// <summary>
/// Dynamic batching: requests wait in one bounded queue; a dedicated inference thread takes the oldest
/// request and every later one with the same settings, up to <see cref="ServeOptions.MaxBatch"/>, waiting at
/// most <see cref="ServeOptions.MaxWaitMs"/> after the oldest arrived for more to join, and captions them in
/// one <see cref="CaptionPipeline.CaptionImages"/> call (the tower runs once per pass). A request whose
/// client goes away is taken out of the queue. One thread, because libtorch's intra-op pool already uses
/// every core: two passes at once would only contend.
/// </summary>
internal sealed class CaptionBatcher : IDisposable
{
    private sealed class Job(RgbImage image, CaptionSettings settings)
    {
        public RgbImage Image { get; } = image;
        public CaptionSettings Settings { get; } = settings;
        public long Enqueued { get; } = Stopwatch.GetTimestamp();
        public TaskCompletionSource<CaptionAnswer> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public LinkedListNode<Job>? Node { get; set; }
        public CancellationTokenRegistration Cancel { get; set; }
    }

    private readonly ICaptionModel _captioner;
    private readonly ServeOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly object _gate = new();
    private readonly LinkedList<Job> _queue = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _draining, _held;
    private long _passes, _images;
    private volatile float _lastPassSeconds = 1;

    public CaptionBatcher(ICaptionModel captioner, ServeOptions options, ServerMetrics metrics)
    {
        _captioner = captioner;
        _options = options;
        _metrics = metrics;
        _thread = new Thread(Loop) { Name = "glance-inference", IsBackground = true };
    }

    /// <summary>True once the model has captioned a warm-up image (the first pass pays libtorch's one-time costs).</summary>
    public bool Ready { get; private set; }
    public bool Draining { get { lock (_gate) return _draining; } }
    public int Depth { get { lock (_gate) return _queue.Count; } }
    /// <summary>Batched passes run so far (each runs the tower once).</summary>
    public long Passes => Interlocked.Read(ref _passes);
    /// <summary>Images captioned so far.</summary>
    public long Images => Interlocked.Read(ref _images);

    public void Start() => _thread.Start();

    /// <summary>
    /// Queues an image; null when the queue is full or the server is draining (answer 503). The task ends
    /// with the caption, with the pass's exception, or cancelled when <paramref name="aborted"/> fires first.
    /// </summary>
    public Task<CaptionAnswer>? TrySubmit(RgbImage image, CaptionSettings settings, CancellationToken aborted)
    {
        var job = new Job(image, settings);
        lock (_gate)
        {
            if (_draining || _queue.Count >= _options.QueueCapacity) return null;
            job.Node = _queue.AddLast(job);
            Monitor.PulseAll(_gate);
        }
        // Outside the lock: Register runs the callback at once when the token has already fired.
        job.Cancel = aborted.Register(() => Leave(job));
        return job.Done.Task;
    }

    /// <summary>Seconds a refused client should wait: the passes needed to empty the queue at the last pass's speed.</summary>
    public int RetryAfterSeconds()
    {
        int depth = Depth;
        double passes = Math.Ceiling((depth + 1.0) / _options.MaxBatch);
        return (int)Math.Clamp(Math.Ceiling(passes * _lastPassSeconds), 1, 3600);
    }

    /// <summary>A disconnected client's request leaves the queue (if no pass has taken it yet).</summary>
    private void Leave(Job job)
    {
        lock (_gate)
        {
            if (job.Node?.List is null) return;
            _queue.Remove(job.Node);
        }
        _metrics.Abandoned();
        job.Done.TrySetCanceled();
    }

    /// <summary>Stops taking requests (they get 503) and completes when every queued one has been answered.</summary>
    public Task DrainAsync()
    {
        lock (_gate)
        {
            _draining = true;
            Monitor.PulseAll(_gate);
        }
        if (_thread.ThreadState.HasFlag(System.Threading.ThreadState.Unstarted)) _stopped.TrySetResult();
        return _stopped.Task;
    }

    /// <summary>For tests: while held, the loop takes nothing from the queue.</summary>
    internal IDisposable Hold()
    {
        lock (_gate) _held = true;
        return new Release(this);
    }

    private sealed class Release(CaptionBatcher owner) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._gate)
            {
                owner._held = false;
                Monitor.PulseAll(owner._gate);
            }
        }
    }

    private void Loop()
    {
        try
        {
            WarmUp();
            while (Take() is { Count: > 0 } batch) Caption(batch);
        }
        finally { _stopped.TrySetResult(); }
    }

    private void WarmUp()
    {
        var image = RgbImage.Filled(32, 32, 127, 127, 127);
        var settings = new CaptionSettings(_captioner.CanRefine ? 1 : 0, 1, 4);
        _captioner.CaptionImages([image], settings.ToRunOptions());
        Ready = true;
    }

    /// <summary>The next batch: blocks until a request waits, then gathers same-settings requests until the batch is full or the oldest has waited <see cref="ServeOptions.MaxWaitMs"/>. Empty when drained.</summary>
    private List<Job> Take()
    {
        lock (_gate)
        {
            while (true)
            {
                while (_held || _queue.Count == 0)
                {
                    if (_draining && !_held && _queue.Count == 0) return [];
                    Monitor.Wait(_gate);
                }
                var oldest = _queue.First!.Value;
                long deadline = oldest.Enqueued + (long)(_options.MaxWaitMs / 1000.0 * Stopwatch.Frequency);
                while (!_draining && oldest.Node?.List is not null && Matching(oldest.Settings) < _options.MaxBatch)
                {
                    long left = deadline - Stopwatch.GetTimestamp();
                    if (left <= 0) break;
                    Monitor.Wait(_gate, TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
                }
                if (_queue.First is null) continue;   // every waiting client left
                var settings = _queue.First.Value.Settings;
                var batch = new List<Job>();
                for (var node = _queue.First; node is not null && batch.Count < _options.MaxBatch;)
                {
                    var next = node.Next;
                    if (node.Value.Settings == settings)
                    {
                        _queue.Remove(node);
                        batch.Add(node.Value);
                    }
                    node = next;
                }
                return batch;
            }
        }
    }

    private int Matching(CaptionSettings settings)
    {
        int n = 0;
        foreach (var job in _queue) if (job.Settings == settings) n++;
        return n;
    }

    private void Caption(List<Job> batch)
    {
        long start = Stopwatch.GetTimestamp();
        long pass = Interlocked.Increment(ref _passes);
        try
        {
            var stages = new CaptionStageTimes();
            var captions = _captioner.CaptionImages(batch.Select(j => j.Image).ToList(), batch[0].Settings.ToRunOptions(), stages);
            var elapsed = Stopwatch.GetElapsedTime(start);
            _lastPassSeconds = (float)elapsed.TotalSeconds;
            Interlocked.Add(ref _images, batch.Count);
            _metrics.Pass(batch.Count, elapsed);
            for (int i = 0; i < batch.Count; i++)
            {
                var job = batch[i];
                job.Cancel.Dispose();
                var timings = new CaptionTimings(
                    Math.Round(Stopwatch.GetElapsedTime(job.Enqueued, start).TotalMilliseconds, 1),
                    Math.Round(stages.Tower.TotalMilliseconds, 1), Math.Round(stages.FirstGlance.TotalMilliseconds, 1),
                    Math.Round(stages.SecondGlance.TotalMilliseconds, 1), Math.Round(elapsed.TotalMilliseconds, 1), batch.Count, pass);
                job.Done.TrySetResult(new CaptionAnswer(captions[i], timings));
            }
        }
        catch (Exception e)
        {
            // One pass failing answers its requests with the error; the loop and the other requests go on.
            foreach (var job in batch)
            {
                job.Cancel.Dispose();
                job.Done.TrySetException(e);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _draining = true;
            _held = false;
            Monitor.PulseAll(_gate);
        }
        if (_thread.IsAlive) _thread.Join();
    }
}
