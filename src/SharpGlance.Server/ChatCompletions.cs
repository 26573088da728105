using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace SharpGlance.Server;

/// <summary>
/// <c>POST /v1/chat/completions</c> in OpenAI's shape, so the OpenAI SDKs and tools that speak that API can
/// use the server as a captioner: the image is the last user message's <c>image_url</c> content part, a
/// <c>data:</c> URI (the server fetches nothing); <c>max_tokens</c> (or <c>max_completion_tokens</c>) caps the
/// new tokens; the extra fields <c>refine</c>, <c>rounds</c> and <c>beams</c> choose as in <c>/v1/captions</c>;
/// <c>stream: true</c> answers as server-sent events (the whole caption in one chunk). Text parts and
/// <c>model</c> are not read: there is one model, and it captions.
/// </summary>
internal static class ChatCompletions
{
    public static async Task<IResult> Complete(HttpContext http, CaptionApi api)
    {
        if (!(http.Request.ContentType ?? "").Contains("json", StringComparison.OrdinalIgnoreCase))
            throw new ApiError(400, "send the request as JSON (Content-Type: application/json)");
        using var body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
        var root = body.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ApiError(400, "the body must be a JSON object with \"messages\"");
        if (Int(root, "n") is > 1) throw new ApiError(400, "n must be 1: one caption per request");
        var settings = api.Settings(Bool(root, "refine"), Int(root, "rounds"), Int(root, "beams"), Int(root, "max_completion_tokens") ?? Int(root, "max_tokens"));
        var image = api.Decode(ImageBytes(root, api));
        var answer = await api.Submit(http, image, settings);
        string caption = answer.Caption.Caption!;
        int tokens = api.Captioner.CountTokens(caption);
        string finish = tokens >= settings.MaxNewTokens ? "length" : "stop";
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var usage = new { prompt_tokens = 0, completion_tokens = tokens, total_tokens = tokens };
        var extra = new { initial_caption = answer.Caption.Initial, rounds = answer.Caption.Rounds, timings = answer.Timings };
        if (Bool(root, "stream") != true)
            return Results.Json(new
            {
                id, @object = "chat.completion", created, model = api.ModelId,
                choices = new[] { new { index = 0, message = new { role = "assistant", content = caption }, finish_reason = finish } },
                usage, sharpglance = extra,
            });
        object Chunk(object delta, string? reason) => new
        {
            id, @object = "chat.completion.chunk", created, model = api.ModelId,
            choices = new[] { new { index = 0, delta, finish_reason = reason } },
        };
        var events = new[]
        {
            Chunk(new { role = "assistant", content = "" }, null),
            Chunk(new { content = caption }, null),
            Chunk(new { }, finish),
        };
        return Results.Stream(async stream =>
        {
            var json = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            foreach (var e in events)
                await stream.WriteAsync(Encoding.UTF8.GetBytes("data: " + JsonSerializer.Serialize(e, json) + "\n\n"));
            await stream.WriteAsync("data: [DONE]\n\n"u8.ToArray());
        }, "text/event-stream");
    }

    /// <summary>The bytes of the last user message's image: an <c>image_url</c> part whose url is a base64 <c>data:</c> URI.</summary>
    private static byte[] ImageBytes(JsonElement root, CaptionApi api)
    {
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw new ApiError(400, "\"messages\" must be a non-empty array");
        foreach (var message in messages.EnumerateArray().Reverse())
        {
            if (message.ValueKind != JsonValueKind.Object || Str(message, "role") != "user") continue;
            if (!message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array) continue;
            foreach (var part in content.EnumerateArray())
            {
                if (part.ValueKind != JsonValueKind.Object || Str(part, "type") != "image_url" || !part.TryGetProperty("image_url", out var imageUrl)) continue;
                string? url = imageUrl.ValueKind == JsonValueKind.String ? imageUrl.GetString() : imageUrl.ValueKind == JsonValueKind.Object ? Str(imageUrl, "url") : null;
                return DataUri(url ?? throw new ApiError(400, "the image_url part has no url"), api);
            }
        }
        throw new ApiError(400, "no image: put it in a user message as an image_url content part with a data: URI (data:image/png;base64,...)");
    }

    private static byte[] DataUri(string url, CaptionApi api)
    {
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            throw new ApiError(400, "image_url must be a data: URI (data:image/png;base64,...); this server fetches no URL");
        int comma = url.IndexOf(',');
        if (comma < 0 || !url.AsSpan(0, comma).EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            throw new ApiError(400, "image_url must be a base64 data: URI (data:image/png;base64,...)");
        var base64 = url.AsSpan(comma + 1);
        if ((long)base64.Length / 4 * 3 > api.MaxImageBytes) throw api.TooLarge((long)base64.Length / 4 * 3);
        var bytes = new byte[base64.Length / 4 * 3 + 3];
        if (!Convert.TryFromBase64Chars(base64, bytes, out int n)) throw new ApiError(400, "image_url: the data: URI's base64 is corrupt");
        return bytes[..n];
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int? Int(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n
        : throw new ApiError(400, $"{name} must be an integer");

    private static bool? Bool(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw new ApiError(400, $"{name} must be true or false");
}
