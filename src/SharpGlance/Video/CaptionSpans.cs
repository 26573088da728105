using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpGlance.Video;

/// <summary>A caption for the part of a video from <paramref name="Start"/> to <paramref name="End"/> (seconds).</summary>
public sealed record CaptionSpan(
    [property: JsonPropertyName("start")] double Start,
    [property: JsonPropertyName("end")] double End,
    [property: JsonPropertyName("caption")] string Caption);

/// <summary>
/// Caption spans as files: <c>glance video</c>'s JSON (a list of <c>{start, end, caption}</c>, seconds rounded to
/// the millisecond), SubRip (.srt) and WebVTT (.vtt) subtitles, and the merge of repeated captions.
/// </summary>
public static class CaptionSpans
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Consecutive spans with the same caption (ordinal comparison) become one, from the first's start to the last's end.</summary>
    public static IReadOnlyList<CaptionSpan> Merge(IReadOnlyList<CaptionSpan> spans)
    {
        var merged = new List<CaptionSpan>();
        foreach (var s in spans)
        {
            if (merged.Count > 0 && merged[^1].Caption == s.Caption) merged[^1] = merged[^1] with { End = s.End };
            else merged.Add(s);
        }
        return merged;
    }

    public static string ToJson(IReadOnlyList<CaptionSpan> spans) =>
        JsonSerializer.Serialize(spans.Select(s => s with { Start = Math.Round(s.Start, 3), End = Math.Round(s.End, 3) }).ToList(), Json) + "\n";

    /// <summary>SubRip: numbered cues from 1, <c>HH:MM:SS,mmm --> HH:MM:SS,mmm</c>, the text, a blank line.</summary>
    public static string ToSrt(IReadOnlyList<CaptionSpan> spans)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < spans.Count; i++)
            sb.Append(i + 1).Append('\n')
              .Append(Timestamp(spans[i].Start, ',')).Append(" --> ").Append(Timestamp(spans[i].End, ',')).Append('\n')
              .Append(OneLine(spans[i].Caption)).Append("\n\n");
        return sb.ToString();
    }

    /// <summary>WebVTT: the <c>WEBVTT</c> header, then <c>HH:MM:SS.mmm --> HH:MM:SS.mmm</c> cues whose text escapes &amp;, &lt; and &gt;.</summary>
    public static string ToVtt(IReadOnlyList<CaptionSpan> spans)
    {
        var sb = new StringBuilder("WEBVTT\n\n");
        foreach (var s in spans)
            sb.Append(Timestamp(s.Start, '.')).Append(" --> ").Append(Timestamp(s.End, '.')).Append('\n')
              .Append(OneLine(s.Caption).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")).Append("\n\n");
        return sb.ToString();
    }

    /// <summary>HH:MM:SS followed by <paramref name="separator"/> and milliseconds (rounded).</summary>
    public static string Timestamp(double seconds, char separator)
    {
        long ms = (long)Math.Round(Math.Max(0, seconds) * 1000, MidpointRounding.AwayFromZero);
        return string.Create(CultureInfo.InvariantCulture, $"{ms / 3_600_000:00}:{ms / 60_000 % 60:00}:{ms / 1000 % 60:00}{separator}{ms % 1000:000}");
    }

    /// <summary>A cue's text may not hold a blank line (it would end the cue): line breaks become spaces.</summary>
    private static string OneLine(string caption) => string.Join(' ', caption.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Reads <c>glance video</c>'s JSON back.</summary>
    /// <exception cref="GlanceException">Missing, not JSON, not a list of <c>{start, end, caption}</c>, empty, or with a span that ends before it starts.</exception>
    public static IReadOnlyList<CaptionSpan> Read(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "file not found");
        List<CaptionSpan?>? spans;
        try { spans = JsonSerializer.Deserialize<List<CaptionSpan?>>(File.ReadAllText(path)); }
        catch (JsonException e) { throw GlanceException.ForFile(path, $"not a list of {{start, end, caption}} as `glance video` writes ({e.Message})"); }
        if (spans is null || spans.Count == 0) throw GlanceException.ForFile(path, "holds no captions");
        for (int i = 0; i < spans.Count; i++)
        {
            var s = spans[i];
            if (s is null || s.Caption is null) throw GlanceException.ForFile(path, $"caption {i + 1} has no \"caption\"");
            if (!(s.End >= s.Start) || s.Start < 0) throw GlanceException.ForFile(path, $"caption {i + 1} has start {s.Start} and end {s.End}: it must start at 0 s or later and end at or after its start");
        }
        return spans!;
    }
}
