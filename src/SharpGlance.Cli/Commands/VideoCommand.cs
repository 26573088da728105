using System.CommandLine;
using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Runtime;
using SharpGlance.Video;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance video FILE</c>: samples a video's frames through ffmpeg (<c>--every</c> or <c>--fps</c>; by default
/// one a second, LLoVi's setting), captions them in batches like <c>glance caption</c>, and writes the spans as
/// JSON (<c>[{start, end, caption}]</c>, seconds) and optionally as SRT/WebVTT subtitles.
/// </summary>
public static class VideoCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Captioner folder or Hugging Face name org/name[@revision] in the hub cache (default: the embedded model)" };
        var vision = new Option<string?>("--vision") { Description = "CLIP folder or hub name to use as the vision tower" };
        var every = new Option<string?>("--every") { Description = $"Seconds between sampled frames: 2s, 2, 0.5s, 500ms (default {VideoCaptionOptions.DefaultInterval:0.#}s: one frame a second, LLoVi's setting for EgoSchema)" };
        var fps = new Option<double?>("--fps") { Description = "Frames sampled per second (instead of --every)" };
        var beams = new Option<int>("--beams") { Description = $"Beam width (1 = greedy; at most {GenerationOptions.MaxBeams})", DefaultValueFactory = _ => 3 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = $"New tokens at most (1 to {GenerationOptions.MaxTokens})", DefaultValueFactory = _ => 77 };
        var batch = new Option<int>("--batch") { Description = "Frames per batch", DefaultValueFactory = _ => 8 };
        var refine = new Option<bool>("--refine") { Description = "Take a second glance (Sharp-Eyed Refinement) at every frame" };
        var merge = new Option<bool>("--merge") { Description = "Merge consecutive spans with the same caption into one" };
        var output = new Option<string?>("--out") { Description = "Write the JSON here (written whole at the end, through a temporary file) instead of stdout" };
        var srt = new Option<string?>("--srt") { Description = "Also write SubRip subtitles (.srt) here" };
        var vtt = new Option<string?>("--vtt") { Description = "Also write WebVTT subtitles (.vtt) here" };
        var device = new Option<string>("--device") { Description = "cpu (this build has no CUDA: it is built on TorchSharp-cpu)", DefaultValueFactory = _ => "cpu" };
        var gemm = GemmChoice.Option();
        var precision = PrecisionChoice.Option();
        var file = new Argument<string>("file") { Description = "The video (anything ffmpeg decodes: MP4, MKV, WebM, MOV, …)" };

        var command = new Command("video", "Caption a video's frames: JSON spans {start, end, caption}, and SRT/WebVTT subtitles.")
        {
            model, vision, every, fps, beams, maxNew, batch, refine, merge, output, srt, vtt, device, gemm, precision, file,
        };
        command.SetAction(parseResult =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            string path = parseResult.GetValue(file)!;
            string? everyText = parseResult.GetValue(every);
            double? rate = parseResult.GetValue(fps);
            if (everyText is not null && rate is not null) throw new GlanceException("--every and --fps say the same thing: give one of them");
            if (rate is { } r && (!(r > 0) || double.IsInfinity(r))) throw new GlanceException($"--fps must be a positive number (got {r})");
            double interval = rate is { } f ? 1 / f : everyText is null ? VideoCaptionOptions.DefaultInterval : VideoCaptionOptions.ParseInterval(everyText);
            var generation = new GenerationOptions
            {
                NumBeams = parseResult.GetValue(beams),
                MaxNewTokens = parseResult.GetValue(maxNew),
                LengthPenalty = 0.0,
                EarlyStopping = EarlyStopping.True,
            };
            generation.Validate(int.MaxValue);
            var options = new VideoCaptionOptions
            {
                Interval = interval,
                Caption = new CaptionRunOptions { Generation = generation, BatchSize = parseResult.GetValue(batch), Rounds = parseResult.GetValue(refine) ? 1 : 0 },
            };
            // The video is probed before the model loads: a bad file is reported at once.
            VideoFile.Probe(path);
            using var captioner = DefaultModel.LoadForInference(parseResult.GetValue(model), parseResult.GetValue(vision), parseResult.GetValue(device)!,
                parseResult.GetValue(gemm), parseResult.GetValue(precision));
            using var interrupts = Interrupts.Listen();
            var result = CliProgress.Run("video", progress => VideoCaptioning.Run(captioner, path, options, progress, cancel: interrupts.Token));
            var spans = parseResult.GetValue(merge) ? CaptionSpans.Merge(result.Spans) : result.Spans;

            // What was captioned is written even when the stream ended early or the run was interrupted.
            string json = CaptionSpans.ToJson(spans);
            if (parseResult.GetValue(output) is { } outPath) AtomicFile.WriteAllText(outPath, json);
            else parseResult.InvocationConfiguration.Output.Write(json);
            if (parseResult.GetValue(srt) is { } srtPath) AtomicFile.WriteAllText(srtPath, CaptionSpans.ToSrt(spans));
            if (parseResult.GetValue(vtt) is { } vttPath) AtomicFile.WriteAllText(vttPath, CaptionSpans.ToVtt(spans));

            if (result.Cancelled)
                return interrupts.Report(error, result.Spans.Count == 0 ? "stopped before the first batch was captioned"
                    : $"stopped after {result.Spans.Count} frames; the captions up to {result.Spans[^1].End:0.###} s are written");
            if (result.EndedEarly is { } why)
            {
                error.WriteLine($"glance: error: {path}: the video stream ends early ({why}); the {result.Spans.Count} frames before are captioned and written");
                return 2;
            }
            return 0;
        });
        return command;
    }
}
