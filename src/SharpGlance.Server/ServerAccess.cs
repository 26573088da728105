using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace SharpGlance.Server;

/// <summary>
/// Who may use the API and how fast, in the order a request meets them: every answer other than a
/// handler's own is OpenAI's JSON error shape (unknown routes, wrong methods, the rest of ASP.NET Core's bare
/// status codes); <c>/v1/*</c> (and <c>/metrics</c> with <see cref="ServeOptions.MetricsNeedKey"/>) needs a
/// key (<see cref="ApiKeys"/>), else 401; then each client's token bucket (ASP.NET Core's rate limiter,
/// partitioned by key, or by address without keys), else 429 with Retry-After.
/// </summary>
internal static class ServerAccess
{
    /// <summary>The <c>HttpContext.Items</c> entry holding the client's identity once its key has been checked.</summary>
    private const string ClientItem = "glance.client";

    public static void AddServices(IServiceCollection services, ServeOptions options, ServerMetrics metrics)
    {
        if (options.ClientRate <= 0) return;
        // Whole tokens each period: ≥ 1 a second refills every second; a slower rate gives one token per 1/rate s.
        var period = TimeSpan.FromSeconds(Math.Max(1, 1 / options.ClientRate));
        int perPeriod = Math.Max(1, (int)Math.Round(options.ClientRate * period.TotalSeconds));
        services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http => IsApi(http)
                ? RateLimitPartition.GetTokenBucketLimiter(Client(http), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.ClientBurst,
                    TokensPerPeriod = perPeriod,
                    ReplenishmentPeriod = period,
                    QueueLimit = 0,   // refuse at once: a client over its share waits on its side, not in our memory
                    AutoReplenishment = true,
                })
                : RateLimitPartition.GetNoLimiter(""));
            limiter.OnRejected = async (rejected, cancel) =>
            {
                var http = rejected.HttpContext;
                metrics.RateLimited();
                int seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                await WriteAsync(http, new ApiError(429,
                    $"too many requests from this client: at most {options.ClientBurst} at once and {options.ClientRate.ToString(CultureInfo.InvariantCulture)} a second; retry after {seconds} s",
                    "rate_limit_exceeded", seconds));
            };
        });
    }

    public static void Use(WebApplication app, ServeOptions options)
    {
        // Bare status codes (404 for an unknown route, 405 for a wrong method, …) get a JSON body too.
        app.UseStatusCodePages(context => WriteAsync(context.HttpContext, new ApiError(context.HttpContext.Response.StatusCode,
            Describe(context.HttpContext), context.HttpContext.Response.StatusCode == 404 ? "not_found" : "invalid_request_error"), statusAlreadySet: true));
        app.Use(async (http, next) =>
        {
            if (NeedsKey(http, options))
            {
                string? key = BearerToken(http.Request.Headers.Authorization);
                int client = key is null ? -1 : options.ApiKeys.Match(key);
                if (client < 0)
                {
                    http.Response.Headers.WWWAuthenticate = "Bearer";
                    await WriteAsync(http, new ApiError(401, key is null
                        ? "this server needs an API key: send it as Authorization: Bearer KEY"
                        : "the API key is not one this server accepts", "authentication_error"));
                    return;
                }
                http.Items[ClientItem] = "key:" + client.ToString(CultureInfo.InvariantCulture);
            }
            await next(http);
        });
        if (options.ClientRate > 0) app.UseRateLimiter();
    }

    private static bool NeedsKey(HttpContext http, ServeOptions options) =>
        options.ApiKeys.Count > 0 && (IsApi(http) || (options.MetricsNeedKey && http.Request.Path.StartsWithSegments("/metrics")));

    /// <summary>
    /// A request to the API: its path is under <c>/v1</c>, or routing matched it to a <c>/v1</c> endpoint (the
    /// second guards against any spelling of a path that routing accepts and a prefix test would not).
    /// </summary>
    private static bool IsApi(HttpContext http) =>
        http.Request.Path.StartsWithSegments("/v1")
        || http.GetEndpoint() is Microsoft.AspNetCore.Routing.RouteEndpoint { RoutePattern.RawText: { } route } && route.StartsWith("/v1", StringComparison.OrdinalIgnoreCase);

    /// <summary>The client a bucket belongs to: its key (checked already), else its address.</summary>
    private static string Client(HttpContext http) =>
        http.Items[ClientItem] as string ?? "address:" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown");

    /// <summary>The token of <c>Authorization: Bearer TOKEN</c> (the scheme in any case, RFC 9110); null when absent or another scheme.</summary>
    public static string? BearerToken(string? header)
    {
        if (header is null) return null;
        var value = header.AsSpan().Trim();
        if (value.Length <= 7 || !value[..7].Equals("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var token = value[7..].Trim();
        return token.Length == 0 ? null : token.ToString();
    }

    private static string Describe(HttpContext http) => http.Response.StatusCode switch
    {
        404 => $"no such route: {http.Request.Method} {http.Request.Path} (the API: POST /v1/captions, POST /v1/chat/completions, GET /v1/models)",
        405 => $"{http.Request.Method} is not allowed on {http.Request.Path}",
        int code => ReasonPhrases.GetReasonPhrase(code) is { Length: > 0 } reason ? reason : $"HTTP {code}",
    };

    /// <summary>Writes <paramref name="error"/> as OpenAI's error shape, with its Retry-After.</summary>
    public static Task WriteAsync(HttpContext http, ApiError error, bool statusAlreadySet = false)
    {
        if (!statusAlreadySet) http.Response.StatusCode = error.Status;
        if (error.RetryAfter is { } seconds) http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return http.Response.WriteAsJsonAsync(error.Body());
    }
}
