using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpGlance.Preprocessing;

namespace SharpGlance.Video;

/// <summary>What ffprobe says about a video's first video stream. <see cref="Duration"/> is null when the container does not say.</summary>
public sealed record VideoInfo(string Path, int Width, int Height, double? Duration);

/// <summary>
/// One sampled frame: the <paramref name="Index"/>-th tick of the sampling grid, standing for the span
/// [<paramref name="Start"/>, <paramref name="Start"/> + interval).
/// </summary>
public sealed record VideoFrame(int Index, double Start, RgbImage Image);

/// <summary>
/// Video files through Debian's <c>ffprobe</c> (size, duration) and <c>ffmpeg</c> (frames as a raw RGB pipe:
/// <c>ffmpeg -i FILE -vf fps=F -f rawvideo -pix_fmt rgb24 -</c>). Every failure of the tools becomes a
/// <see cref="GlanceException"/> naming the file, with the tool's own first error line.
/// </summary>
public static partial class VideoFile
{
    /// <summary>Environment variables that name the tools (default: <c>ffmpeg</c> and <c>ffprobe</c> on PATH).</summary>
    public const string FfmpegVariable = "SHARPGLANCE_FFMPEG", FfprobeVariable = "SHARPGLANCE_FFPROBE";

    internal static string Ffmpeg => Environment.GetEnvironmentVariable(FfmpegVariable) is { Length: > 0 } f ? f : "ffmpeg";
    internal static string Ffprobe => Environment.GetEnvironmentVariable(FfprobeVariable) is { Length: > 0 } f ? f : "ffprobe";

    /// <summary>Size, rotation and duration of the first video stream.</summary>
    /// <exception cref="GlanceException">Missing file, not a video, no video stream, or no ffprobe.</exception>
    public static VideoInfo Probe(string path)
    {
        CheckFile(path);
        var (code, stdout, stderr) = RunToEnd(Ffprobe,
            ["-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=width,height,duration:stream_tags=rotate,DURATION:stream_side_data=rotation:format=duration", "-of", "json", path]);
        if (code != 0) throw GlanceException.ForFile(path, $"not a video ffmpeg can read ({ToolError(stderr, path)})");
        JsonNode? root;
        try { root = JsonNode.Parse(stdout); }
        catch (System.Text.Json.JsonException e) { throw GlanceException.ForFile(path, $"ffprobe's answer is not JSON ({e.Message})"); }
        var stream = root?["streams"]?.AsArray().FirstOrDefault();
        int width = Int(stream?["width"]), height = Int(stream?["height"]);
        if (stream is null || width <= 0 || height <= 0) throw GlanceException.ForFile(path, "has no video stream");
        // A phone video stored landscape with a 90° rotation is decoded upright by ffmpeg (autorotate): swap the sides.
        int rotation = Int(stream["tags"]?["rotate"]);
        foreach (var side in stream["side_data_list"]?.AsArray() ?? [])
            if (side?["rotation"] is { } r) rotation = Int(r);
        if (Math.Abs(rotation) % 180 == 90) (width, height) = (height, width);
        // The stream's own duration first (the container's may count a longer audio track), then Matroska's tag, then the container's.
        double? duration = Seconds(stream["duration"]) ?? Seconds(stream["tags"]?["DURATION"]) ?? Seconds(root?["format"]?["duration"]);
        return new VideoInfo(path, width, height, duration is > 0 ? duration : null);
    }

    /// <summary>
    /// The frames on a grid of <paramref name="interval"/> seconds: ffmpeg's <c>fps</c> filter puts tick k at
    /// k·interval and, rounding source timestamps to the nearest tick (halves up), shows on it the last source
    /// frame that starts before the middle of [k·interval, (k+1)·interval) — so frame k stands for that span.
    /// With <c>eof_action=pass</c> a tail shorter than half an interval gets a tick too, showing the last frame
    /// (so a video shorter than half an interval still has one). Enumerate once; <paramref name="ended"/>
    /// receives, when the stream stops, null for a clean end or ffmpeg's complaint (a truncated or corrupt
    /// stream: the frames before it were still yielded).
    /// </summary>
    public static IEnumerable<VideoFrame> Frames(VideoInfo video, double interval, Action<string?> ended, CancellationToken cancel = default)
    {
        if (!(interval > 0) || double.IsInfinity(interval)) throw new GlanceException($"the sampling interval must be a positive number of seconds (got {interval})");
        string rate = (1 / interval).ToString("R", CultureInfo.InvariantCulture);
        using var process = Start(Ffmpeg, ["-nostdin", "-v", "error", "-i", video.Path, "-vf", $"fps={rate}:eof_action=pass", "-an", "-sn", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) if (stderr.Length < 16_384) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        var stdout = process.StandardOutput.BaseStream;
        int frameBytes = checked(video.Width * video.Height * 3);
        bool partial = false;
        try
        {
            for (int index = 0; ; index++)
            {
                if (cancel.IsCancellationRequested) yield break;
                var pixels = new byte[frameBytes];
                int filled = 0;
                while (filled < frameBytes)
                {
                    int read = stdout.Read(pixels, filled, frameBytes - filled);
                    if (read == 0) break;
                    filled += read;
                }
                if (filled == 0) break;
                if (filled < frameBytes) { partial = true; break; }
                yield return new VideoFrame(index, index * interval, new RgbImage(video.Width, video.Height, pixels) { Source = video.Path });
            }
            process.WaitForExit();
            string problem;
            lock (stderr) problem = ToolError(stderr.ToString(), video.Path);
            if (process.ExitCode != 0) ended($"ffmpeg stopped with exit code {process.ExitCode} ({problem})");
            else if (partial) ended($"the last frame is incomplete ({problem})");
            else ended(null);
        }
        finally
        {
            // An enumeration left early (cancelled, or the caller stopped) must not leave ffmpeg writing into a full pipe.
            if (!process.HasExited) try { process.Kill(); process.WaitForExit(); } catch (InvalidOperationException) { }
        }
    }

    /// <summary>
    /// A tool's complaint in one line: its first and last distinct error lines, without the file name or the
    /// "[matroska,webm @ 0x…]" prefix they start with; "no message" when it said nothing.
    /// </summary>
    internal static string ToolError(string stderr, string path)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => ContextPrefix().Replace(l, ""))
            .Select(l => l.StartsWith(path + ": ", StringComparison.Ordinal) ? l[(path.Length + 2)..] : l)
            .Where(l => l.Length > 0 && !l.StartsWith("Last message repeated", StringComparison.Ordinal))
            .Distinct().ToList();
        return lines.Count switch { 0 => "no message", 1 => lines[0], _ => $"{lines[0]} … {lines[^1]}" };
    }

    [GeneratedRegex(@"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")]
    private static partial Regex ContextPrefix();

    private static void CheckFile(string path)
    {
        if (Directory.Exists(path)) throw GlanceException.ForFile(path, "is a folder, not a video");
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "file not found");
        if (new FileInfo(path).Length == 0) throw GlanceException.ForFile(path, "empty file (0 bytes), not a video");
    }

    private static Process Start(string tool, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = false, UseShellExecute = false,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        try { return Process.Start(start) ?? throw new GlanceException($"cannot start {tool}"); }
        catch (Win32Exception)
        {
            throw new GlanceException($"{tool} is not installed (or not on PATH): videos are decoded by ffmpeg; `bash scripts/setup.sh` installs Debian's ffmpeg package");
        }
    }

    private static (int Code, string Stdout, string Stderr) RunToEnd(string tool, IReadOnlyList<string> args)
    {
        using var process = Start(tool, args);
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    private static int Int(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<int>(out var i) => i,
        JsonValue v when v.TryGetValue<double>(out var d) => (int)d,
        JsonValue v when v.TryGetValue<string>(out var s) && int.TryParse(s, CultureInfo.InvariantCulture, out var p) => p,
        _ => 0,
    };

    /// <summary>"8.000000" (ffprobe's seconds) or "00:00:08.000000000" (Matroska's DURATION tag), else null.</summary>
    private static double? Seconds(JsonNode? node)
    {
        if (node is not JsonValue v || !v.TryGetValue<string>(out var s)) return null;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)) return seconds;
        var parts = s.Split(':');
        if (parts.Length == 3 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var h) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var m)
            && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var sec))
            return h * 3600 + m * 60 + sec;
        return null;
    }
}
