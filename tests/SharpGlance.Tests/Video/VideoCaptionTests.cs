using System.Diagnostics;
using System.Text.Json;
using SharpGlance.Captioning;
using SharpGlance.Cli.Commands;
using SharpGlance.Data.Synthetic;
using SharpGlance.Generation;
using SharpGlance.Preprocessing;
using SharpGlance.Tests.Data;
using SharpGlance.Video;

namespace SharpGlance.Tests.Video;

/// <summary>
/// An 8-second video made with ffmpeg from three synthetic-world scenes of the default model's world:
/// A for [0, 2) s, B for [2, 6) s, C for [6, 8) s, at 4 frames a second, encoded losslessly (FFV1 in
/// Matroska), so that a decoded frame is byte for byte its scene's PNG. The scenes are the first of the
/// world's test scenes whose greedy captions differ, so that a span's caption says which scene it saw.
/// </summary>
public sealed class SceneVideoFixture : IDisposable
{
    public const int SourceFps = 4;
    public string Dir { get; } = TempDir.Create("video");
    public string Video => Path.Combine(Dir, "scenes.mkv");
    /// <summary>The three scenes' PNGs, A, B, C.</summary>
    public IReadOnlyList<string> Scenes { get; } = [];
    private readonly string? _missing;

    public SceneVideoFixture()
    {
        if (!SynthWorldFixture.AssetsPresent) { _missing = "emoji font or CLDR annotations missing: run scripts/setup.sh"; return; }
        if (!OnPath("ffmpeg") || !OnPath("ffprobe")) { _missing = "ffmpeg missing: run scripts/setup.sh (Debian's ffmpeg package)"; return; }
        using var world = SyntheticWorld.Open(seed: 7, imageSize: 96, vocab: SynthVocab.Mini);
        using var captioner = Captioner.Load(DefaultModel.Folder, new CaptionerLoadOptions { TrimVision = true });
        var options = new CaptionRunOptions { Generation = GenerationOptions.Paper with { NumBeams = 1 } };
        var chosen = new List<string>();
        var captions = new HashSet<string>();
        for (int i = 0; chosen.Count < 3 && i < 20; i++)
        {
            string png = Path.Combine(Dir, $"scene{i}.png");
            File.WriteAllBytes(png, world.RenderPng(world.Item("test", i).Scene));
            string caption = CaptionPipeline.CaptionImages(captioner, [RgbImage.FromFile(png)], options)[0].Caption!;
            if (captions.Add(caption)) chosen.Add(png);
        }
        Assert.Equal(3, chosen.Count);
        Scenes = chosen;
        // Frame f shows A for f < 8, B for f < 24, C after: scene changes at 2 s and 6 s.
        for (int f = 0; f < 8 * SourceFps; f++)
            File.Copy(chosen[f < 2 * SourceFps ? 0 : f < 6 * SourceFps ? 1 : 2], Path.Combine(Dir, $"frame{f:000}.png"));
        Ffmpeg("-framerate", $"{SourceFps}", "-i", Path.Combine(Dir, "frame%03d.png"), "-c:v", "ffv1", "-pix_fmt", "bgr0", Video);
    }

    /// <summary>The fixture, or a skip/failure saying what is missing.</summary>
    public SceneVideoFixture Require()
    {
        if (_missing?.StartsWith("emoji", StringComparison.Ordinal) == true) Assert.Skip(_missing);
        if (_missing is not null) Assert.Fail(_missing);
        return this;
    }

    public static void Ffmpeg(params string[] args)
    {
        var start = new ProcessStartInfo("ffmpeg", ["-nostdin", "-v", "error", "-y", .. args]) { RedirectStandardError = true };
        using var p = Process.Start(start)!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"ffmpeg failed: {error}");
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

public class VideoCaptionTests(SceneVideoFixture fixture) : IClassFixture<SceneVideoFixture>
{
    private static List<CaptionSpan> Spans(string json) => JsonSerializer.Deserialize<List<CaptionSpan>>(json)!;

    /// <summary><c>glance caption --json</c>'s captions of these images, in order.</summary>
    private static List<string> CaptionCli(params string[] args)
    {
        var (code, output, error) = GlanceCli.Run(["caption", "--json", .. args]);
        Assert.True(code == 0, error);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("caption").GetString()!).ToList();
    }

    private (string A, string B, string C) Scenes()
    {
        var f = fixture.Require();
        return (f.Scenes[0], f.Scenes[1], f.Scenes[2]);
    }

    [Fact]
    public void Probe_reads_size_and_duration()
    {
        Scenes();
        var info = VideoFile.Probe(fixture.Video);
        Assert.Equal((96, 96), (info.Width, info.Height));
        Assert.NotNull(info.Duration);
        Assert.Equal(8.0, info.Duration!.Value, 3);
    }

    [Theory]
    [InlineData(2.0, "ABBC")]
    [InlineData(1.0, "AABBBBCC")]
    [InlineData(4.0, "AB")]        // ticks 0 and 4 s show the frames on screen just before 2 s and 6 s, the spans' middles
    [InlineData(0.5, "AAAABBBBBBBBCCCC")]
    [InlineData(6.0, "BC")]        // the tail [6, 8) is shorter than half an interval: it gets the last frame
    [InlineData(20.0, "C")]        // so does a video shorter than half an interval
    public void Frames_are_the_sources_pixels_just_before_the_middle_of_each_span(double interval, string expected)
    {
        var (a, b, c) = Scenes();
        var scenes = new Dictionary<char, byte[]> { ['A'] = RgbImage.FromFile(a).Pixels, ['B'] = RgbImage.FromFile(b).Pixels, ['C'] = RgbImage.FromFile(c).Pixels };
        string? ended = "not called";
        var frames = VideoFile.Frames(VideoFile.Probe(fixture.Video), interval, e => ended = e, TestContext.Current.CancellationToken).ToList();
        Assert.Null(ended);
        Assert.Equal(expected.Length, frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.Equal(i, frames[i].Index);
            Assert.Equal(i * interval, frames[i].Start, 9);
            // Lossless: the decoded frame is exactly its scene's PNG, so its caption must be glance caption's.
            Assert.True(scenes[expected[i]].AsSpan().SequenceEqual(frames[i].Image.Pixels), $"frame {i} at {frames[i].Start} s is not scene {expected[i]}");
        }
    }

    [Fact]
    public void Spans_and_captions_match_glance_caption_on_the_same_frames()
    {
        var (a, b, c) = Scenes();
        var (code, output, error) = GlanceCli.Run("video", "--every", "2s", "--beams", "1", "--batch", "3", fixture.Video);
        Assert.True(code == 0, error);
        var spans = Spans(output);
        Assert.Equal([(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0)], spans.Select(s => (s.Start, s.End)));
        // The same images in the same batches ([A B B] [C]) through glance caption.
        Assert.Equal(CaptionCli("--beams", "1", "--batch", "3", a, b, b, c), spans.Select(s => s.Caption));
        Assert.Equal(3, spans.Select(s => s.Caption).Distinct().Count());
    }

    [Fact]
    public void Fps_and_the_default_beams_match_glance_caption_too()
    {
        var (a, b, c) = Scenes();
        var (code, output, error) = GlanceCli.Run("video", "--fps", "1", fixture.Video);
        Assert.True(code == 0, error);
        var spans = Spans(output);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => ((double)i, i + 1.0)), spans.Select(s => (s.Start, s.End)));
        Assert.Equal(CaptionCli(a, a, b, b, b, b, c, c), spans.Select(s => s.Caption));
    }

    [Fact]
    public void Refine_takes_the_second_glance_like_glance_caption()
    {
        var (a, b, c) = Scenes();
        var (code, output, error) = GlanceCli.Run("video", "--every", "2", "--beams", "1", "--refine", fixture.Video);
        Assert.True(code == 0, error);
        Assert.Equal(CaptionCli("--beams", "1", "--refine", a, b, b, c), Spans(output).Select(s => s.Caption));
    }

    [Fact]
    public void The_last_span_ends_at_the_end_of_the_video()
    {
        var (_, b, c) = Scenes();
        var (code, output, error) = GlanceCli.Run("video", "--every", "6s", "--beams", "1", fixture.Video);
        Assert.True(code == 0, error);
        var spans = Spans(output);
        Assert.Equal([(0.0, 6.0), (6.0, 8.0)], spans.Select(s => (s.Start, s.End)));
        Assert.Equal(CaptionCli("--beams", "1", b, c), spans.Select(s => s.Caption));

        // A video shorter than half the interval is one span, of its length.
        string shortVideo = Path.Combine(TempDir.Create("video-short"), "short.mkv");
        SceneVideoFixture.Ffmpeg("-i", fixture.Video, "-t", "0.5", "-c:v", "ffv1", shortVideo);
        (code, output, error) = GlanceCli.Run("video", "--beams", "1", shortVideo);
        Assert.True(code == 0, error);
        var only = Assert.Single(Spans(output));
        Assert.Equal((0.0, 0.5), (only.Start, only.End));
    }

    [Fact]
    public void Merge_joins_consecutive_identical_captions_into_one_span()
    {
        Scenes();
        var (_, plain, _) = GlanceCli.Run("video", "--every", "1s", "--beams", "1", fixture.Video);
        var (code, output, error) = GlanceCli.Run("video", "--every", "1s", "--beams", "1", "--merge", fixture.Video);
        Assert.True(code == 0, error);
        var each = Spans(plain);
        var merged = Spans(output);
        Assert.Equal([(0.0, 2.0), (2.0, 6.0), (6.0, 8.0)], merged.Select(s => (s.Start, s.End)));
        Assert.Equal([each[0].Caption, each[2].Caption, each[6].Caption], merged.Select(s => s.Caption));
    }

    [Fact]
    public void Merge_joins_only_neighbours()
    {
        var spans = new CaptionSpan[] { new(0, 1, "x"), new(1, 2, "x"), new(2, 3, "y"), new(3, 4, "x"), new(4, 4.5, "x") };
        Assert.Equal([new CaptionSpan(0, 2, "x"), new CaptionSpan(2, 3, "y"), new CaptionSpan(3, 4.5, "x")], CaptionSpans.Merge(spans));
        Assert.Empty(CaptionSpans.Merge([]));
    }

    [Fact]
    public void Out_srt_and_vtt_files_are_written_exactly()
    {
        Scenes();
        string dir = TempDir.Create("video-out");
        string json = Path.Combine(dir, "captions.json"), srt = Path.Combine(dir, "sub", "captions.srt"), vtt = Path.Combine(dir, "captions.vtt");
        var (code, output, error) = GlanceCli.Run("video", "--every", "2s", "--beams", "1", "--merge", "--out", json, "--srt", srt, "--vtt", vtt, fixture.Video);
        Assert.True(code == 0, error);
        Assert.Equal("", output);   // the JSON went to --out
        var spans = Spans(File.ReadAllText(json));
        Assert.Equal(3, spans.Count);
        string[] c = spans.Select(s => s.Caption).ToArray();
        Assert.Equal(
            $"1\n00:00:00,000 --> 00:00:02,000\n{c[0]}\n\n" +
            $"2\n00:00:02,000 --> 00:00:06,000\n{c[1]}\n\n" +
            $"3\n00:00:06,000 --> 00:00:08,000\n{c[2]}\n\n", File.ReadAllText(srt));
        Assert.Equal(
            $"WEBVTT\n\n" +
            $"00:00:00.000 --> 00:00:02.000\n{c[0]}\n\n" +
            $"00:00:02.000 --> 00:00:06.000\n{c[1]}\n\n" +
            $"00:00:06.000 --> 00:00:08.000\n{c[2]}\n\n", File.ReadAllText(vtt));
        // Through a temporary sibling and a rename: nothing else is left beside the outputs.
        Assert.Equal(["captions.json", "captions.vtt", "sub"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["captions.srt"], Directory.EnumerateFiles(Path.Combine(dir, "sub")).Select(Path.GetFileName));
    }

    [Fact]
    public void Subtitle_timestamps_and_text_follow_the_formats()
    {
        Assert.Equal("01:01:01,500", CaptionSpans.Timestamp(3661.5, ','));
        Assert.Equal("00:00:00.001", CaptionSpans.Timestamp(0.0006, '.'));
        Assert.Equal("27:46:40.000", CaptionSpans.Timestamp(100_000, '.'));
        CaptionSpan[] spans = [new(0.25, 1.333333, "a <b> & c\n\nd")];
        Assert.Equal("1\n00:00:00,250 --> 00:00:01,333\na <b> & c d\n\n", CaptionSpans.ToSrt(spans));
        Assert.Equal("WEBVTT\n\n00:00:00.250 --> 00:00:01.333\na &lt;b&gt; &amp; c d\n\n", CaptionSpans.ToVtt(spans));
        Assert.Equal(1.333, Spans(CaptionSpans.ToJson(spans))[0].End);
    }

    [Theory]
    [InlineData("2s", 2.0)]
    [InlineData("2", 2.0)]
    [InlineData("0.5s", 0.5)]
    [InlineData("500ms", 0.5)]
    [InlineData("1m", 60.0)]
    [InlineData(" 1.5S ", 1.5)]
    public void Every_takes_seconds_with_or_without_a_unit(string text, double seconds) =>
        Assert.Equal(seconds, VideoCaptionOptions.ParseInterval(text), 9);

    [Theory]
    [InlineData("0s")]
    [InlineData("-2")]
    [InlineData("two seconds")]
    [InlineData("")]
    public void Every_refuses_what_is_not_a_positive_duration(string text)
    {
        var e = Assert.Throws<GlanceException>(() => VideoCaptionOptions.ParseInterval(text));
        Assert.Contains("--every", e.Message);
    }

    [Fact]
    public void Every_and_fps_together_are_refused()
    {
        var (code, _, error) = GlanceCli.RunReported("video", "--every", "2", "--fps", "1", "x.mkv");
        Assert.Equal(2, code);
        Assert.Contains("--every and --fps", error);
    }

    /// <summary>Asserts one "glance: error: FILE: …" line, exit code 2, nothing on stdout; returns the line.</summary>
    private static string OneErrorLine(string file)
    {
        var (code, output, error) = GlanceCli.RunReported("video", "--beams", "1", file);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('[')).ToList();   // [time] progress lines aside
        var line = Assert.Single(lines);
        Assert.StartsWith($"glance: error: {file}: ", line);
        Assert.DoesNotContain(" at ", line);
        return line;
    }

    [Fact]
    public void A_file_cut_inside_its_header_is_one_clear_error()
    {
        Scenes();
        string cut = Path.Combine(TempDir.Create("video-bad"), "cut.mkv");
        File.WriteAllBytes(cut, File.ReadAllBytes(fixture.Video)[..200]);
        Assert.Contains("not a video ffmpeg can read", OneErrorLine(cut));
    }

    [Fact]
    public void Files_that_are_not_videos_are_one_clear_error()
    {
        Scenes();
        string dir = TempDir.Create("video-bad");
        string text = Path.Combine(dir, "notes.mp4"), empty = Path.Combine(dir, "empty.mkv"), audio = Path.Combine(dir, "tone.wav");
        File.WriteAllText(text, "this is not a video\n");
        File.WriteAllBytes(empty, []);
        SceneVideoFixture.Ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", audio);
        Assert.Contains("not a video ffmpeg can read", OneErrorLine(text));
        Assert.Contains("empty file", OneErrorLine(empty));
        Assert.Contains("has no video stream", OneErrorLine(audio));
        Assert.Contains("file not found", OneErrorLine(Path.Combine(dir, "missing.mkv")));
    }

    [Fact]
    public void A_stream_that_ends_early_keeps_what_was_captioned()
    {
        Scenes();
        var (_, full, _) = GlanceCli.Run("video", "--every", "2s", "--beams", "1", fixture.Video);
        var whole = Spans(full);
        string dir = TempDir.Create("video-cut");
        string cut = Path.Combine(dir, "cut.mkv"), json = Path.Combine(dir, "cut.json");
        var bytes = File.ReadAllBytes(fixture.Video);
        File.WriteAllBytes(cut, bytes[..(bytes.Length * 55 / 100)]);

        var (code, output, error) = GlanceCli.RunReported("video", "--every", "2s", "--beams", "1", "--out", json, cut);

        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains($"glance: error: {cut}: the video stream ends early", error);
        var kept = Spans(File.ReadAllText(json));
        Assert.InRange(kept.Count, 1, whole.Count - 1);
        Assert.Equal(whole.Take(kept.Count), kept);
    }

    [Fact]
    public void Sigterm_writes_the_captions_made_so_far()
    {
        Scenes();
        string dir = TempDir.Create("video-term"), json = Path.Combine(dir, "captions.json");
        using var p = GlanceProcess.Start("video", "--fps", "4", "--batch", "1", "--out", json, fixture.Video);
        var errors = new List<string>();
        var started = new ManualResetEventSlim();
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (errors) errors.Add(e.Data);
            if (e.Data.Contains("video: 1/", StringComparison.Ordinal)) started.Set();
        };
        p.BeginErrorReadLine();
        _ = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.True(started.Wait(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken), "no progress line within two minutes");
        GlanceProcess.Terminate(p.Id);
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), "no exit within a minute of SIGTERM");
        p.WaitForExit();

        Assert.Equal(143, p.ExitCode);
        var spans = Spans(File.ReadAllText(json));
        Assert.InRange(spans.Count, 1, 31);
        Assert.Equal(Enumerable.Range(0, spans.Count).Select(i => i * 0.25), spans.Select(s => s.Start));
        lock (errors)
            Assert.Equal($"glance: interrupted by SIGTERM: stopped after {spans.Count} frames; the captions up to {spans[^1].End:0.###} s are written", errors[^1]);
    }

    [Fact]
    public void Prefetch_keeps_order_passes_errors_on_and_stops_its_source_when_left()
    {
        Assert.Equal(Enumerable.Range(0, 100), VideoCaptioning.Prefetch(Enumerable.Range(0, 100), 3, TestContext.Current.CancellationToken));

        static IEnumerable<int> Failing() { yield return 1; throw new GlanceException("broken at 2"); }
        var seen = new List<int>();
        var e = Assert.Throws<GlanceException>(() => { foreach (var i in VideoCaptioning.Prefetch(Failing(), 2, TestContext.Current.CancellationToken)) seen.Add(i); });
        Assert.Equal("broken at 2", e.Message);
        Assert.Equal([1], seen);

        bool disposed = false;
        IEnumerable<int> Endless() { try { for (int i = 0; ; i++) yield return i; } finally { disposed = true; } }
        Assert.Equal([0, 1, 2], VideoCaptioning.Prefetch(Endless(), 4, TestContext.Current.CancellationToken).Take(3));
        Assert.True(disposed, "the source was not disposed when the caller left");
    }

    /// <summary>Runs <paramref name="body"/> with <paramref name="variable"/> naming a shell script of <paramref name="script"/>'s text.</summary>
    private static void WithTool(string variable, string script, Action body)
    {
        string path = Path.Combine(TempDir.Create("video-tool"), "tool.sh");
        File.WriteAllText(path, "#!/bin/sh\n" + script + "\n");
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        else Assert.Skip("a shell script stands in for ffmpeg");
        var before = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, path);
        try { body(); }
        finally { Environment.SetEnvironmentVariable(variable, before); }
    }

    [Fact]
    public void A_decoder_that_fails_midway_keeps_the_frames_before_and_says_why()
    {
        var (a, b, _) = Scenes();
        // Real ffmpeg, cut after two 96×96 frames, then a complaint and exit code 1, as on a corrupt packet.
        WithTool(VideoFile.FfmpegVariable, $"ffmpeg \"$@\" 2>/dev/null | head -c {2 * 96 * 96 * 3}; echo '[h264 @ 0x5633a0] corrupt packet at 4.2 s' >&2; exit 1", () =>
        {
            using var captioner = Captioner.Load(DefaultModel.Folder, new CaptionerLoadOptions { TrimVision = true });
            var options = new VideoCaptionOptions { Interval = 2, Caption = new CaptionRunOptions { Generation = GenerationOptions.Paper with { NumBeams = 1 } } };
            var result = VideoCaptioning.Run(captioner, fixture.Video, options, cancel: TestContext.Current.CancellationToken);
            Assert.Equal([(0.0, 2.0), (2.0, 4.0)], result.Spans.Select(s => (s.Start, s.End)));
            Assert.Equal(CaptionCli("--beams", "1", a, b), result.Spans.Select(s => s.Caption));
            Assert.Equal("ffmpeg stopped with exit code 1 (corrupt packet at 4.2 s)", result.EndedEarly);
        });
    }

    [Fact]
    public void Without_ffmpeg_the_error_says_how_to_install_it()
    {
        Scenes();
        var before = Environment.GetEnvironmentVariable(VideoFile.FfprobeVariable);
        Environment.SetEnvironmentVariable(VideoFile.FfprobeVariable, "/nonexistent/ffprobe");
        try
        {
            var (code, output, error) = GlanceCli.RunReported("video", fixture.Video);
            Assert.Equal(2, code);
            Assert.Equal("", output);
            Assert.Equal("glance: error: /nonexistent/ffprobe is not installed (or not on PATH): videos are decoded by ffmpeg; `bash scripts/setup.sh` installs Debian's ffmpeg package\n", error);
        }
        finally { Environment.SetEnvironmentVariable(VideoFile.FfprobeVariable, before); }
    }
}
