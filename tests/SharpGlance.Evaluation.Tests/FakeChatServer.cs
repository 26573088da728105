using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace SharpGlance.Tests.Evaluation;

/// <summary>An HTTP reply the fake endpoint sends: status, extra headers, body, and a delay before it.</summary>
public sealed record FakeReply(int Status, string Body, TimeSpan Delay = default, params (string Name, string Value)[] Headers)
{
    /// <summary>A chat completion whose message content is <paramref name="content"/>.</summary>
    public static FakeReply Chat(string content) =>
        new(200, new JsonObject { ["choices"] = new JsonArray(new JsonObject { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content } }) }.ToJsonString());
}

/// <summary>
/// A minimal OpenAI-compatible endpoint on 127.0.0.1 for tests: it parses each POST body as JSON, asks
/// <c>respond(body, n)</c> for the reply (n counts requests with the same key, so "fail twice, then answer"
/// is easy), and closes the connection. It serves a bounded number of requests and stops on Dispose.
/// </summary>
public sealed class FakeChatServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<JsonNode, int, FakeReply> _respond;
    private readonly Func<JsonNode, string> _key;
    private readonly Dictionary<string, int> _counts = new();
    private readonly List<JsonNode> _requests = [];
    private readonly Task _loop;

    public FakeChatServer(Func<JsonNode, int, FakeReply> respond, Func<JsonNode, string>? key = null, int maxRequests = 500)
    {
        _respond = respond;
        _key = key ?? (_ => "");
        _listener.Start();
        _loop = Task.Run(() => AcceptLoop(maxRequests));
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/v1";

    public IReadOnlyList<JsonNode> Requests
    {
        get { lock (_requests) return _requests.ToList(); }
    }

    private async Task AcceptLoop(int maxRequests)
    {
        var handlers = new List<Task>();
        try
        {
            for (int i = 0; i < maxRequests && !_stop.IsCancellationRequested; i++)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                handlers.Add(Task.Run(() => Serve(client)));
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
        await Task.WhenAll(handlers);
    }

    private async Task Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var (body, ok) = await ReadRequest(stream);
                if (!ok) return;
                var json = JsonNode.Parse(body)!;
                int n;
                lock (_requests)
                {
                    _requests.Add(json);
                    var key = _key(json);
                    n = _counts[key] = _counts.GetValueOrDefault(key) + 1;
                }
                var reply = _respond(json, n);
                if (reply.Delay > TimeSpan.Zero) await Task.Delay(reply.Delay, _stop.Token);
                var payload = Encoding.UTF8.GetBytes(reply.Body);
                var head = new StringBuilder($"HTTP/1.1 {reply.Status} {(reply.Status == 200 ? "OK" : "Error")}\r\n")
                    .Append("Content-Type: application/json\r\nConnection: close\r\n")
                    .Append($"Content-Length: {payload.Length}\r\n");
                foreach (var (name, value) in reply.Headers) head.Append($"{name}: {value}\r\n");
                head.Append("\r\n");
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
                await stream.WriteAsync(payload, _stop.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        }
    }

    /// <summary>Reads one request's headers and Content-Length body.</summary>
    private async Task<(string Body, bool Ok)> ReadRequest(NetworkStream stream)
    {
        var buffer = new List<byte>();
        var chunk = new byte[8192];
        int headerEnd = -1, contentLength = 0;
        while (true)
        {
            int read = await stream.ReadAsync(chunk, _stop.Token);
            if (read == 0) return ("", false);
            buffer.AddRange(chunk.AsSpan(0, read).ToArray());
            if (headerEnd < 0)
            {
                var text = Encoding.ASCII.GetString(buffer.ToArray());
                headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (headerEnd < 0) continue;
                foreach (var line in text[..headerEnd].Split("\r\n"))
                    if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                        contentLength = int.Parse(line["Content-Length:".Length..].Trim());
                headerEnd += 4;
            }
            if (buffer.Count - headerEnd >= contentLength)
                return (Encoding.UTF8.GetString(buffer.ToArray(), headerEnd, contentLength), true);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
