using SharpGlance.IO;
using SharpGlance.Tests.Faults;

namespace SharpGlance.Tests.IO;

/// <summary>The hub's environment variables are process-wide: the tests that set them run alone.</summary>
[CollectionDefinition(nameof(HubEnvironment), DisableParallelization = true)]
public sealed class HubEnvironment;

/// <summary>
/// Model names (issue #15): <c>org/name[@revision]</c> found in the hub cache, and <c>glance download</c>
/// against <see cref="FakeHub"/> on loopback: the cache layout, resume, checksums, tokens, offline mode.
/// </summary>
[Collection(nameof(HubEnvironment))]
public class HubDownloadTests
{
    private const string Repo = "sharpglance/tiny-captioner";

    private static HubDownloadOptions Options(FakeHub hub, string cache, int attempts = 3) =>
        new() { Endpoint = hub.Endpoint, Token = hub.Token, CacheRoot = cache, Attempts = attempts };

    private static readonly HubModelId Id = new(Repo);

    /// <summary>Runs <paramref name="action"/> with the given environment variables set, restoring them after.</summary>
    private static T WithEnvironment<T>(IReadOnlyDictionary<string, string?> variables, Func<T> action)
    {
        var saved = variables.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var (k, v) in variables) Environment.SetEnvironmentVariable(k, v);
            return action();
        }
        finally
        {
            foreach (var (k, v) in saved) Environment.SetEnvironmentVariable(k, v);
        }
    }

    [Theory]
    [InlineData("facebook/opt-125m", "facebook/opt-125m", "main")]
    [InlineData("openai/clip-vit-large-patch14-336@v1.0", "openai/clip-vit-large-patch14-336", "v1.0")]
    [InlineData("a/b@refs/pr/1", "a/b", "refs/pr/1")]
    public void Names_parse_into_repository_and_revision(string text, string repo, string revision)
    {
        var id = HubModelId.TryParse(text);
        Assert.Equal(new HubModelId(repo, revision), id);
        Assert.Equal("models--" + repo.Replace("/", "--"), id!.CacheFolderName);
    }

    [Theory]
    [InlineData("runs")]
    [InlineData("./runs/stage0")]
    [InlineData("/models/opt")]
    [InlineData("a/b/c")]
    [InlineData("../x")]
    public void Paths_are_not_names(string text) => Assert.Null(HubModelId.TryParse(text));

    [Fact]
    public void A_name_missing_from_the_cache_says_how_to_fetch_it_and_folders_pass_through()
    {
        var cache = TempDir.Create("hub-empty");
        var e = Assert.Throws<GlanceException>(() => HubCache.ResolveFolder("facebook/opt-125m", cache));
        Assert.Contains("glance download facebook/opt-125m", e.Message);
        Assert.Contains(Path.Combine(cache, "models--facebook--opt-125m"), e.Message);
        Assert.Equal(cache, HubCache.ResolveFolder(cache, cache));
        Assert.Equal("not/a/name", HubCache.ResolveFolder("not/a/name", cache));
    }

    [Fact]
    public void Download_writes_the_hub_cache_layout_and_caption_takes_the_name()
    {
        var cache = TempDir.Create("hub-cache");
        using var hub = FakeHub.ForFolder(Repo, TinyModels.CaptionerFolder, token: "hf_secret");
        var env = new Dictionary<string, string?> { ["HF_ENDPOINT"] = hub.Endpoint, ["HF_TOKEN"] = "hf_secret", ["HF_HUB_CACHE"] = cache, ["HF_HUB_OFFLINE"] = null };

        var (code, output, error) = WithEnvironment(env, () => GlanceCli.RunReported("download", Repo));

        Assert.True(code == 0, error);
        Assert.Contains(FakeHub.Commit, output);
        var repo = Path.Combine(cache, "models--sharpglance--tiny-captioner");
        Assert.Equal(FakeHub.Commit, File.ReadAllText(Path.Combine(repo, "refs", "main")));
        var snapshot = Path.Combine(repo, "snapshots", FakeHub.Commit);
        foreach (var file in Directory.GetFiles(TinyModels.CaptionerFolder).Select(Path.GetFileName))
        {
            var link = new FileInfo(Path.Combine(snapshot, file!));
            Assert.Equal(Path.Combine("..", "..", "blobs", hub.ETag(file!)), link.LinkTarget);
            Assert.Equal(File.ReadAllBytes(Path.Combine(TinyModels.CaptionerFolder, file!)), File.ReadAllBytes(link.FullName));
        }
        Assert.Empty(Directory.GetFiles(Path.Combine(repo, "blobs"), "*.incomplete"));
        // The token goes with every request to the hub; pickles and READMEs the API lists are not fetched.
        Assert.All(hub.Requests.Where(r => !r.Path.StartsWith("/cdn/")), r => Assert.Equal("Bearer hf_secret", r.Authorization));
        Assert.DoesNotContain(hub.Requests, r => r.Path.EndsWith(".bin") || r.Path.EndsWith("README.md"));

        // The name now works where a folder did, with the same captions.
        var image = CaptionFaultTests.Png(TempDir.Create("hub-image"), "grey.png", 24, 24);
        string[] args = ["caption", "--beams", "1", "--max-new-tokens", "3", image];
        var byName = WithEnvironment(env, () => GlanceCli.RunReported(["caption", "--model", Repo, .. args[1..]]));
        var byFolder = GlanceCli.RunReported(["caption", "--model", TinyModels.CaptionerFolder, .. args[1..]]);
        Assert.True(byName.Code == 0, byName.Error);
        Assert.Equal(byFolder.Output, byName.Output);

        // A second download fetches nothing.
        int before = hub.Requests.Count(r => r.Path.StartsWith("/cdn/"));
        var again = HubDownload.Run(Id, Options(hub, cache), cancel: TestContext.Current.CancellationToken);
        Assert.Equal(0, again.BytesFetched);
        Assert.Equal(before, hub.Requests.Count(r => r.Path.StartsWith("/cdn/")));
    }

    [Fact]
    public void Train_assembles_a_captioner_from_hub_names()
    {
        var cache = TempDir.Create("hub-train");
        foreach (var (repo, folder) in new[] { ("openai/tiny-clip", TinyModels.ClipFolder), ("facebook/tiny-opt", TinyModels.OptFolder) })
        {
            using var hub = FakeHub.ForFolder(repo, folder);
            HubDownload.Run(HubModelId.TryParse(repo)!, Options(hub, cache), cancel: TestContext.Current.CancellationToken);
        }
        var dir = TempDir.Create("hub-train-run");
        var images = Directory.CreateDirectory(Path.Combine(dir, "images")).FullName;
        CaptionFaultTests.Png(images, "good.png", 8, 8);
        var data = Path.Combine(dir, "train.json");
        File.WriteAllText(data, """[{"id": "0", "image": "good.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "a grey square"}]}]""");

        var (code, _, error) = WithEnvironment(new Dictionary<string, string?> { ["HF_HUB_CACHE"] = cache }, () => GlanceCli.RunReported(
            "train", "--stage", "pretrain", "--vision", "openai/tiny-clip", "--lm", "facebook/tiny-opt", "--data", data, "--images", images,
            "--out", Path.Combine(dir, "run"), "--max-steps", "1", "--feature-cache", Path.Combine(dir, "features")));

        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(dir, "run", "config.json")));
    }

    [Fact]
    public void A_wrong_or_missing_token_is_reported_with_HF_TOKEN()
    {
        using var hub = FakeHub.ForFolder(Repo, TinyModels.CaptionerFolder, token: "hf_secret");
        var e = Assert.Throws<GlanceException>(() => HubDownload.Run(Id, Options(hub, TempDir.Create("hub-denied")) with { Token = null }, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("401", e.Message);
        Assert.Contains("HF_TOKEN", e.Message);
    }

    [Fact]
    public void An_interrupted_download_resumes_where_it_stopped()
    {
        var cache = TempDir.Create("hub-resume");
        // No API (a mirror): the default file list; the weights' first GET stops halfway.
        using var hub = FakeHub.ForFolder(Repo, TinyModels.CaptionerFolder, api: false,
            fault: (file, n) => file == "model.safetensors" && n == 1 ? HubFault.Truncate : HubFault.None);

        var e = Assert.Throws<GlanceException>(() => HubDownload.Run(Id, Options(hub, cache, attempts: 1), cancel: TestContext.Current.CancellationToken));
        Assert.Contains("run the same command to resume", e.Message);
        var partial = Assert.Single(Directory.GetFiles(Path.Combine(cache, "models--sharpglance--tiny-captioner", "blobs"), "*.incomplete"));
        long kept = new FileInfo(partial).Length;
        long size = new FileInfo(Path.Combine(TinyModels.CaptionerFolder, "model.safetensors")).Length;
        Assert.InRange(kept, 1, size - 1);
        Assert.False(Directory.Exists(Path.Combine(cache, "models--sharpglance--tiny-captioner", "refs")));   // not found by name yet

        var result = HubDownload.Run(Id, Options(hub, cache, attempts: 1), cancel: TestContext.Current.CancellationToken);

        Assert.Contains(hub.Requests, r => r.Path.StartsWith("/cdn/") && r.Range == $"bytes={kept}-");
        Assert.Equal(File.ReadAllBytes(Path.Combine(TinyModels.CaptionerFolder, "model.safetensors")), File.ReadAllBytes(Path.Combine(result.Snapshot, "model.safetensors")));
        Assert.False(File.Exists(partial));
        Assert.Equal(result.Snapshot, HubCache.TryResolve(Id, cache));
    }

    [Fact]
    public void A_corrupt_file_is_detected_and_fetched_again_or_reported()
    {
        var cache = TempDir.Create("hub-corrupt");
        // Once corrupt (weights: sha256; vocab.json: git blob sha1): fetched again, and the cache holds the right bytes.
        using (var hub = FakeHub.ForFolder(Repo, TinyModels.CaptionerFolder, fault: (file, n) => n == 1 && file is "model.safetensors" or "vocab.json" ? HubFault.Corrupt : HubFault.None))
        {
            var notes = new List<string>();
            var result = HubDownload.Run(Id, Options(hub, cache), log: notes.Add, cancel: TestContext.Current.CancellationToken);
            Assert.Equal(2, notes.Count(n => n.Contains("checksum mismatch")));
            foreach (var file in new[] { "model.safetensors", "vocab.json" })
                Assert.Equal(File.ReadAllBytes(Path.Combine(TinyModels.CaptionerFolder, file)), File.ReadAllBytes(Path.Combine(result.Snapshot, file)));
        }

        // Always corrupt: an error that names the checksum, and nothing of the file is kept.
        var cache2 = TempDir.Create("hub-corrupt2");
        using var bad = FakeHub.ForFolder(Repo, TinyModels.CaptionerFolder, fault: (file, _) => file == "model.safetensors" ? HubFault.Corrupt : HubFault.None);
        var e = Assert.Throws<GlanceException>(() => HubDownload.Run(Id, Options(bad, cache2, attempts: 2), cancel: TestContext.Current.CancellationToken));
        Assert.Contains($"do not match the hub's checksum {bad.ETag("model.safetensors")}", e.Message);
        Assert.Empty(Directory.GetFiles(Path.Combine(cache2, "models--sharpglance--tiny-captioner", "blobs"), "*.incomplete"));
        Assert.False(File.Exists(Path.Combine(cache2, "models--sharpglance--tiny-captioner", "blobs", bad.ETag("model.safetensors"))));
    }

    [Fact]
    public void Offline_it_says_what_the_cache_lacks()
    {
        var cache = TempDir.Create("hub-offline");
        var env = new Dictionary<string, string?> { ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_CACHE"] = cache, ["HF_ENDPOINT"] = "http://127.0.0.1:9" };

        var (code, _, error) = WithEnvironment(env, () => GlanceCli.RunReported("download", Repo));
        Assert.Equal(2, code);
        Assert.Contains("HF_HUB_OFFLINE", error);
        Assert.Contains(Path.Combine(cache, "models--sharpglance--tiny-captioner"), error);

        // A snapshot whose weights were deleted: the missing file is named.
        using (var hub = FakeHub.ForFolder(Repo, TinyModels.CaptionerFolder)) HubDownload.Run(Id, Options(hub, cache), cancel: TestContext.Current.CancellationToken);
        var snapshot = Path.Combine(cache, "models--sharpglance--tiny-captioner", "snapshots", FakeHub.Commit);
        File.Delete(Path.Combine(snapshot, "model.safetensors"));
        (code, _, error) = WithEnvironment(env, () => GlanceCli.RunReported("download", Repo));
        Assert.Equal(2, code);
        Assert.Contains(Path.Combine(snapshot, "model.safetensors"), error);

        // With everything there, offline finds it.
        File.Delete(Path.Combine(snapshot, "config.json"));
        using (var hub = FakeHub.ForFolder(Repo, TinyModels.CaptionerFolder)) HubDownload.Run(Id, Options(hub, cache), cancel: TestContext.Current.CancellationToken);
        (code, var output, error) = WithEnvironment(env, () => GlanceCli.RunReported("download", Repo));
        Assert.True(code == 0, error);
        Assert.Contains(snapshot, output);
    }

    [Fact]
    public void Pickled_weights_are_chosen_only_where_there_are_no_safetensors()
    {
        // As facebook/opt-125m's main branch lists its files (no safetensors), and as a model with both.
        string[] opt = [".gitattributes", "LICENSE.md", "README.md", "config.json", "flax_model.msgpack", "generation_config.json",
            "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tf_model.h5", "tokenizer_config.json", "vocab.json"];
        Assert.Equal(["config.json", "generation_config.json", "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"],
            HubDownload.Choose(opt));
        Assert.Equal(["config.json", "model.safetensors", "vocab.json"],
            HubDownload.Choose(["config.json", "pytorch_model.bin", "model.safetensors", "training_args.bin", "vocab.json"]));
        Assert.Equal(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"],
            HubDownload.Choose(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json"]));
        // As liuhaotian/llava-v1.5-7b: sharded pickles with their index; training_args.bin is not weights.
        Assert.Equal(["config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json"],
            HubDownload.Choose(["config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json",
                "training_args.bin", "mm_projector/x.bin"]));
        // Both a whole pickle and shards: the whole one, as transformers loads it first.
        Assert.Equal(["pytorch_model.bin"], HubDownload.Choose(["pytorch_model-00001-of-00002.bin", "pytorch_model.bin.index.json", "pytorch_model.bin"]));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Download_fetches_pytorch_model_bin_where_no_safetensors_exist(bool api)
    {
        var cache = TempDir.Create("hub-pickle");
        var pickles = Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "pickle");
        var opt = Path.Combine(Fixtures.Root, "tiny-opt");
        var files = new Dictionary<string, byte[]>
        {
            ["config.json"] = File.ReadAllBytes(Path.Combine(opt, "config.json")),
            ["generation_config.json"] = File.ReadAllBytes(Path.Combine(opt, "generation_config.json")),
            ["pytorch_model.bin"] = File.ReadAllBytes(Path.Combine(pickles, "tiny-opt", "pytorch_model.bin")),
        };
        using var hub = new FakeHub("facebook/tiny-opt", files, api: api);

        var result = HubDownload.Run(new HubModelId("facebook/tiny-opt"), Options(hub, cache), cancel: TestContext.Current.CancellationToken);

        Assert.Equal(["config.json", "generation_config.json", "pytorch_model.bin"], result.Files.Order(StringComparer.Ordinal).ToArray());
        Assert.DoesNotContain(hub.Requests, r => r.Path.EndsWith("training_args.bin"));
        Assert.Empty(HubDownload.Missing(new HubModelId("facebook/tiny-opt"), cache));
        using var lm = SharpGlance.Language.OptForCausalLM.FromPretrained(result.Snapshot);
        using var reference = SharpGlance.Language.OptForCausalLM.FromPretrained(opt);
        using var ids = TorchSharp.torch.tensor(new long[] { 2, 5, 17, 300 }).unsqueeze(0);
        using var a = lm.Logits(ids);
        using var b = reference.Logits(ids);
        Assert.True(a.bytes.SequenceEqual(b.bytes));
    }

    [Fact]
    public void Without_the_api_pickled_shards_are_found_through_their_index()
    {
        var cache = TempDir.Create("hub-pickle-shards");
        var sharded = Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "pickle", "sharded");
        var files = Directory.GetFiles(sharded).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        files["config.json"] = "{}"u8.ToArray();
        using var hub = new FakeHub("org/sharded", files, api: false);

        var result = HubDownload.Run(new HubModelId("org/sharded"), Options(hub, cache), cancel: TestContext.Current.CancellationToken);

        Assert.Equal(["config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json"],
            result.Files.Order(StringComparer.Ordinal).ToArray());
        using var ck = Checkpoint.Open(result.Snapshot);
        Assert.Equal(5, ck.Keys.Count());
        File.Delete(Path.Combine(result.Snapshot, "pytorch_model-00002-of-00002.bin"));
        Assert.Equal([$"{result.Snapshot}/pytorch_model-00002-of-00002.bin"], HubDownload.Missing(new HubModelId("org/sharded"), cache));
    }
}
