using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace SharpGlance.IO;

/// <summary>Where and how <see cref="HubDownload"/> fetches: the hub's address, a token, the cache, offline mode.</summary>
public sealed record HubDownloadOptions
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The hub (a mirror or a test server may stand in): files come from <c>{Endpoint}/{org}/{name}/resolve/{revision}/{file}</c>.</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;
    /// <summary>Sent as <c>Authorization: Bearer</c> to the hub (not to the servers it redirects to), for gated or private models.</summary>
    public string? Token { get; init; }
    /// <summary>The cache folder (default <see cref="HubCache.DefaultRoot"/>).</summary>
    public string? CacheRoot { get; init; }
    /// <summary>No network: only say whether the cache holds the model, and what it lacks.</summary>
    public bool Offline { get; init; }
    /// <summary>Tries per file: an interrupted transfer resumes where it stopped, a bad checksum starts over.</summary>
    public int Attempts { get; init; } = 3;

    /// <summary>The options huggingface_hub reads from the environment: HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HF_HUB_CACHE/HF_HOME.</summary>
    public static HubDownloadOptions FromEnvironment() => new()
    {
        Endpoint = Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } e ? e.TrimEnd('/') : DefaultEndpoint,
        Token = Environment.GetEnvironmentVariable("HF_TOKEN") is { Length: > 0 } t ? t : null,
        Offline = Environment.GetEnvironmentVariable("HF_HUB_OFFLINE") is "1" or "true" or "TRUE" or "yes" or "ON" or "on",
    };
}

/// <summary>What <see cref="HubDownload.Run"/> did: the snapshot folder, its commit, the files in it and the bytes fetched.</summary>
public sealed record HubDownloadResult(string Snapshot, string Commit, IReadOnlyList<string> Files, long BytesFetched);

/// <summary>
/// <c>glance download org/name[@revision]</c>: fetches a model's files from the hub's resolve URLs into the
/// cache layout of <see cref="HubCache"/>, as <c>huggingface_hub.snapshot_download</c> does:
/// <list type="number">
/// <item>the file list and the commit from <c>{endpoint}/api/models/{repo}/revision/{revision}</c> (its
/// <c>siblings</c>), else a default list (config, safetensors weights and their index's shards, tokenizer and
/// preprocessor files). Only what SharpGlance reads is fetched (<see cref="Choose"/>): top-level JSON,
/// <c>*.safetensors</c> and <c>merges.txt</c>; where a model has no safetensors, its <c>torch.save</c>
/// weights (<c>pytorch_model.bin</c>, or <c>pytorch_model-*.bin</c> shards with their index), which
/// <see cref="TorchSaveFile"/> reads without running them;</item>
/// <item>for each file a HEAD of its resolve URL, redirects not followed, gives the checksum the hub keeps
/// (<c>X-Linked-Etag</c>, the sha256 of an LFS file; else <c>ETag</c>, the git blob sha1 of a small file),
/// the size and the commit (<c>X-Repo-Commit</c>);</item>
/// <item>the bytes go to <c>blobs/{etag}.incomplete</c>, resumed with an HTTP Range where an earlier try
/// stopped, are checked against the checksum and renamed to <c>blobs/{etag}</c>; a blob already there is
/// not fetched again;</item>
/// <item><c>snapshots/{commit}/{file}</c> becomes a relative symlink to its blob, and <c>refs/{revision}</c>
/// is written last, so a half-done download is never found by name.</item>
/// </list>
/// </summary>
public static class HubDownload
{
    /// <summary>The files fetched when the hub does not list them (a mirror without the API); the missing optional ones are skipped.</summary>
    public static readonly string[] DefaultFiles =
    [
        "config.json", "model.safetensors.index.json", "model.safetensors", "generation_config.json",
        "vocab.json", "merges.txt", "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
    ];

    /// <summary>Where the hub has no safetensors for a model (no file list to say so): its pickled weights, whole or sharded.</summary>
    public static readonly string[] DefaultPickleFiles = [Checkpoint.PickleWeights, Checkpoint.PickleIndex];

    private const string IndexFile = "model.safetensors.index.json";

    /// <summary>A file of the model worth fetching: top-level JSON, safetensors weights, BPE merges, a Llama's SentencePiece model, torch.save weights.</summary>
    public static bool Wanted(string file) =>
        !file.Contains('/') && (file.EndsWith(".json", StringComparison.Ordinal) || file.EndsWith(".safetensors", StringComparison.Ordinal)
            || file == "merges.txt" || file == "tokenizer.model" || IsPickleWeights(file));

    /// <summary><c>pytorch_model.bin</c>, its shards <c>pytorch_model-*.bin</c> and their index (not training_args.bin, optimizer states, …).</summary>
    private static bool IsPickleWeights(string file) =>
        file == Checkpoint.PickleIndex || (file.StartsWith("pytorch_model", StringComparison.Ordinal) && file.EndsWith(".bin", StringComparison.Ordinal));

    /// <summary>
    /// The files to fetch from the hub's list: the <see cref="Wanted"/> ones, the torch.save weights only where
    /// there are no safetensors (as transformers prefers them), and of those pytorch_model.bin where it is
    /// there, else the index and its shards.
    /// </summary>
    public static IReadOnlyList<string> Choose(IEnumerable<string> listed)
    {
        var wanted = listed.Where(Wanted).Distinct().ToList();
        if (wanted.Any(f => f.EndsWith(".safetensors", StringComparison.Ordinal)))
            return wanted.Where(f => !IsPickleWeights(f)).ToList();
        if (wanted.Contains(Checkpoint.PickleWeights))
            return wanted.Where(f => !IsPickleWeights(f) || f == Checkpoint.PickleWeights).ToList();
        return wanted;
    }

    /// <summary>Fetches <paramref name="id"/> (or, offline, finds it) and returns its snapshot folder.</summary>
    public static HubDownloadResult Run(HubModelId id, HubDownloadOptions options, IProgress<ProgressUpdate>? progress = null,
        Action<string>? log = null, CancellationToken cancel = default)
    {
        var repo = HubCache.RepoFolder(id, options.CacheRoot);
        if (options.Offline)
        {
            var found = HubCache.TryResolve(id, options.CacheRoot)
                ?? throw new GlanceException($"{id}: HF_HUB_OFFLINE is set and the cache lacks it: {string.Join("; ", Missing(id, options.CacheRoot))} (unset HF_HUB_OFFLINE to download it)");
            return new HubDownloadResult(found, Path.GetFileName(found), Directory.EnumerateFileSystemEntries(found).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList()!, 0);
        }
        using var session = new Session(id, options, repo, log ?? (_ => { }), cancel);
        var (listed, commit) = session.ListFiles();
        var files = new List<RemoteFile>();
        void Fetch(IEnumerable<string> names)
        {
            var queue = new Queue<string>(names);
            while (queue.TryDequeue(out var name))
            {
                if (files.Any(f => f.Name == name)) continue;
                var remote = session.Head(name, optional: listed is null && name != "config.json");
                if (remote is null) continue;
                files.Add(remote);
                commit ??= remote.Commit;
                // Without the API's list, a sharded checkpoint names its shards in its index: fetch it now to know them.
                if (listed is null && name is IndexFile or Checkpoint.PickleIndex)
                    foreach (var shard in Shards(session.Fetch(remote, null, 0, 0)))
                        queue.Enqueue(shard);
            }
        }
        bool HasWeights() => files.Any(f => f.Name.EndsWith(".safetensors", StringComparison.Ordinal) || f.Name.EndsWith(".bin", StringComparison.Ordinal));
        Fetch(listed is null ? DefaultFiles : Choose(listed));
        // Without a list: a model with no safetensors may have pytorch_model.bin, else sharded pickles.
        if (listed is null && !HasWeights()) Fetch(DefaultPickleFiles[..1]);
        if (listed is null && !HasWeights()) Fetch(DefaultPickleFiles[1..]);
        if (!HasWeights())
            throw new GlanceException($"{id}: the hub lists no weights SharpGlance reads for it (*.safetensors, or pytorch_model.bin and its shards)");
        commit ??= id.Revision;   // a server that names no commit: the revision stands for it

        long total = files.Sum(f => f.Size), done = 0, fetched = 0;
        foreach (var file in files)
        {
            var (blob, bytes) = session.FetchCounted(file, progress, done, total);
            fetched += bytes;
            done += file.Size;
            Link(Path.Combine(repo, "snapshots", commit, file.Name), blob);
        }
        progress?.Report(new ProgressUpdate(total, total, "done"));
        if (id.Revision != commit)
            AtomicFile.WriteAllText(Path.Combine(repo, "refs", id.Revision), commit);
        return new HubDownloadResult(Path.Combine(repo, "snapshots", commit), commit, files.Select(f => f.Name).ToList(), fetched);
    }

    /// <summary>What the cache lacks for <paramref name="id"/>: the repository, the ref, the snapshot, config.json, weights or shards.</summary>
    public static IReadOnlyList<string> Missing(HubModelId id, string? root = null)
    {
        var repo = HubCache.RepoFolder(id, root);
        if (!Directory.Exists(repo)) return [$"no {repo}"];
        string? commit = id.IsCommit ? id.Revision : HubCache.ReadRef(repo, id.Revision);
        if (commit is null) return [$"no refs/{id.Revision} in {repo}"];
        var snapshot = Path.Combine(repo, "snapshots", commit);
        if (!Directory.Exists(snapshot)) return [$"no snapshots/{commit} in {repo}"];
        var missing = new List<string>();
        if (!File.Exists(Path.Combine(snapshot, "config.json"))) missing.Add($"{snapshot}/config.json");
        var index = Path.Combine(snapshot, IndexFile);
        if (!File.Exists(index) && !Directory.EnumerateFiles(snapshot, "*.safetensors").Any() && !File.Exists(Path.Combine(snapshot, Checkpoint.PickleWeights)))
            index = Path.Combine(snapshot, Checkpoint.PickleIndex);   // pickled shards
        if (File.Exists(index))
            missing.AddRange(Shards(File.ReadAllBytes(index)).Where(s => !File.Exists(Path.Combine(snapshot, s))).Select(s => $"{snapshot}/{s}"));
        else if (!Checkpoint.HasWeights(snapshot)) missing.Add($"{snapshot}/model.safetensors");
        return missing;
    }

    /// <summary>The shard file names an index's weight_map points to.</summary>
    private static IEnumerable<string> Shards(byte[] index) =>
        (JsonNode.Parse(index)?["weight_map"]?.AsObject() ?? []).Select(kv => kv.Value!.GetValue<string>()).Distinct().Order(StringComparer.Ordinal);

    /// <summary>snapshots/{commit}/{file} → ../../blobs/{etag}, replaced atomically (a link under a temporary name, then a rename).</summary>
    private static void Link(string path, string blob)
    {
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.link");
        File.CreateSymbolicLink(tmp, Path.GetRelativePath(dir, blob));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>A file as the hub describes it before it is fetched.</summary>
    private sealed record RemoteFile(string Name, Uri Url, string ETag, long Size, string? Commit);

    /// <summary>One download's HTTP client and cache folder.</summary>
    private sealed class Session(HubModelId id, HubDownloadOptions options, string repo, Action<string> log, CancellationToken cancel) : IDisposable
    {
        // Redirects are followed by hand: a HEAD reads the hub's own headers (the CDN's differ), and the token
        // goes to the hub only, never to the host it redirects to.
        private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromMinutes(2) };
        private readonly Uri _hub = new(options.Endpoint.TrimEnd('/') + "/");

        public void Dispose() => _http.Dispose();

        /// <summary>The hub's file list and commit, or (null, null) where it has no API (the default list is used).</summary>
        public (IReadOnlyList<string>? Files, string? Commit) ListFiles()
        {
            var url = new Uri(_hub, $"api/models/{id.Repo}/revision/{Uri.EscapeDataString(id.Revision)}");
            using var response = Send(HttpMethod.Get, url, null);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) throw Denied(url, response);
            if (!response.IsSuccessStatusCode) return (null, null);
            try
            {
                var info = JsonNode.Parse(response.Content.ReadAsStream(cancel));
                var siblings = info?["siblings"]?.AsArray().Select(s => s?["rfilename"]?.GetValue<string>()).OfType<string>().Where(Wanted).ToList();
                return siblings is null ? (null, null) : (siblings, info?["sha"]?.GetValue<string>());
            }
            catch (System.Text.Json.JsonException)
            {
                return (null, null);
            }
        }

        /// <summary>The HEAD of a file's resolve URL: its checksum, size and commit; null when optional and absent.</summary>
        public RemoteFile? Head(string name, bool optional)
        {
            var url = new Uri(_hub, $"{id.Repo}/resolve/{Uri.EscapeDataString(id.Revision)}/{name}");
            using var response = Send(HttpMethod.Head, url, null, followRedirects: false);
            if (response.StatusCode == HttpStatusCode.NotFound && optional) return null;
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) throw Denied(url, response);
            if ((int)response.StatusCode >= 400) throw new GlanceException($"{url}: the hub answered {(int)response.StatusCode} {response.ReasonPhrase}");
            string? etag = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag");
            etag = etag?.Replace("W/", "").Trim('"');
            if (string.IsNullOrEmpty(etag) || etag.Any(c => !char.IsAsciiLetterOrDigit(c)))
                throw new GlanceException($"{url}: the hub sent no usable ETag, so the file cannot be checked or cached");
            long size = long.TryParse(Header(response, "X-Linked-Size"), out var linked) ? linked : response.Content.Headers.ContentLength ?? 0;
            return new RemoteFile(name, url, etag, size, Header(response, "X-Repo-Commit"));
        }

        /// <summary><see cref="Fetch"/> with the byte count it fetched (0 for a blob already there).</summary>
        public (string Blob, long Bytes) FetchCounted(RemoteFile file, IProgress<ProgressUpdate>? progress, long before, long total)
        {
            var blob = BlobPath(file);
            if (File.Exists(blob)) return (blob, 0);
            Fetch(file, progress, before, total);
            return (blob, file.Size);
        }

        /// <summary>
        /// Brings the file into blobs/ (resuming a partial <c>.incomplete</c>, checking the checksum) and returns its bytes.
        /// Interrupted transfers resume; a checksum mismatch starts the file over; both up to <see cref="HubDownloadOptions.Attempts"/> tries.
        /// </summary>
        public byte[] Fetch(RemoteFile file, IProgress<ProgressUpdate>? progress, long before, long total)
        {
            var blob = BlobPath(file);
            if (File.Exists(blob)) return File.ReadAllBytes(blob);
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            var partial = blob + ".incomplete";
            for (int attempt = 1; ; attempt++)
            {
                cancel.ThrowIfCancellationRequested();
                try
                {
                    Transfer(file, partial, progress, before, total);
                }
                catch (Exception e) when (e is IOException or HttpRequestException && !cancel.IsCancellationRequested)
                {
                    long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
                    if (attempt >= options.Attempts)
                        throw new GlanceException($"{file.Url}: the download was interrupted ({e.Message}); {have:N0} of {file.Size:N0} bytes are kept in {partial}: run the same command to resume", e);
                    log($"{file.Name}: interrupted at {have:N0} of {file.Size:N0} bytes ({e.Message}); resuming");
                    continue;
                }
                string actual = Checksum(partial, file.ETag);
                if (actual == file.ETag)
                {
                    File.Move(partial, blob, overwrite: true);
                    return File.ReadAllBytes(blob);
                }
                File.Delete(partial);
                if (attempt >= options.Attempts)
                    throw new GlanceException($"{file.Url}: the bytes received do not match the hub's checksum {file.ETag} (got {actual}) after {attempt} tries; nothing was kept");
                log($"{file.Name}: checksum mismatch (expected {file.ETag}, got {actual}); fetching it again");
            }
        }

        private string BlobPath(RemoteFile file) => Path.Combine(repo, "blobs", file.ETag);

        /// <summary>Appends the rest of the file to <paramref name="partial"/>, from where it ends (HTTP Range).</summary>
        private void Transfer(RemoteFile file, string partial, IProgress<ProgressUpdate>? progress, long before, long total)
        {
            long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            using var response = Send(HttpMethod.Get, file.Url, have > 0 ? new RangeHeaderValue(have, null) : null);
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                File.Delete(partial);   // longer than the file: start over on the next try
                throw new IOException($"the server refused to resume at byte {have}");
            }
            if (!response.IsSuccessStatusCode) throw new GlanceException($"{file.Url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            if (response.StatusCode != HttpStatusCode.PartialContent) have = 0;   // the server ignored the range: the whole file comes
            using var output = new FileStream(partial, have > 0 ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            using var input = response.Content.ReadAsStream(cancel);
            var buffer = new byte[1 << 16];
            int n;
            while ((n = input.Read(buffer)) > 0)
            {
                cancel.ThrowIfCancellationRequested();
                output.Write(buffer, 0, n);
                have += n;
                progress?.Report(new ProgressUpdate(before + have, total, file.Name));
            }
            if (file.Size > 0 && have != file.Size) throw new IOException($"the connection ended at byte {have:N0} of {file.Size:N0}");
        }

        /// <summary>Sends a request to the hub, with the token, following up to five redirects (the token only to the hub's host).</summary>
        private HttpResponseMessage Send(HttpMethod method, Uri url, RangeHeaderValue? range, bool followRedirects = true)
        {
            for (int hop = 0; ; hop++)
            {
                var request = new HttpRequestMessage(method, url);
                request.Headers.UserAgent.ParseAdd("SharpGlance/0.1");
                if (options.Token is { } token && url.Host == _hub.Host && url.Port == _hub.Port)
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                if (range is not null) request.Headers.Range = new RangeHeaderValue { Ranges = { range.Ranges.Single() } };
                HttpResponseMessage response;
                try
                {
                    response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead, cancel);
                }
                catch (HttpRequestException e) when (hop == 0 && e.InnerException is System.Net.Sockets.SocketException)
                {
                    throw new GlanceException($"{url}: cannot reach the hub ({e.Message}); set HF_ENDPOINT for a mirror, or HF_HUB_OFFLINE=1 to use the cache only", e);
                }
                bool redirect = (int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is not null;
                // A HEAD follows the hub's own relative redirects (a renamed repository) but not the CDN's.
                if (!redirect || hop >= 5 || (!followRedirects && response.Headers.Location!.IsAbsoluteUri)) return response;
                url = new Uri(url, response.Headers.Location!);
                response.Dispose();
            }
        }

        private static string? Header(HttpResponseMessage response, string name) =>
            response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? values.FirstOrDefault() : null;

        private static GlanceException Denied(Uri url, HttpResponseMessage response) =>
            new($"{url}: the hub answered {(int)response.StatusCode} {response.ReasonPhrase}: a gated or private model needs HF_TOKEN (a token with read access)");
    }

    /// <summary>
    /// The file's checksum in the form of <paramref name="etag"/>: sha256 (64 hex digits, the hub's LFS files)
    /// or the git blob sha1 (40 hex digits: sha1 of "blob {length}\0" and the bytes, the hub's small files).
    /// Any other ETag is not a checksum, so it is returned unchanged and nothing is checked.
    /// </summary>
    public static string Checksum(string path, string etag)
    {
        using var stream = File.OpenRead(path);
        if (etag.Length == 64) return Convert.ToHexStringLower(SHA256.HashData(stream));
        if (etag.Length != 40) return etag;
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(Encoding.ASCII.GetBytes($"blob {stream.Length}\0"));
        var buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer)) > 0) sha1.AppendData(buffer, 0, n);
        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }
}
