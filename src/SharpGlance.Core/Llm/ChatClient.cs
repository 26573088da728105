using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpGlance.Llm;

/// <summary>Where an OpenAI-compatible chat endpoint is and how patient to be with it.</summary>
public sealed record ChatEndpoint(string BaseUrl, string Model, string? ApiKey = null)
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    public int MaxRetries { get; init; } = 4;
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>The longest a <c>Retry-After</c> header may make one wait (longer ones are cut to this).</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// From options, falling back to <c>SHARPGLANCE_LLM_URL</c>, <c>SHARPGLANCE_LLM_MODEL</c> and
    /// <c>SHARPGLANCE_LLM_KEY</c> (then <c>OPENAI_API_KEY</c>). Null when no URL is configured.
    /// </summary>
    public static ChatEndpoint? FromOptions(string? url, string? model, string? key)
    {
        url ??= Environment.GetEnvironmentVariable("SHARPGLANCE_LLM_URL");
        if (string.IsNullOrWhiteSpace(url)) return null;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new GlanceException($"LLM endpoint '{url}': not an http(s) URL");
        model ??= Environment.GetEnvironmentVariable("SHARPGLANCE_LLM_MODEL") ?? "gpt-4o-mini";
        key ??= Environment.GetEnvironmentVariable("SHARPGLANCE_LLM_KEY") ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY");
        return new ChatEndpoint(url, model, key);
    }
}

/// <summary>
/// One chat message. With <see cref="ImageUrls"/> it goes out as OpenAI's multimodal form: a text part, then
/// one <c>image_url</c> part per URL (an https URL or a <c>data:</c> URI, see <see cref="ImageDataUri"/>).
/// </summary>
public sealed record ChatMessage(string Role, string Content)
{
    public IReadOnlyList<string>? ImageUrls { get; init; }

    /// <summary>A file as a base64 <c>data:</c> URI, its type from the extension (JPEG when unknown).</summary>
    public static string ImageDataUri(string path)
    {
        var bytes = File.ReadAllBytes(path);
        string mime = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".png" => "image/png",
            ".gif" => "image/gif",
            ".webp" => "image/webp",
            ".bmp" => "image/bmp",
            _ => "image/jpeg",
        };
        return $"data:{mime};base64,{Convert.ToBase64String(bytes)}";
    }

    internal JsonNode ToJson()
    {
        var message = new JsonObject { ["role"] = Role };
        if (ImageUrls is not { Count: > 0 }) message["content"] = Content;
        else
        {
            var parts = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = Content });
            foreach (var url in ImageUrls)
                parts.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = url } });
            message["content"] = parts;
        }
        return message;
    }
}

/// <summary>
/// One completed call: the reply text, or why there is none, and how many attempts it took.
/// <see cref="RetriedErrors"/> lists the failures that were retried on the way (429s, 5xx, timeouts).
/// </summary>
public sealed record ChatResult(string? Text, string? Error, int Attempts)
{
    public bool Ok => Text is not null;
    public IReadOnlyList<string> RetriedErrors { get; init; } = [];
}

/// <summary>
/// A small client for <c>POST {base}/chat/completions</c> (OpenAI's wire format, which vLLM, llama.cpp's
/// server, Ollama and others also speak). Timeouts, 429 and 5xx answers are retried with exponential
/// back-off (honouring <c>Retry-After</c>); other failures come back as a <see cref="ChatResult"/> with an
/// error, never as an exception, so one bad reply cannot end a long run.
/// </summary>
public sealed class ChatClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly ChatEndpoint _endpoint;
    private readonly Uri _url;

    public ChatClient(ChatEndpoint endpoint, HttpMessageHandler? handler = null)
    {
        _endpoint = endpoint;
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.Timeout = System.Threading.Timeout.InfiniteTimeSpan;  // per-attempt timeouts below
        var baseUrl = endpoint.BaseUrl.TrimEnd('/');
        _url = new Uri(baseUrl.EndsWith("/chat/completions", StringComparison.Ordinal) ? baseUrl : baseUrl + "/chat/completions");
        if (!string.IsNullOrEmpty(endpoint.ApiKey))
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", endpoint.ApiKey);
    }

    public async Task<ChatResult> CompleteAsync(IReadOnlyList<ChatMessage> messages, double temperature = 0.0,
        int? seed = null, int? maxTokens = null, CancellationToken cancel = default, double? topP = null)
    {
        var body = new JsonObject
        {
            ["model"] = _endpoint.Model,
            ["temperature"] = temperature,
            ["messages"] = new JsonArray(messages.Select(m => m.ToJson()).ToArray()),
        };
        if (seed is { } s) body["seed"] = s;
        if (maxTokens is { } mt) body["max_tokens"] = mt;
        if (topP is { } tp) body["top_p"] = tp;
        string payload = body.ToJsonString();

        string? lastError = null;
        var retried = new List<string>();
        var backoff = _endpoint.InitialBackoff;
        for (int attempt = 1; attempt <= _endpoint.MaxRetries + 1; attempt++)
        {
            TimeSpan? retryAfter = null;
            using var attemptCancel = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            attemptCancel.CancelAfter(_endpoint.Timeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
                using var response = await _http.SendAsync(request, attemptCancel.Token).ConfigureAwait(false);
                string text = await response.Content.ReadAsStringAsync(attemptCancel.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    var content = ExtractContent(text, out var parseError);
                    if (content is not null) return new ChatResult(content, null, attempt) { RetriedErrors = retried };
                    return new ChatResult(null, "malformed reply: " + parseError, attempt) { RetriedErrors = retried };
                }
                lastError = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
                bool retryable = response.StatusCode == HttpStatusCode.TooManyRequests || (int)response.StatusCode >= 500;
                if (!retryable) return new ChatResult(null, lastError, attempt) { RetriedErrors = retried };
                retryAfter = response.Headers.RetryAfter?.Delta
                    ?? (response.Headers.RetryAfter?.Date is { } d ? d - DateTimeOffset.UtcNow : null);
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                lastError = $"timed out after {_endpoint.Timeout.TotalSeconds:0.#} s";
            }
            catch (HttpRequestException e)
            {
                lastError = "connection failed: " + e.Message;
            }
            if (attempt > _endpoint.MaxRetries) break;
            retried.Add(lastError ?? "failed");
            var wait = retryAfter is { } ra && ra > TimeSpan.Zero ? (ra < _endpoint.MaxRetryAfter ? ra : _endpoint.MaxRetryAfter) : backoff;
            await Task.Delay(wait, cancel).ConfigureAwait(false);
            backoff *= 2;
        }
        return new ChatResult(null, lastError ?? "failed", _endpoint.MaxRetries + 1) { RetriedErrors = retried };
    }

    /// <summary>choices[0].message.content of a chat completion, or null with the reason.</summary>
    public static string? ExtractContent(string json, out string? error)
    {
        error = null;
        try
        {
            var node = JsonNode.Parse(json);
            var content = node?["choices"]?[0]?["message"]?["content"];
            if (content is JsonValue v && v.TryGetValue<string>(out var s)) return s;
            error = "no choices[0].message.content";
        }
        catch (JsonException e) { error = "not JSON: " + e.Message; }
        catch (InvalidOperationException e) { error = e.Message; }
        return null;
    }

    public void Dispose() => _http.Dispose();
}
