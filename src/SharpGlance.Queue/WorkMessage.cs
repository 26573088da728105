using System.Globalization;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;

namespace SharpGlance.Queue;

/// <summary>
/// One image of a job on <c>glance.work</c>: headers <c>glance-job</c>, <c>glance-index</c> (its place in the
/// job, from 0), <c>glance-total</c>, <c>glance-image</c> (the path or name); the body is the path (UTF-8),
/// or with <c>glance-inline: true</c> the image's bytes.
/// </summary>
public sealed record WorkMessage(string Job, long Index, long Total, string Image, bool Inline, byte[] Body)
{
    public BasicProperties Properties() => new()
    {
        Persistent = true,
        MessageId = $"{Job}/{Index}",
        ContentType = Inline ? "application/octet-stream" : "text/plain",
        Headers = new Dictionary<string, object?>
        {
            ["glance-job"] = Job, ["glance-index"] = Index, ["glance-total"] = Total, ["glance-image"] = Image, ["glance-inline"] = Inline,
        },
    };

    /// <summary>Reads a delivered message; null when it is not one of ours (it is dead-lettered at once).</summary>
    public static WorkMessage? Parse(IReadOnlyBasicProperties properties, byte[] body)
    {
        string? job = QueueTopology.Header(properties, "glance-job"), image = QueueTopology.Header(properties, "glance-image");
        if (job is null || image is null
            || !long.TryParse(QueueTopology.Header(properties, "glance-index"), CultureInfo.InvariantCulture, out long index)
            || !long.TryParse(QueueTopology.Header(properties, "glance-total"), CultureInfo.InvariantCulture, out long total))
            return null;
        bool inline = properties.Headers?.TryGetValue("glance-inline", out var v) == true && v is true;
        return new WorkMessage(job, index, total, image, inline, body);
    }

    public string Path => Encoding.UTF8.GetString(Body);
}

/// <summary>One image's outcome on <c>glance.results.JOB</c>: a caption, or the error that made it impossible.</summary>
public sealed record ResultMessage(string Job, long Index, long Total, string Image, string? Caption, string? Initial, string? Error, string Worker)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static ResultMessage? Parse(ReadOnlySpan<byte> body)
    {
        try { return JsonSerializer.Deserialize<ResultMessage>(body, Json); }
        catch (JsonException) { return null; }
    }
}
