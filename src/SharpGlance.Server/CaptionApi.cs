using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SharpGlance.Captioning;
using SharpGlance.Preprocessing;

namespace SharpGlance.Server;

/// <summary>An answer other than 200: its status, and one line for the client (OpenAI's error shape).</summary>
internal sealed class ApiError(int status, string message, string type = "invalid_request_error", int? retryAfter = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public int? RetryAfter { get; } = retryAfter;

    /// <summary>The JSON body: one line, never a stack trace.</summary>
    public ErrorBody Body() => new(new ErrorDetail(Message.ReplaceLineEndings(" "), Type, Status));
}

public sealed record ErrorBody(ErrorDetail Error);
public sealed record ErrorDetail(string Message, string Type, int Code);

/// <summary>The answer of <c>POST /v1/captions</c>: <c>initial_caption</c> and <c>rounds</c> are set when a second glance was taken.</summary>
public sealed record CaptionResponse(string Caption, string? InitialCaption, IReadOnlyList<string> Rounds, string Model, CaptionSettings Options, CaptionTimings Timings);

/// <summary>
/// The HTTP surface. Each handler reads and checks the request (size, options, the image's header and
/// decode — on the request's own thread, so a bad image never reaches the batch), queues the decoded
/// image, and writes what the batch answers.
/// </summary>
internal sealed partial class CaptionApi(ICaptionModel captioner, CaptionBatcher batcher, ServerMetrics metrics, ServeOptions options)
{
    /// <summary>The request body limit: the image limit as base64 (a chat request), plus room for the rest of the request.</summary>
    public static long BodyLimit(ServeOptions options) => options.MaxImageBytes / 3 * 4 + 4 + (64 << 10);

    /// <summary>
    /// Counts every <c>/v1</c> answer (401s and 429s included) by route and status. The route is the matched
    /// endpoint's pattern, never the raw path: random paths must not grow the metrics without bound.
    /// </summary>
    public void UseRequestMetrics(WebApplication app) => app.Use(async (http, next) =>
    {
        var clock = Stopwatch.StartNew();
        await next(http);
        if (http.Request.Path.StartsWithSegments("/v1"))
            metrics.Request(http.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { } route } ? route : "unmatched", http.Response.StatusCode, clock.Elapsed);
    });

    public void Map(WebApplication app)
    {
        app.MapPost("/v1/captions", Task<IResult> (HttpContext http) => Answer(http, () => Caption(http)))
            .WithSummary("Caption one image: multipart form data (field \"image\") or the raw image as the body; options refine, rounds, beams, max_new_tokens as query or form fields.")
            .AddOpenApiOperationTransformer((operation, _, _) => { operation.RequestBody = ImageBody(); return Task.CompletedTask; })
            .Produces<CaptionResponse>().Produces<ErrorBody>(400).Produces<ErrorBody>(413).Produces<ErrorBody>(503);
        app.MapPost("/v1/chat/completions", Task<IResult> (HttpContext http) => Answer(http, () => ChatCompletions.Complete(http, this)))
            .WithSummary("OpenAI-compatible chat completion: the last user message's image_url content part (a data: URI) is captioned; text parts are not read (the model is a captioner). Extra fields refine, rounds, beams.")
            .Produces<JsonElement>().Produces<ErrorBody>(400).Produces<ErrorBody>(413).Produces<ErrorBody>(503);
        app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { new { id = options.ModelId, @object = "model", created = 0, owned_by = "sharpglance", refine = captioner.CanRefine } } }))
            .WithSummary("The one model served (OpenAI's list shape).");
        app.MapGet("/healthz", () => Results.Json(new { status = "alive" })).WithSummary("200 while the process answers.");
        app.MapGet("/readyz", () => batcher.Draining ? Results.Json(new { status = "draining" }, statusCode: 503)
                : batcher.Ready ? Results.Json(new { status = "ready", model = options.ModelId })
                : Results.Json(new { status = "warming up" }, statusCode: 503))
            .WithSummary("200 once the model is loaded and warm; 503 while warming up or draining.");
        app.MapGet("/", () => Results.Content(WebPage.Html(options.ModelId, captioner.CanRefine, options.ApiKeys.Count > 0), "text/html; charset=utf-8"))
            .ExcludeFromDescription();
    }

    /// <summary>
    /// The request body of <c>/v1/captions</c> in the OpenAPI document. Not declared with <c>Accepts</c>: that
    /// would make routing refuse other content types with a bare 415, where a wrong body deserves our 400.
    /// </summary>
    private static Microsoft.OpenApi.OpenApiRequestBody ImageBody()
    {
        var binary = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.String, Format = "binary" };
        var form = new Microsoft.OpenApi.OpenApiSchema
        {
            Type = Microsoft.OpenApi.JsonSchemaType.Object,
            Properties = new Dictionary<string, Microsoft.OpenApi.IOpenApiSchema>
            {
                ["image"] = binary,
                ["refine"] = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.Boolean },
                ["rounds"] = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.Integer },
                ["beams"] = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.Integer },
                ["max_new_tokens"] = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.Integer },
            },
            Required = new HashSet<string> { "image" },
        };
        return new Microsoft.OpenApi.OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, Microsoft.OpenApi.OpenApiMediaType>
            {
                ["multipart/form-data"] = new() { Schema = form },
                ["application/octet-stream"] = new() { Schema = binary },
            },
        };
    }

    private async Task<IResult> Caption(HttpContext http)
    {
        var request = http.Request;
        IFormCollection? form = null;
        byte[] bytes;
        if (request.HasFormContentType)
        {
            form = await ReadForm(http);
            var file = form.Files.GetFile("image") ?? form.Files.FirstOrDefault()
                ?? throw new ApiError(400, "no image: send it as the form field \"image\" or as the request body");
            if (file.Length > options.MaxImageBytes) throw TooLarge(file.Length);
            bytes = new byte[file.Length];
            await using var stream = file.OpenReadStream();
            await stream.ReadExactlyAsync(bytes, http.RequestAborted);
        }
        else bytes = await ReadBody(http);
        string? Field(string name) => form?[name].FirstOrDefault() ?? request.Query[name].FirstOrDefault();
        var settings = Settings(Flag(Field("refine"), "refine"), Integer(Field("rounds"), "rounds"), Integer(Field("beams"), "beams"), Integer(Field("max_new_tokens"), "max_new_tokens"));
        var answer = await Submit(http, Decode(bytes), settings);
        var c = answer.Caption;
        return Results.Json(new CaptionResponse(c.Caption!, c.Initial, c.Rounds, options.ModelId, settings, answer.Timings));
    }

    /// <summary>
    /// The form; a body that does not hold the multipart data its Content-Type announces (another boundary, no
    /// closing boundary, cut short) is 400. The form reader reports such a body as an IOException or an
    /// InvalidDataException; those with "limit" in them are sizes (413), except the boundary's length.
    /// </summary>
    private static async Task<IFormCollection> ReadForm(HttpContext http)
    {
        try { return await http.Request.ReadFormAsync(http.RequestAborted); }
        catch (IOException e) when (!http.RequestAborted.IsCancellationRequested && e is not BadHttpRequestException)
        {
            throw new ApiError(400, "the multipart form data is malformed or cut short (" + e.Message + ")");
        }
        catch (InvalidDataException e) when (!e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("boundary", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiError(400, "the multipart form data is malformed: " + e.Message);
        }
    }

    /// <summary>The request body, at most the image limit (413 past it, read no further).</summary>
    private async Task<byte[]> ReadBody(HttpContext http)
    {
        if (http.Request.ContentLength > options.MaxImageBytes) throw TooLarge(http.Request.ContentLength.Value);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > options.MaxImageBytes) throw TooLarge(buffer.Length);
        }
        if (buffer.Length == 0) throw new ApiError(400, "no image: the request body is empty (send the image as the body or as the form field \"image\")");
        return buffer.ToArray();
    }

    public ApiError TooLarge(long bytes) =>
        new(413, $"the image is {bytes:N0} bytes or more, above the limit of {options.MaxImageBytes:N0}", "request_too_large");

    /// <summary>
    /// Decodes the image. The header's size is checked against the pixel limit before any pixel is decoded;
    /// a corrupt, unsupported or too elongated image is a 400 with the decoder's one line.
    /// </summary>
    public RgbImage Decode(byte[] bytes)
    {
        try
        {
            var image = RgbImage.FromBytes(bytes, "image", options.MaxPixels);
            captioner.CheckImage(image);
            return image;
        }
        catch (GlanceException e) { throw new ApiError(400, e.Message); }
    }

    /// <summary>The settings of a request, as <c>glance caption</c> reads its flags: <c>rounds</c> implies a second glance; the defaults are 3 beams and 77 new tokens.</summary>
    public CaptionSettings Settings(bool? refine, int? rounds, int? beams, int? maxNewTokens)
    {
        try
        {
            return new CaptionSettings(rounds ?? (refine == true ? 1 : 0), beams ?? CaptionSettings.DefaultBeams, maxNewTokens ?? CaptionSettings.DefaultMaxNewTokens)
                .Validate(captioner);
        }
        catch (GlanceException e) { throw new ApiError(400, e.Message); }
    }

    /// <summary>Queues the image and waits for its pass; 503 with Retry-After when the queue is full or the server is stopping.</summary>
    public async Task<CaptionAnswer> Submit(HttpContext http, RgbImage image, CaptionSettings settings)
    {
        var task = batcher.TrySubmit(image, settings, http.RequestAborted);
        if (task is null)
            throw batcher.Draining
                ? new ApiError(503, "the server is shutting down", "server_unavailable", 5)
                : new ApiError(503, $"the queue is full ({options.QueueCapacity} requests waiting); retry later", "server_busy", batcher.RetryAfterSeconds());
        return await task;
    }

    public string ModelId => options.ModelId;
    public long MaxImageBytes => options.MaxImageBytes;
    public ICaptionModel Captioner => captioner;

    private static async Task<IResult> Answer(HttpContext http, Func<Task<IResult>> handler)
    {
        try { return await handler(); }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty;   // the client is gone; nobody reads an answer
        }
        catch (Exception e)
        {
            var error = e switch
            {
                ApiError a => a,
                BadHttpRequestException { StatusCode: 413 } => new ApiError(413, "the request body is larger than the limit", "request_too_large"),
                BadHttpRequestException b => new ApiError(b.StatusCode, b.Message),
                InvalidDataException d when d.Message.Contains("limit", StringComparison.OrdinalIgnoreCase) => new ApiError(413, "the form data is larger than the limit", "request_too_large"),
                GlanceException g => new ApiError(400, g.Message),
                JsonException j => new ApiError(400, "the body is not valid JSON: " + j.Message),
                _ => new ApiError(500, $"{e.GetType().Name}: {e.Message}", "server_error"),
            };
            if (error.RetryAfter is { } seconds) http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return Results.Json(error.Body(), statusCode: error.Status);
        }
    }

    private static bool? Flag(string? value, string name) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "1" or "true" or "on" or "yes" => true,
        "0" or "false" or "off" or "no" => false,
        _ => throw new ApiError(400, $"{name} must be true or false (got \"{value}\")"),
    };

    private static int? Integer(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? null
        : int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n
        : throw new ApiError(400, $"{name} must be an integer (got \"{value}\")");
}
