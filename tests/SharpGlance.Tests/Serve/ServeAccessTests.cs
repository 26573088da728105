using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SharpGlance.Server;

namespace SharpGlance.Tests.Serve;

/// <summary>
/// <c>glance serve</c> exposed: API keys, each client's token bucket, and clients that send too slowly — all
/// on loopback, against the tiny captioner.
/// </summary>
public class ServeAccessTests
{
    private static HttpRequestMessage Get(string path, string? authorization = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    private static async Task<JsonElement> AssertError(HttpResponseMessage response, HttpStatusCode status, string type)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal((int)status, error.GetProperty("code").GetInt32());
        return error;
    }

    [Fact]
    public async Task Without_a_key_or_with_a_wrong_one_the_api_is_401_and_with_a_key_200()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { ApiKeys = ApiKeys.Of(["first-key-123", "second-key-456"]) });
        var client = host.Client;
        var cancel = TestContext.Current.CancellationToken;
        var missing = await client.SendAsync(Get("/v1/models"), cancel);
        var error = await AssertError(missing, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.Contains("Authorization: Bearer", error.GetProperty("message").GetString());
        Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);
        await AssertError(await client.SendAsync(Get("/v1/models", "Bearer first-key-12"), cancel), HttpStatusCode.Unauthorized, "authentication_error");
        await AssertError(await client.SendAsync(Get("/v1/models", "Bearer first-key-1234"), cancel), HttpStatusCode.Unauthorized, "authentication_error");
        await AssertError(await client.SendAsync(Get("/v1/models", "Basic Zmlyc3Qta2V5LTEyMw=="), cancel), HttpStatusCode.Unauthorized, "authentication_error");
        await AssertError(await client.SendAsync(Get("/v1/models", "Bearer "), cancel), HttpStatusCode.Unauthorized, "authentication_error");
        // Each key works, the scheme in any case; a caption too.
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Get("/v1/models", "Bearer first-key-123"), cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Get("/v1/models", "bearer second-key-456"), cancel)).StatusCode);
        var form = new MultipartFormDataContent { { new ByteArrayContent(ServeHost.SmallPng()), "image", "image.png" } };
        var refused = new HttpRequestMessage(HttpMethod.Post, "/v1/captions?max_new_tokens=3") { Content = form };
        await AssertError(await client.SendAsync(refused, cancel), HttpStatusCode.Unauthorized, "authentication_error");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "second-key-456");
        Assert.Equal(HttpStatusCode.OK, (await host.PostFormAsync(ServeHost.SmallPng(), ("max_new_tokens", "3"))).StatusCode);
        Assert.Equal(1, host.Server.Batcher.Images);   // the refused request never reached the model

        // Probes and metrics stay open; the page knows it must ask for a key.
        client.DefaultRequestHeaders.Authorization = null;
        foreach (var open in new[] { "/healthz", "/readyz", "/metrics", "/" })
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(open, cancel)).StatusCode);
        Assert.Contains("\"auth\":true", await client.GetStringAsync("/", cancel));
        var metrics = await client.GetStringAsync("/metrics", cancel);
        Assert.Contains("status=\"401\"", metrics);
        Assert.DoesNotContain("first-key-123", metrics);
        Assert.DoesNotContain("second-key-456", metrics);
    }

    [Fact]
    public async Task Metrics_can_need_the_key_too()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { ApiKeys = ApiKeys.Of(["metrics-key"]), MetricsNeedKey = true });
        var cancel = TestContext.Current.CancellationToken;
        await AssertError(await host.Client.SendAsync(Get("/metrics"), cancel), HttpStatusCode.Unauthorized, "authentication_error");
        var metrics = await host.Client.SendAsync(Get("/metrics", "Bearer metrics-key"), cancel);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("glance_limit_client_burst", await metrics.Content.ReadAsStringAsync(cancel));
        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/healthz", cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/readyz", cancel)).StatusCode);
    }

    [Fact]
    public void Keys_are_compared_by_digest_and_never_printed()
    {
        var keys = ApiKeys.Of(["alpha-1", "beta-2", "alpha-1"]);
        Assert.Equal(2, keys.Count);   // a repeated key counts once
        Assert.Equal(0, keys.Match("alpha-1"));
        Assert.Equal(1, keys.Match("beta-2"));
        Assert.Equal(-1, keys.Match("alpha-"));
        Assert.Equal(-1, keys.Match("alpha-1 "));
        Assert.Equal(-1, keys.Match(""));
        var options = new ServeOptions { ModelFolder = "m", ModelId = "m", ApiKeys = keys };
        Assert.DoesNotContain("alpha-1", options.ToString());
        Assert.Contains("2 API keys", options.ToString());
        Assert.Equal("the key", Assert.Throws<GlanceException>(() => ApiKeys.Of(["ok", " "], "the key")).Message.Split(':')[0]);
        Assert.Null(ServerAccess.BearerToken("Basic abc"));
        Assert.Null(ServerAccess.BearerToken("Bearer"));
        Assert.Equal("abc", ServerAccess.BearerToken("BEARER  abc "));
    }

    [Theory]
    [InlineData("0.0.0.0", false, true)]
    [InlineData("::", false, true)]
    [InlineData("192.168.1.10", false, true)]
    [InlineData("0.0.0.0", true, false)]
    [InlineData("127.0.0.1", false, false)]
    [InlineData("localhost", false, false)]
    [InlineData("::1", false, false)]
    public void Binding_beyond_loopback_without_a_key_warns(string host, bool withKey, bool warns)
    {
        var options = new ServeOptions { ModelFolder = "m", ModelId = "m", Host = host, ApiKeys = withKey ? ApiKeys.Of(["k"]) : ApiKeys.None };
        var warning = options.ExposureWarning();
        Assert.Equal(warns, warning is not null);
        if (warns) Assert.Contains($"listening on {host} without an API key", warning);
    }

    private static MultipartFormDataContent Form() => new() { { new ByteArrayContent(ServeHost.SmallPng()), "image", "image.png" } };

    private static async Task<HttpResponseMessage> Caption(HttpClient client, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/captions?max_new_tokens=3") { Content = Form() };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await client.SendAsync(request);
    }

    /// <summary>Sends <paramref name="count"/> requests at once; then checks each 429 (JSON, Retry-After) and returns the statuses.</summary>
    private static async Task<List<HttpStatusCode>> Flood(HttpClient client, int count, string? key = null)
    {
        var answers = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => Caption(client, key)));
        foreach (var refused in answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests))
        {
            await AssertError(refused, HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
            Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {refused.Headers.RetryAfter}");
        }
        return answers.Select(a => a.StatusCode).ToList();
    }

    [Fact]
    public async Task A_greedy_key_gets_429s_while_a_polite_key_keeps_getting_200s()
    {
        // Buckets of 3, refilled at one request per 100 s: within this test a client has its 3 and no more.
        await using var host = await ServeHost.TinyAsync(o => o with { ApiKeys = ApiKeys.Of(["greedy", "polite"]), ClientBurst = 3, ClientRate = 0.01 });
        var greedy = await Flood(host.Client, 10, "greedy");
        Assert.Equal(3, greedy.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(7, greedy.Count(s => s == HttpStatusCode.TooManyRequests));
        // The polite client's bucket is its own: its requests, sent after the flood and between more of it, all pass.
        for (int i = 0; i < 3; i++)
        {
            var more = Flood(host.Client, 2, "greedy");
            Assert.Equal(HttpStatusCode.OK, (await Caption(host.Client, "polite")).StatusCode);
            Assert.All(await more, s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        }
        var metrics = await host.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Matches(@"glance_rate_limited_total\{[^}]*\} 13\b", metrics);
        Assert.Matches(@"glance_limit_client_burst\{[^}]*\} 3\b", metrics);
        Assert.Matches(@"glance_limit_client_rate_per_second\{[^}]*\} 0.01\b", metrics);
    }

    /// <summary>A client whose connections come from <paramref name="address"/> (any 127.x.y.z is this machine).</summary>
    private static HttpClient ClientFrom(Uri server, string address) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancel) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
            await socket.ConnectAsync(context.DnsEndPoint, cancel);
            return new NetworkStream(socket, ownsSocket: true);
        },
    }) { BaseAddress = server, Timeout = TimeSpan.FromMinutes(2) };

    [Fact]
    public async Task Without_keys_each_address_has_its_own_bucket()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { ClientBurst = 2, ClientRate = 0.01 });
        using var greedy = ClientFrom(host.Server.Address, "127.0.0.2");
        using var polite = ClientFrom(host.Server.Address, "127.0.0.3");
        var flood = await Flood(greedy, 6);
        Assert.Equal(2, flood.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(4, flood.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Equal(HttpStatusCode.OK, (await Caption(polite)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await Caption(greedy)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Caption(polite)).StatusCode);
        // Health is never limited.
        Assert.All(await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => greedy.GetAsync("/healthz"))), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }

    /// <summary>
    /// Sends <paramref name="head"/> and then <paramref name="trickle"/> one byte every 100 ms (10 bytes a
    /// second) until the server answers or closes the connection; returns how long that took and the answer's
    /// status (0 when it closed without one), or null when the whole trickle was sent and the server still waited.
    /// </summary>
    private static async Task<(TimeSpan Elapsed, int Status)?> Trickle(Uri server, byte[] head, byte[] trickle)
    {
        using var socket = await RawHttp.ConnectAsync(server);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await socket.SendAsync(head);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        foreach (var b in trickle)
        {
            if (socket.Poll(0, SelectMode.SelectRead))
            {
                int n;
                try { while (socket.Available > 0 && (n = socket.Receive(buffer)) > 0) received.Write(buffer, 0, n); }
                catch (SocketException) { }
                return (clock.Elapsed, RawHttp.Parse(received.ToArray()).Status);
            }
            try { await socket.SendAsync(new[] { b }); }
            catch (SocketException) { return (clock.Elapsed, 0); }
            await Task.Delay(100);
        }
        return null;
    }

    [Fact]
    public async Task A_client_that_trickles_is_cut_off_while_the_others_are_served()
    {
        var timeout = TimeSpan.FromSeconds(2);
        await using var host = await ServeHost.TinyAsync(o => o with { HeadersTimeout = timeout, BodyGrace = timeout, MinBodyBytesPerSecond = 100, ClientRate = 0 });
        var server = host.Server.Address;
        // Kestrel checks its timeouts once a second: "within the timeout" is within it plus that tick (and some
        // scheduling on a busy machine).
        var cutOff = timeout + TimeSpan.FromSeconds(3);

        // The headers at 10 bytes a second: 300 bytes would take 30 s.
        var slowHeaders = Trickle(server, Encoding.ASCII.GetBytes($"POST /v1/captions HTTP/1.1\r\nHost: {server.Authority}\r\n"),
            Encoding.ASCII.GetBytes("X-Slow: " + new string('a', 290) + "\r\n\r\n"));
        // A body at 10 bytes a second, below the 100 a second the server wants after its grace period.
        var png = ServeHost.SmallPng();
        var slowBody = Trickle(server, RawHttp.Head("POST", "/v1/captions", server, "Content-Type: image/png", $"Content-Length: {png.Length + 300}"),
            [.. png, .. new byte[300]]);
        // Meanwhile a polite client is answered, again and again.
        var polite = new List<HttpStatusCode>();
        while (!(slowHeaders.IsCompleted && slowBody.IsCompleted))
        {
            polite.Add((await host.PostFormAsync(png, ("max_new_tokens", "3"))).StatusCode);
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
        var headers = await slowHeaders ?? throw new Xunit.Sdk.XunitException("the server waited for 30 s of trickled headers");
        var body = await slowBody ?? throw new Xunit.Sdk.XunitException("the server waited for 30 s of a trickled body");
        Assert.True(headers.Elapsed < cutOff, $"the trickled headers were cut off after {headers.Elapsed.TotalSeconds:F1} s (timeout {timeout.TotalSeconds} s)");
        Assert.True(body.Elapsed < timeout + cutOff, $"the trickled body was cut off after {body.Elapsed.TotalSeconds:F1} s (grace {timeout.TotalSeconds} s, then 100 B/s)");
        Assert.Contains(headers.Status, new[] { 0, 408 });
        Assert.Contains(body.Status, new[] { 0, 408 });
        Assert.NotEmpty(polite);
        Assert.All(polite, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(HttpStatusCode.OK, (await host.PostFormAsync(png, ("max_new_tokens", "3"))).StatusCode);
    }
}
