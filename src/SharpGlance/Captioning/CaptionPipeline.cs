using SharpGlance.Generation;
using SharpGlance.Preprocessing;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>What <c>glance caption</c> asks for.</summary>
public sealed record CaptionRunOptions
{
    public GenerationOptions Generation { get; init; } = GenerationOptions.Paper;
    public int BatchSize { get; init; } = 8;
    /// <summary>0 = single pass; N ≥ 1 = N second glances (Sharp-Eyed Refinement).</summary>
    public int Rounds { get; init; }
    public string? Question { get; init; }
}

/// <summary>
/// One image's result: the final caption, the first glance's, each refinement round's — or why there is
/// none. <paramref name="Seconds"/> is the image's share of its batch's wall time (decoding, the tower and
/// every glance, divided equally among the batch's images); null for an image that could not be read.
/// </summary>
public sealed record ImageCaption(string Image, string? Caption, string? Initial, IReadOnlyList<string> Rounds, string? Error, double? Seconds = null)
{
    public bool Ok => Error is null;
}

/// <summary>Wall time of one batch's stages: preprocessing and the tower, the first glance, every second glance together.</summary>
public sealed class CaptionStageTimes
{
    public TimeSpan Tower { get; set; }
    public TimeSpan FirstGlance { get; set; }
    public TimeSpan SecondGlance { get; set; }
}

/// <summary>
/// Captions image files in batches: decode and preprocess (a bad file becomes that image's error, the
/// others go on), run the tower once per batch, first glance, then the requested second glances.
/// </summary>
public static class CaptionPipeline
{
    public static IEnumerable<ImageCaption> Run(ICaptionModel captioner, IReadOnlyList<string> paths, CaptionRunOptions options, IProgress<ProgressUpdate>? progress = null)
    {
        if (options.BatchSize < 1) throw new GlanceException($"--batch must be at least 1 (got {options.BatchSize})");
        if (options.Rounds > 0 && !captioner.CanRefine)
            throw new GlanceException("refinement needs a captioner with DeepLens (this one is single-pass)");
        int done = 0;
        foreach (var chunk in paths.Chunk(options.BatchSize))
        {
            // The whole batch is captioned before any of it is yielded, so the time the caller spends
            // between items is not counted.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var results = new List<ImageCaption>(chunk.Length);
            var images = new List<(string Path, RgbImage Image)>();
            foreach (var path in chunk)
            {
                RgbImage? image = null;
                string? error = null;
                try
                {
                    image = RgbImage.FromFile(path);
                    // Before batching: one image the resize cannot take must not stop the others.
                    captioner.CheckImage(image);
                }
                catch (GlanceException e) { image = null; error = e.Message; }
                if (image is null) results.Add(new ImageCaption(path, null, null, [], error));
                else images.Add((path, image));
            }
            if (images.Count > 0)
            {
                var captions = captioner.CaptionImages(images.Select(i => i.Image).ToList(), options);
                double share = clock.Elapsed.TotalSeconds / images.Count;
                results.AddRange(captions.Zip(images, (r, i) => r with { Image = i.Path, Seconds = share }));
            }
            done += chunk.Length;
            progress?.Report(new ProgressUpdate(done, paths.Count));
            foreach (var r in results) yield return r;
        }
    }

    /// <summary>Captions decoded images (one batch); <paramref name="stages"/>, when given, receives each stage's wall time.</summary>
    public static IReadOnlyList<ImageCaption> CaptionImages(Captioner captioner, IReadOnlyList<RgbImage> images, CaptionRunOptions options, CaptionStageTimes? stages = null)
    {
        using var _ = no_grad();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var pixels = captioner.Pixels(images);
        using var features = captioner.Encode(pixels);
        if (stages is not null) stages.Tower = clock.Elapsed;
        var initial = FirstGlance.Caption(captioner, features, options.Generation, options.Question);
        if (stages is not null) stages.FirstGlance = clock.Elapsed - stages.Tower;
        if (options.Rounds == 0)
            return initial.Select(c => new ImageCaption("", c, null, [], null)).ToList();
        var rounds = Refinement.Rounds(captioner, features, initial, options.Rounds, options.Generation);
        if (stages is not null) stages.SecondGlance = clock.Elapsed - stages.Tower - stages.FirstGlance;
        return Enumerable.Range(0, images.Count)
            .Select(i => new ImageCaption("", rounds[^1][i], initial[i], rounds.Select(r => r[i]).ToList(), null))
            .ToList();
    }
}
