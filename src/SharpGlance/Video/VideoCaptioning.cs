using System.Globalization;
using System.Threading.Channels;
using SharpGlance.Captioning;

namespace SharpGlance.Video;

/// <summary>What <c>glance video</c> asks for: how often to sample, and how to caption each frame.</summary>
public sealed record VideoCaptionOptions
{
    /// <summary>
    /// LLoVi's setting for EgoSchema (CeeZh/LLoVi README: captions "at 1 FPS", one per 1-second clip, and
    /// <c>--fps 1.0 --caption_every 1</c> in util.py): one frame per second.
    /// </summary>
    public const double DefaultInterval = 1.0;

    /// <summary>Seconds between sampled frames; each frame's caption stands for that much video.</summary>
    public double Interval { get; init; } = DefaultInterval;
    public CaptionRunOptions Caption { get; init; } = new();

    /// <summary>
    /// <c>--every</c>'s value: seconds, plain (<c>2</c>, <c>0.5</c>) or with a unit (<c>2s</c>, <c>500ms</c>,
    /// <c>1m</c>). Must be positive.
    /// </summary>
    public static double ParseInterval(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (t.EndsWith("ms", StringComparison.Ordinal)) { scale = 0.001; t = t[..^2]; }
        else if (t.EndsWith('s')) t = t[..^1];
        else if (t.EndsWith('m')) { scale = 60; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value))
            throw new GlanceException($"--every '{text}': expected a positive duration such as 2s, 2, 0.5s or 500ms");
        return value * scale;
    }
}

/// <summary>
/// A captioned video: one span per sampled frame, in order (<see cref="CaptionSpans.Merge"/> joins repeats).
/// <see cref="EndedEarly"/> says why the stream stopped before its end, when it did; the spans before are kept.
/// </summary>
public sealed record VideoCaptions(VideoInfo Video, double Interval, IReadOnlyList<CaptionSpan> Spans, string? EndedEarly, bool Cancelled);

/// <summary>
/// <c>glance video</c>'s library side: sample a video's frames through ffmpeg (<see cref="VideoFile.Frames"/>),
/// caption them in batches with <see cref="CaptionPipeline.CaptionImages"/> — the same call <c>glance
/// caption</c> makes for a batch of decoded images — and give each caption its frame's span.
/// </summary>
public static class VideoCaptioning
{
    /// <param name="onSpan">Called with each span as its batch is captioned.</param>
    public static VideoCaptions Run(Captioner captioner, string path, VideoCaptionOptions options, IProgress<ProgressUpdate>? progress = null,
        Action<CaptionSpan>? onSpan = null, CancellationToken cancel = default)
    {
        var run = options.Caption;
        if (run.BatchSize < 1) throw new GlanceException($"--batch must be at least 1 (got {run.BatchSize})");
        if (run.Rounds > 0 && captioner.DeepLens is null)
            throw new GlanceException("refinement needs a captioner with DeepLens (this one is single-pass)");
        var video = VideoFile.Probe(path);
        // Every frame has the video's size: checked once, before anything is decoded.
        if ((long)video.Width * video.Height > Preprocessing.RgbImage.DefaultMaxPixels)
            throw GlanceException.ForFile(path, $"its {video.Width}×{video.Height} frames exceed the limit of {Preprocessing.RgbImage.DefaultMaxPixels:N0} pixels");
        try { captioner.ImageProcessor.CheckSize(new Preprocessing.RgbImage(video.Width, video.Height, new byte[checked(video.Width * video.Height * 3)]), captioner.Config.Aspect); }
        catch (GlanceException e) { throw GlanceException.ForFile(path, $"its {video.Width}×{video.Height} frames cannot be captioned ({e.Message})"); }

        double interval = options.Interval;
        // The fps filter's ticks up to the end (see VideoFile.Frames); only for the progress bar's total.
        long expected = video.Duration is { } d ? Math.Max(1, (long)Math.Ceiling(d / interval - 1e-9)) : 0;
        string? ended = null;
        var spans = new List<CaptionSpan>();
        // ffmpeg decodes the next batch while this one is captioned (its pipe alone holds less than one frame).
        var frames = Prefetch(VideoFile.Frames(video, interval, e => ended = e, cancel), run.BatchSize, cancel);
        foreach (var batch in frames.Chunk(run.BatchSize))
        {
            var captions = CaptionPipeline.CaptionImages(captioner, batch.Select(f => f.Image).ToList(), run);
            for (int i = 0; i < batch.Length; i++)
            {
                double start = batch[i].Start, end = (batch[i].Index + 1) * interval;
                if (video.Duration is { } duration) end = Math.Max(start, Math.Min(end, duration));
                var span = new CaptionSpan(start, end, captions[i].Caption!);
                spans.Add(span);
                onSpan?.Invoke(span);
            }
            progress?.Report(new ProgressUpdate(spans.Count, Math.Max(expected, spans.Count), $"up to {spans[^1].End:0.#} s"));
            if (cancel.IsCancellationRequested) break;
        }
        bool cancelled = cancel.IsCancellationRequested;
        if (!cancelled)
        {
            if (spans.Count == 0)
                throw GlanceException.ForFile(path, ended is null ? "no frame could be decoded" : $"no frame could be decoded: {ended}");
            // ffmpeg ends a cut-off Matroska or MPEG-TS stream without an error: what was decoded falls short of the
            // stream's duration (the spans of a whole stream reach it: the fps filter's eof_action=pass).
            if (ended is null && video.Duration is { } length && spans.Count * interval + Math.Max(0.5, interval / 2) < length)
                ended = $"frames stop at {spans[^1].End:0.###} s of {length:0.###} s";
        }
        return new VideoCaptions(video, interval, spans, cancelled ? null : ended, cancelled);
    }

    /// <summary>
    /// <paramref name="source"/> enumerated on a worker thread, at most <paramref name="capacity"/> items ahead of
    /// the caller; its exceptions surface in the caller. Leaving early stops the worker (and so disposes the
    /// source's enumerator, which ends ffmpeg) before this returns.
    /// </summary>
    internal static IEnumerable<T> Prefetch<T>(IEnumerable<T> source, int capacity, CancellationToken cancel)
    {
        var channel = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var worker = Task.Run(async () =>
        {
            try
            {
                foreach (var item in source)
                    await channel.Writer.WriteAsync(item, stop.Token).ConfigureAwait(false);
                channel.Writer.Complete();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { channel.Writer.TryComplete(); }
            catch (Exception e) { channel.Writer.TryComplete(e); }
        });
        try
        {
            while (channel.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                while (channel.Reader.TryRead(out var item))
                    yield return item;
        }
        finally
        {
            stop.Cancel();
            worker.GetAwaiter().GetResult();
        }
    }
}
