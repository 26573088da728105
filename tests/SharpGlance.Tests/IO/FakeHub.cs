using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace SharpGlance.Tests.IO;

/// <summary>How <see cref="FakeHub"/> spoils one GET of a file: cut it off halfway, or flip a byte.</summary>
public enum HubFault { None, Truncate, Corrupt }

/// <summary>A request the fake hub received: method, path and the headers the tests look at.</summary>
public sealed record HubRequest(string Method, string Path, string? Range, string? Authorization);

/// <summary>
/// A Hugging Face hub on 127.0.0.1 for tests, serving one repository's files in the hub's URL layout:
/// <c>/api/models/{repo}/revision/{rev}</c> (sha and siblings), <c>/{repo}/resolve/{rev}/{file}</c> with the
/// hub's headers (<c>X-Repo-Commit</c>; <c>ETag</c> = git blob sha1 for small files; for <c>*.safetensors</c>, LFS
/// files, a 302 to <c>/cdn/{sha256}</c> with <c>X-Linked-Etag</c> and <c>X-Linked-Size</c>), HTTP Range, an
/// optional bearer token, and faults per GET. One request per connection; it stops on Dispose.
/// </summary>
public sealed class FakeHub : IDisposable
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, byte[]> _files;
    private readonly string _repo;
    private readonly List<HubRequest> _requests = [];
    private readonly Dictionary<string, int> _gets = new();
    private readonly Task _loop;

    /// <param name="fault">The fault for the n-th GET (1-based) of a file's bytes.</param>
    public FakeHub(string repo, IReadOnlyDictionary<string, byte[]> files, string? token = null, bool api = true, Func<string, int, HubFault>? fault = null)
    {
        _repo = repo;
        _files = new(files);
        Token = token;
        Api = api;
        Fault = fault ?? ((_, _) => HubFault.None);
        _listener.Start();
        _loop = Task.Run(AcceptLoop);
    }

    /// <summary>A hub serving the files of a model folder.</summary>
    public static FakeHub ForFolder(string repo, string folder, string? token = null, bool api = true, Func<string, int, HubFault>? fault = null) =>
        new(repo, Directory.GetFiles(folder).ToDictionary(f => Path.GetFileName(f) ?? f, File.ReadAllBytes), token, api, fault);

    public string Endpoint => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
    public string? Token { get; }
    public bool Api { get; }
    public Func<string, int, HubFault> Fault { get; }

    public IReadOnlyList<HubRequest> Requests
    {
        get { lock (_requests) return _requests.ToList(); }
    }

    public static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal) || file.EndsWith(".bin", StringComparison.Ordinal);
    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
    public static string GitSha1(byte[] bytes) => Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {bytes.Length}\0"), .. bytes]));
    public string ETag(string file) => IsLfs(file) ? Sha256(_files[file]) : GitSha1(_files[file]);

    private async Task AcceptLoop()
    {
        var handlers = new List<Task>();
        try
        {
            for (int i = 0; i < 1000 && !_stop.IsCancellationRequested; i++)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                handlers.Add(Task.Run(() => Serve(client)));
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
        await Task.WhenAll(handlers);
    }

    private void Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
            var requestLine = reader.ReadLine()?.Split(' ');
            if (requestLine is not { Length: 3 }) return;
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (string? line; !string.IsNullOrEmpty(line = reader.ReadLine());)
                if (line.IndexOf(':') is var colon and > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            string method = requestLine[0], path = Uri.UnescapeDataString(requestLine[1]);
            lock (_requests) _requests.Add(new HubRequest(method, path, headers.GetValueOrDefault("Range"), headers.GetValueOrDefault("Authorization")));
            Respond(stream, method, path, headers);
        }
        catch (IOException) { }
    }

    private void Respond(Stream stream, string method, string path, Dictionary<string, string> headers)
    {
        if (path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            // The CDN: no token asked, the bytes by sha256.
            var file = _files.Keys.FirstOrDefault(f => IsLfs(f) && Sha256(_files[f]) == path[5..]);
            if (file is null) Write(stream, 404, [], "not found"u8.ToArray());
            else SendBytes(stream, method, file, headers, []);
            return;
        }
        if (Token is not null && headers.GetValueOrDefault("Authorization") != $"Bearer {Token}")
        {
            Write(stream, 401, [], "Invalid credentials"u8.ToArray());
            return;
        }
        string apiPrefix = $"/api/models/{_repo}/revision/", resolvePrefix = $"/{_repo}/resolve/";
        if (path.StartsWith(apiPrefix, StringComparison.Ordinal) && Api)
        {
            var info = new JsonObject { ["id"] = _repo, ["sha"] = Commit, ["siblings"] = new JsonArray([.. _files.Keys.Union(["README.md", "pytorch_model.bin", "training_args.bin"]).Select(f => (JsonNode)new JsonObject { ["rfilename"] = f })]) };
            Write(stream, 200, [("Content-Type", "application/json")], Encoding.UTF8.GetBytes(info.ToJsonString()));
            return;
        }
        if (path.StartsWith(resolvePrefix, StringComparison.Ordinal))
        {
            var rest = path[resolvePrefix.Length..];
            var file = rest[(rest.IndexOf('/') + 1)..];
            if (!_files.TryGetValue(file, out var bytes))
            {
                Write(stream, 404, [("X-Error-Code", "EntryNotFound")], "Entry not found"u8.ToArray());
                return;
            }
            (string, string)[] hub = [("X-Repo-Commit", Commit)];
            if (IsLfs(file))
                Write(stream, 302, [.. hub, ("X-Linked-Etag", $"\"{Sha256(bytes)}\""), ("X-Linked-Size", bytes.Length.ToString()), ("Location", $"{Endpoint}/cdn/{Sha256(bytes)}")], []);
            else
                SendBytes(stream, method, file, headers, [.. hub, ("ETag", $"\"{GitSha1(bytes)}\"")]);
            return;
        }
        Write(stream, 404, [], "not found"u8.ToArray());
    }

    /// <summary>A file's bytes (from a Range's start), spoiled as <see cref="Fault"/> says for this GET.</summary>
    private void SendBytes(Stream stream, string method, string file, Dictionary<string, string> headers, (string, string)[] extra)
    {
        var bytes = _files[file];
        if (method == "HEAD")
        {
            WriteHead(stream, 200, [.. extra, ("Content-Length", bytes.Length.ToString())]);
            return;
        }
        int n;
        lock (_gets) _gets[file] = n = _gets.GetValueOrDefault(file) + 1;
        int start = headers.GetValueOrDefault("Range") is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) ? int.Parse(range[6..].TrimEnd('-')) : 0;
        var body = bytes[start..];
        var fault = Fault(file, n);
        if (fault == HubFault.Corrupt) { body = body.ToArray(); body[body.Length / 2] ^= 0xFF; }
        int status = start > 0 ? 206 : 200;
        (string, string)[] lengths = start > 0
            ? [("Content-Length", body.Length.ToString()), ("Content-Range", $"bytes {start}-{bytes.Length - 1}/{bytes.Length}")]
            : [("Content-Length", body.Length.ToString())];
        WriteHead(stream, status, [.. extra, .. lengths]);
        // Truncate: half the promised bytes, then the connection closes.
        stream.Write(fault == HubFault.Truncate ? body[..(body.Length / 2)] : body);
        stream.Flush();
    }

    private static void Write(Stream stream, int status, (string, string)[] headers, byte[] body)
    {
        WriteHead(stream, status, [.. headers, ("Content-Length", body.Length.ToString())]);
        stream.Write(body);
    }

    private static void WriteHead(Stream stream, int status, (string Name, string Value)[] headers)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {(HttpStatusCode)status}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers) head.Append($"{name}: {value}\r\n");
        stream.Write(Encoding.ASCII.GetBytes(head.Append("\r\n").ToString()));
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
