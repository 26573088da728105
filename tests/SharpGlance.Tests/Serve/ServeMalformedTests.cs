using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SharpGlance.Server;
using SharpGlance.Tests.Preprocessing;

namespace SharpGlance.Tests.Serve;

/// <summary>
/// A generated suite of malformed requests — unknown routes and methods, bad options, bad images on every
/// transport, broken multipart, wrong content types, broken JSON and wrong JSON types, bad base64, bodies cut
/// short (in their content, or below their Content-Length and then stalled), oversized bodies, bad keys — each sent over a bare socket (<see cref="RawHttp"/>) to one server.
/// Every answer must be a 4xx with OpenAI's JSON error; none a 5xx; the server answers normally after.
/// (Requests that break HTTP/1.1 framing itself — a bad request line, a NUL in the path — are answered by
/// Kestrel before any of our code runs, with a bare 400; and a client that half-closes its connection is
/// taken by Kestrel as gone. Neither is part of this suite.)
/// </summary>
public class ServeMalformedTests
{
    private const string Key = "suite-key-0123456789";

    private sealed record Case(string Name, byte[] Request);

    private sealed class Builder(Uri server)
    {
        public List<Case> Cases { get; } = [];

        /// <summary>A request with the key (unless <paramref name="authorization"/> says otherwise) and a Content-Length for its body.</summary>
        public void Add(string name, string method, string target, byte[]? body = null, string? contentType = null,
            string? authorization = "Bearer " + Key, long? contentLength = null)
        {
            var headers = new List<string>();
            if (authorization is not null) headers.Add("Authorization: " + authorization);
            if (contentType is not null) headers.Add("Content-Type: " + contentType);
            if (body is not null || contentLength is not null) headers.Add($"Content-Length: {contentLength ?? body!.Length}");
            Cases.Add(new Case(name, [.. RawHttp.Head(method, target, server, [.. headers]), .. body ?? []]));
        }
    }

    private static readonly byte[] Png = ServeHost.SmallPng(77);

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>A multipart/form-data body: each part's headers and content, then the closing boundary (unless left off).</summary>
    private static byte[] Multipart(string boundary, IEnumerable<(string Headers, byte[] Content)> parts, bool close = true)
    {
        var body = new MemoryStream();
        foreach (var (headers, content) in parts)
        {
            body.Write(Utf8($"--{boundary}\r\n{headers}\r\n\r\n"));
            body.Write(content);
            body.Write("\r\n"u8);
        }
        if (close) body.Write(Utf8($"--{boundary}--\r\n"));
        return body.ToArray();
    }

    private static (string Headers, byte[] Content) File(string name, byte[] content, string type = "image/png") =>
        ($"Content-Disposition: form-data; name=\"{name}\"; filename=\"x.png\"\r\nContent-Type: {type}", content);

    private static (string Headers, byte[] Content) Field(string name, string value) =>
        ($"Content-Disposition: form-data; name=\"{name}\"", Utf8(value));

    private static string Chat(string imageUrlJson, string extra = "") =>
        $$"""{"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":"caption"},{"type":"image_url","image_url":{{imageUrlJson}}}]}]{{extra}}}""";

    private static string DataUri(byte[] bytes) => $$"""{"url":"data:image/png;base64,{{Convert.ToBase64String(bytes)}}"}""";

    private static List<Case> Generate(Uri server)
    {
        var b = new Builder(server);
        const string boundary = "----suite-boundary-7MA4YWxkTrZu0gW";
        const string form = "multipart/form-data; boundary=" + boundary;
        byte[] Form(params (string, byte[])[] parts) => Multipart(boundary, parts);

        // Unknown routes, every method; wrong methods on the real routes.
        string[] methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
        string[] unknown = ["/v2/captions", "/v1/caption", "/v1/captions/extra", "/v1/chat", "/v1/chat/completion", "/v1/models/tiny/x",
            "/admin", "/.env", "/metrics/extra", "/healthz/x", "/index.html", "/v1", "/v1/", "/v1/captions%20", "/%2e%2e/%2e%2e/etc/passwd"];
        foreach (var path in unknown)
            foreach (var method in methods)
                b.Add($"{method} {path}", method, path, method is "POST" or "PUT" or "PATCH" ? Png : null, method is "GET" or "DELETE" ? null : "image/png");
        foreach (var (path, allowed) in new[] { ("/v1/captions", "POST"), ("/v1/chat/completions", "POST"), ("/v1/models", "GET"), ("/healthz", "GET"), ("/readyz", "GET"), ("/", "GET") })
            foreach (var method in methods.Append("OPTIONS").Where(m => m != allowed))
                b.Add($"{method} {path}", method, path, method is "POST" or "PUT" or "PATCH" ? Utf8("{}") : null, method is "POST" or "PUT" or "PATCH" ? "application/json" : null);

        // Bad option values, in the query and as form fields, with a good image.
        string[] badIntegers = ["-1", "abc", "99999999999", "2147483648", "-2147483649", "1.5", "1e3", "0x10", "NaN", "++1", "1,000", "١٢"];
        var badValues = new Dictionary<string, string[]>
        {
            ["rounds"] = [.. badIntegers, "1", "9", "100"],          // the tiny model has no second glance: any round is refused
            ["beams"] = [.. badIntegers, "0", "33", "1000000"],
            ["max_new_tokens"] = [.. badIntegers, "0", "100000000"],
            ["refine"] = ["maybe", "2", "-1", "truee", "yes please", "true"],
        };
        foreach (var (name, values) in badValues)
            foreach (var value in values)
            {
                b.Add($"query {name}={value}", "POST", $"/v1/captions?{name}={Uri.EscapeDataString(value)}", Form(File("image", Png)), form);
                b.Add($"form field {name}={value}", "POST", "/v1/captions", Form(File("image", Png), Field(name, value)), form);
            }

        // Bad images on every transport.
        var random = TestImages.RandomBytes(5000, 3);
        var bomb = TestImages.Png(4, 4, new byte[4 * 4 * 3], declaredWidth: 30000, declaredHeight: 30000);
        var images = new (string Name, byte[] Bytes)[]
        {
            ("empty", []), ("one byte", [0x89]), ("random 100", random[..100]), ("random 5000", random),
            ("png cut at 8", Png[..8]), ("png cut at 16", Png[..16]), ("png cut at 33", Png[..33]), ("png cut at 50", Png[..50]), ("png cut at half", Png[..(Png.Length / 2)]),
            ("png 900 megapixels", bomb), ("gif header", Utf8("GIF89a")), ("jpeg SOI", [0xFF, 0xD8, 0xFF]), ("bmp junk", [.. Utf8("BM"), .. random[..60]]),
            ("webp junk", [.. Utf8("RIFF"), 0x10, 0, 0, 0, .. Utf8("WEBPVP8 "), .. random[..20]]), ("text", Utf8("hello, this is text")),
            ("html", Utf8("<html><body>no</body></html>")), ("zip", [.. Utf8("PK"), 3, 4, .. random[..40]]),
        };
        foreach (var (name, bytes) in images)
        {
            b.Add($"multipart image: {name}", "POST", "/v1/captions", Form(File("image", bytes)), form);
            b.Add($"multipart other field: {name}", "POST", "/v1/captions", Form(File("file", bytes, "application/octet-stream")), form);
            b.Add($"raw image/png: {name}", "POST", "/v1/captions", bytes, "image/png");
            b.Add($"raw octet-stream: {name}", "POST", "/v1/captions?beams=1", bytes, "application/octet-stream");
            b.Add($"chat data URI: {name}", "POST", "/v1/chat/completions", Utf8(Chat(DataUri(bytes))), "application/json");
        }

        // Broken multipart.
        var good = Form(File("image", Png));
        b.Add("multipart without boundary", "POST", "/v1/captions", good, "multipart/form-data");
        b.Add("multipart with empty boundary", "POST", "/v1/captions", good, "multipart/form-data; boundary=");
        b.Add("multipart with another boundary", "POST", "/v1/captions", good, "multipart/form-data; boundary=something-else");
        b.Add("multipart boundary of 200 characters", "POST", "/v1/captions", Multipart(new string('b', 200), [File("image", Png)]), "multipart/form-data; boundary=" + new string('b', 200));
        b.Add("multipart without closing boundary", "POST", "/v1/captions", Multipart(boundary, [File("image", Png)], close: false), form);
        b.Add("multipart cut inside the image", "POST", "/v1/captions", good[..(good.Length / 2)], form);
        b.Add("multipart cut inside the part headers", "POST", "/v1/captions", good[..60], form);
        b.Add("multipart part without Content-Disposition", "POST", "/v1/captions", Multipart(boundary, [("Content-Type: image/png", Png)]), form);
        b.Add("multipart image as a text field", "POST", "/v1/captions", Form(Field("image", Encoding.Latin1.GetString(Png))), form);
        b.Add("multipart only text fields", "POST", "/v1/captions", Form(Field("refine", "false"), Field("beams", "1")), form);
        b.Add("multipart with no parts", "POST", "/v1/captions", Utf8($"--{boundary}--\r\n"), form);
        b.Add("multipart of blank lines", "POST", "/v1/captions", Utf8("\r\n\r\n\r\n\r\n"), form);
        b.Add("multipart empty body", "POST", "/v1/captions", [], form);
        b.Add("multipart garbage", "POST", "/v1/captions", random[..300], form);
        b.Add("multipart part header line of 20 KB", "POST", "/v1/captions", Multipart(boundary, [("X-Long: " + new string('x', 20000), Png)]), form);
        b.Add("multipart 1,100 fields", "POST", "/v1/captions", Form([.. Enumerable.Range(0, 1100).Select(i => Field($"f{i}", "1"))]), form);
        b.Add("multipart field name of 3,000 characters", "POST", "/v1/captions", Form(Field(new string('n', 3000), "1")), form);
        b.Add("multipart/mixed", "POST", "/v1/captions", good, "multipart/mixed; boundary=" + boundary);
        b.Add("urlencoded image", "POST", "/v1/captions", Utf8("image=" + Uri.EscapeDataString(Convert.ToBase64String(Png))), "application/x-www-form-urlencoded");
        b.Add("urlencoded garbage", "POST", "/v1/captions", Utf8("%%%=&&&=%zz"), "application/x-www-form-urlencoded");
        b.Add("urlencoded 1,100 fields", "POST", "/v1/captions", Utf8(string.Join("&", Enumerable.Range(0, 1100).Select(i => $"f{i}=1"))), "application/x-www-form-urlencoded");

        // Wrong content types.
        foreach (var type in new[] { "application/json", "text/plain", "application/xml", "garbage", "text/html; charset=utf-8", "image/png; boundary=x" })
        {
            b.Add($"captions: {type} with JSON", "POST", "/v1/captions", Utf8(Chat(DataUri(Png))), type);
            if (!type.StartsWith("application/json", StringComparison.Ordinal))
                b.Add($"chat: {type}", "POST", "/v1/chat/completions", Utf8(Chat(DataUri(Png))), type);
        }
        b.Add("chat: multipart", "POST", "/v1/chat/completions", good, form);
        b.Add("chat: no content type", "POST", "/v1/chat/completions", Utf8(Chat(DataUri(Png))));

        // Broken JSON and wrong JSON types on the chat route.
        var valid = Chat(DataUri(Png));
        var json = new List<(string Name, string Body)>
        {
            ("not JSON", "hello"), ("empty", ""), ("open brace", "{"), ("open bracket", "["), ("nul", "nul"), ("messages cut", "{\"messages\":"),
            ("array", "[]"), ("string", "\"messages\""), ("number", "42"), ("null", "null"), ("true", "true"),
            ("no messages", "{}"), ("messages null", "{\"messages\":null}"), ("messages object", "{\"messages\":{}}"), ("messages string", "{\"messages\":\"x\"}"),
            ("messages number", "{\"messages\":1}"), ("messages empty", "{\"messages\":[]}"), ("messages [1]", "{\"messages\":[1]}"), ("messages [{}]", "{\"messages\":[{}]}"),
            ("user without content", "{\"messages\":[{\"role\":\"user\"}]}"), ("user with text only", "{\"messages\":[{\"role\":\"user\",\"content\":\"a cat\"}]}"),
            ("content empty", "{\"messages\":[{\"role\":\"user\",\"content\":[]}]}"), ("image part without image_url", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}"),
            ("image from the assistant", valid.Replace("\"user\"", "\"assistant\"")), ("image from the system", valid.Replace("\"user\"", "\"system\"")),
            ("image_url null", Chat("null")), ("image_url number", Chat("1")), ("image_url empty object", Chat("{}")), ("url number", Chat("{\"url\":1}")),
            ("url empty", Chat("{\"url\":\"\"}")), ("url http", Chat("{\"url\":\"http://127.0.0.1:1/a.png\"}")), ("url file", Chat("{\"url\":\"file:///etc/passwd\"}")),
            ("data URI without base64", Chat("{\"url\":\"data:image/png,abc\"}")), ("data URI without comma", Chat("{\"url\":\"data:image/png;base64\"}")),
            ("base64 with !", Chat("{\"url\":\"data:image/png;base64,!!!!\"}")), ("base64 of bad length", Chat("{\"url\":\"data:image/png;base64,AAAAA\"}")),
            ("base64 of =", Chat("{\"url\":\"data:image/png;base64,=====\"}")), ("base64 with spaces inside", Chat("{\"url\":\"data:image/png;base64,iVBO Rw0K\"}")),
            ("base64 url-safe alphabet", Chat("{\"url\":\"data:image/png;base64," + Convert.ToBase64String(random[..99]).Replace('+', '-').Replace('/', '_') + "\"}")),
            ("base64 of text", Chat(DataUri(Utf8("not an image at all")))),
            ("n 2", valid[..^1] + ",\"n\":2}"), ("n string", valid[..^1] + ",\"n\":\"x\"}"), ("refine string", valid[..^1] + ",\"refine\":\"yes\"}"),
            ("refine 1", valid[..^1] + ",\"refine\":1}"), ("stream string", valid[..^1] + ",\"stream\":\"true\"}"), ("stream 1", valid[..^1] + ",\"stream\":1}"),
            ("nested 5,000 deep", new string('[', 5000) + new string(']', 5000)), ("object nested 100 deep", string.Concat(Enumerable.Repeat("{\"a\":", 100)) + "1" + new string('}', 100)),
            ("trailing garbage", valid + "xyz"), ("two objects", valid + valid), ("single quotes", valid.Replace('"', '\'')), ("comment", "/* hi */" + valid),
        };
        for (int cut = 1; cut <= 15; cut++) json.Add(($"cut at {cut}/16", valid[..(valid.Length * cut / 16)]));
        foreach (var field in new[] { "max_tokens", "max_completion_tokens", "beams", "rounds" })
            foreach (var value in new[] { "-1", "1e400", "1.5", "\"10\"", "99999999999", "true", "[]", "{}", "-2147483649" })
                json.Add(($"{field} {value}", valid[..^1] + $",\"{field}\":{value}}}"));
        foreach (var (name, body) in json) b.Add($"chat JSON: {name}", "POST", "/v1/chat/completions", Utf8(body), "application/json");
        b.Add("chat JSON: invalid UTF-8", "POST", "/v1/chat/completions", [.. Utf8("{\"messages\":\""), 0xC3, 0x28, 0xFF, .. Utf8("\"}")], "application/json");
        b.Add("chat JSON: UTF-16", "POST", "/v1/chat/completions", Encoding.Unicode.GetBytes(valid), "application/json");

        // Truncated bodies: fewer bytes than Content-Length, then the client sends nothing more (and waits):
        // cut off once the body timeout has passed, with 408.
        foreach (var (name, body, type, target) in new[]
        {
            ("multipart", good, form, "/v1/captions"), ("raw image", Png, "image/png", "/v1/captions"), ("chat JSON", Utf8(valid), "application/json", "/v1/chat/completions"),
        })
            foreach (var fraction in new[] { 0, 5 })
                b.Add($"truncated {name} at {fraction}/10", "POST", target, body[..(body.Length * fraction / 10)], type, contentLength: body.Length);

        // Bodies declared larger than the limit (413 before they are read).
        foreach (var (name, type, target) in new[] { ("raw image", "image/png", "/v1/captions"), ("multipart", form, "/v1/captions"), ("chat JSON", "application/json", "/v1/chat/completions") })
            b.Add($"{name} declared 2 GB", "POST", target, good[..100], type, contentLength: 2L << 30);

        // Keys.
        foreach (var (name, authorization) in new[]
        {
            ("no key", (string?)null), ("wrong key", "Bearer wrong"), ("key cut short", "Bearer " + Key[..^1]), ("key in upper case", "Bearer " + Key.ToUpperInvariant()),
            ("bearer without key", "Bearer"), ("basic", "Basic " + Convert.ToBase64String(Utf8("user:" + Key))), ("token scheme", "Token " + Key), ("key alone", Key),
            ("empty header", ""), ("key twice", "Bearer " + Key + " " + Key),
        })
        {
            b.Add($"captions, {name}", "POST", "/v1/captions", good, form, authorization);
            b.Add($"chat, {name}", "POST", "/v1/chat/completions", Utf8(valid), "application/json", authorization);
            b.Add($"models, {name}", "GET", "/v1/models", authorization: authorization);
        }
        // Other spellings of the API's paths, without a key: never let through.
        foreach (var path in new[] { "//v1/captions", "/v1//captions", "/./v1/captions", "/x/../v1/captions", "/V1/captions", "/v1/captions/", "/v1%2Fcaptions", "/%761/captions" })
            b.Add($"no key, {path}", "POST", path, good, form, authorization: null);
        return b.Cases;
    }

    [Fact]
    public async Task Hundreds_of_malformed_requests_are_each_a_4xx_with_a_json_error_and_the_server_lives_on()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { ApiKeys = ApiKeys.Of([Key]), ClientRate = 0, MaxImageBytes = 1 << 20, BodyGrace = TimeSpan.FromSeconds(2) });
        var cases = Generate(host.Server.Address);
        Assert.True(cases.Count >= 300, $"only {cases.Count} cases");
        Assert.Equal(cases.Count, cases.Select(c => c.Name).Distinct().Count());
        var failures = new List<string>();
        var statuses = new SortedDictionary<int, int>();
        foreach (var c in cases)
        {
            var answer = await RawHttp.SendAsync(host.Server.Address, c.Request);
            statuses[answer.Status] = statuses.GetValueOrDefault(answer.Status) + 1;
            string? problem = answer.Status is < 400 or > 499 ? $"status {answer.Status}"
                : !answer.Headers.Contains("Content-Type: application/json", StringComparison.OrdinalIgnoreCase) ? "not JSON"
                : ErrorMessage(answer.Body) is not { Length: > 0 } message ? "no error message"
                : message.Contains('\n') || message.Contains("   at ", StringComparison.Ordinal) ? "a multi-line message" : null;
            if (problem is not null) failures.Add($"{c.Name}: {problem}: {answer.Body[..Math.Min(200, answer.Body.Length)]}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} answers were not a 4xx with a JSON error:\n" + string.Join("\n", failures));
        TestContext.Current.TestOutputHelper?.WriteLine($"{cases.Count} requests; answers by status: " + string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}")));
        Assert.True(statuses.Count >= 5, "answers by status: " + string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}")));

        // Alive and well after all of them.
        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
        host.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        Assert.Equal(HttpStatusCode.OK, (await host.PostFormAsync(Png, ("max_new_tokens", "3"))).StatusCode);
        var metrics = await host.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.DoesNotContain("status=\"500\"", metrics);
        // Unknown routes are counted under one label, not one series each.
        Assert.DoesNotContain("route=\"/v1/caption\"", metrics);
    }

    private static string? ErrorMessage(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("error", out var e) && e.TryGetProperty("message", out var m) ? m.GetString() : null;
        }
        catch (JsonException) { return null; }
    }
}
