using System.Diagnostics;
using System.Text.Json;

namespace SharpGlance.Data.Synthetic;

/// <summary>Options of <c>glance synth</c>.</summary>
public sealed record SynthOptions
{
    public int Train { get; init; }
    public int Val { get; init; }
    public int Test { get; init; }
    public long Seed { get; init; }
    public int ImageSize { get; init; } = 128;
    public SynthVocab Vocab { get; init; } = SynthVocab.Small;
    /// <summary>Probability that a scene lets objects partly cover each other.</summary>
    public double Occlusion { get; init; } = 0.25;
    /// <summary>Worker threads (0: one per core). The output does not depend on it.</summary>
    public int Threads { get; init; }
    public string? FontPath { get; init; }
    public string? CldrDir { get; init; }
    /// <summary>The dense world's settings (<c>--world dense</c>); null: the default world.</summary>
    public DenseWorld? Dense { get; init; }

    public const int MaxPerSplit = 999_999;

    public void Validate()
    {
        foreach (var (name, n) in new[] { ("--train", Train), ("--val", Val), ("--test", Test) })
            if (n is < 0 or > MaxPerSplit) throw new GlanceException($"{name} must be between 0 and {MaxPerSplit} (got {n})");
        if (Train + Val + Test == 0) throw new GlanceException("nothing to generate: give --train, --val or --test a positive count");
        if (ImageSize is not (96 or 128 or 160 or 192 or 224 or 256))
            throw new GlanceException($"--size must be one of 96, 128, 160, 192, 224, 256 (got {ImageSize})");
        if (Threads < 0) throw new GlanceException($"--threads must be 0 (all cores) or positive (got {Threads})");
        new SceneSamplerOptions(ImageSize, Occlusion).Validate();
        Dense?.Validate(ImageSize);
    }
}

/// <summary>One generated image's facts and texts.</summary>
public sealed record SynthItem(SceneGraph Scene, IReadOnlyList<string> Captions, string Detailed);

/// <summary>What <see cref="SyntheticWorld.Generate"/> wrote.</summary>
public sealed record SynthSummary(string OutDir, IReadOnlyDictionary<string, int> Images, int Entities, int Classes, double Seconds)
{
    public double ImagesPerSecond => Images.Values.Sum() / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// The synthetic world (SPEC §11): a vocabulary, a scene sampler, a caption writer and a renderer.
/// Item <c>i</c> of split <c>s</c> is a pure function of (seed, vocabulary, size, occlusion, s, i): it
/// has its own random stream, so items are made in parallel and the files are byte-identical for a seed,
/// whatever the thread count, and a split does not change when another split's size does.
/// </summary>
public sealed class SyntheticWorld : IDisposable
{
    /// <summary>Splits in output order, with their random stream and image-id base (train ids are 1000000 + index).</summary>
    public static IReadOnlyList<(string Name, ulong Stream, int IdBase)> Splits { get; } =
        [("train", 1, 1_000_000), ("val", 2, 2_000_000), ("test", 3, 3_000_000)];

    private const ulong SampleStream = 4, CaptionStreamOffset = 100;

    private readonly EmojiCatalog _catalog;
    private readonly SceneSampler _sampler;
    private readonly SceneRenderer _renderer;

    private SyntheticWorld(EmojiCatalog catalog, WorldVocabulary vocabulary, SceneSamplerOptions sampling, long seed, DenseWorld? dense)
    {
        _catalog = catalog;
        Vocabulary = vocabulary;
        Seed = seed;
        _sampler = new SceneSampler(vocabulary, e => catalog.Sprite(e).Aspect, sampling, dense);
        _renderer = new SceneRenderer(catalog);
    }

    public WorldVocabulary Vocabulary { get; }
    public long Seed { get; }
    public SceneSamplerOptions Sampling => _sampler.Options;
    /// <summary>The dense world's settings, or null for the default world.</summary>
    public DenseWorld? Dense => _sampler.Dense;
    public EmojiCatalog Catalog => _catalog;

    /// <summary>Opens the font and CLDR (a clear error names the Debian packages when they are missing).</summary>
    public static SyntheticWorld Open(long seed, int imageSize = 128, SynthVocab vocab = SynthVocab.Small, double occlusion = 0.25,
        string? fontPath = null, string? cldrDir = null, DenseWorld? dense = null)
    {
        var sampling = new SceneSamplerOptions(imageSize, occlusion);
        sampling.Validate();
        dense?.Validate(imageSize);
        var catalog = EmojiCatalog.Load(fontPath, cldrDir);
        try
        {
            return new SyntheticWorld(catalog, WorldVocabulary.Create(catalog, vocab), sampling, seed, dense);
        }
        catch
        {
            catalog.Dispose();
            throw;
        }
    }

    /// <summary>Item <paramref name="index"/> of <paramref name="split"/>: scene graph, five captions, detailed description.</summary>
    public SynthItem Item(string split, int index)
    {
        var (_, stream, idBase) = SplitInfo(split);
        return MakeItem(stream, idBase + index, split, index);
    }

    private SynthItem MakeItem(ulong stream, int imageId, string split, int index)
    {
        var scene = _sampler.Sample(SynthRandom.ForItem(Seed, stream, index), imageId, split, $"{split}/{imageId}.png");
        // Captions draw from their own stream, so rewording a template never moves a scene.
        var words = SynthRandom.ForItem(Seed, stream + CaptionStreamOffset, index);
        // The dense world's references are themselves descriptions of several sentences.
        var captions = Dense is null ? CaptionWriter.Captions(scene, words) : CaptionWriter.Descriptions(scene, words);
        return new SynthItem(scene, captions, CaptionWriter.Detailed(scene, words));
    }

    public byte[] RenderPng(SceneGraph scene) => _renderer.RenderPng(scene);

    public SkiaSharp.SKBitmap Render(SceneGraph scene) => _renderer.Render(scene);

    private static (string Name, ulong Stream, int IdBase) SplitInfo(string split) =>
        Splits.FirstOrDefault(s => s.Name == split) is { Name: not null } info ? info
            : throw new ArgumentException($"unknown split '{split}' (train, val, test)", nameof(split));

    /// <summary>
    /// Writes the dataset under <paramref name="outDir"/> (layout in the README): images/{split}/{id}.png,
    /// {split}.llava.json, {split}.coco.json, {split}.scenes.json, {split}.detailed.json, lexicon.json,
    /// world.json. Everything is built in a staging folder and moved into place at the end, so a crash never
    /// leaves a half-written split, and a rerun replaces the splits it makes.
    /// </summary>
    public static SynthSummary Generate(string outDir, SynthOptions options, IProgress<ProgressUpdate>? progress = null, CancellationToken cancel = default)
    {
        options.Validate();
        using var world = Open(options.Seed, options.ImageSize, options.Vocab, options.Occlusion, options.FontPath, options.CldrDir, options.Dense);
        return world.WriteDataset(outDir, options, progress, cancel);
    }

    private SynthSummary WriteDataset(string outDir, SynthOptions options, IProgress<ProgressUpdate>? progress, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var root = Path.GetFullPath(outDir);
        if (File.Exists(root)) throw GlanceException.ForFile(root, "is a file; --out must be a folder");
        StaleTemp.Clean(root, ".staging-");
        var sizes = new Dictionary<string, int> { ["train"] = options.Train, ["val"] = options.Val, ["test"] = options.Test };
        RefuseForeignFiles(root, sizes.Where(kv => kv.Value > 0).Select(kv => kv.Key));
        Directory.CreateDirectory(root);
        var staging = Path.Combine(root, $".staging-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            long total = sizes.Values.Sum(), done = 0;
            var progressLock = new object();
            progress?.Report(new ProgressUpdate(0, total, "scenes"));
            var parallel = new ParallelOptions
            {
                MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount,
                CancellationToken = cancel,
            };
            var written = new Dictionary<string, int>();
            foreach (var (split, stream, idBase) in Splits)
            {
                var n = sizes[split];
                if (n == 0) continue;
                var imageDir = Path.Combine(staging, "images", split);
                Directory.CreateDirectory(imageDir);
                var items = new SynthItem[n];
                Parallel.For(0, n, parallel, i =>
                {
                    var item = MakeItem(stream, idBase + i, split, i);
                    File.WriteAllBytes(Path.Combine(imageDir, $"{item.Scene.ImageId}.png"), RenderPng(item.Scene));
                    items[i] = item;
                    lock (progressLock)
                    {
                        done++;
                        if (done % 64 == 0 || done == total) progress?.Report(new ProgressUpdate(done, total, split));
                    }
                });
                WriteSplitFiles(staging, split, items);
                written[split] = n;
            }
            WriteJson(Path.Combine(staging, "lexicon.json"), Vocabulary.Lexicon());
            WriteJson(Path.Combine(staging, "world.json"), new WorldInfo(
                "SharpGlance synthetic world (SPEC §11)", options.Seed, options.ImageSize, Vocabulary.Which.ToString().ToLowerInvariant(),
                options.Occlusion, written, Vocabulary.Emoji.Count, Vocabulary.Shapes.Count, Vocabulary.Classes.Count,
                Path.GetFileName(_catalog.FontPath), Dense is null ? null : "dense", Dense?.Grid));

            // Swap the new products in: each split's image folder and files, then the shared files.
            foreach (var split in written.Keys)
            {
                // RefuseForeignFiles made sure everything in it is ours.
                var target = Path.Combine(root, "images", split);
                if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
                Directory.CreateDirectory(Path.Combine(root, "images"));
                Directory.Move(Path.Combine(staging, "images", split), target);
                foreach (var suffix in SplitFileKinds)
                    File.Move(Path.Combine(staging, $"{split}.{suffix}.json"), Path.Combine(root, $"{split}.{suffix}.json"), overwrite: true);
            }
            File.Move(Path.Combine(staging, "lexicon.json"), Path.Combine(root, "lexicon.json"), overwrite: true);
            File.Move(Path.Combine(staging, "world.json"), Path.Combine(root, "world.json"), overwrite: true);
            return new SynthSummary(root, written, Vocabulary.Entities.Count, Vocabulary.Classes.Count, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static readonly string[] SplitFileKinds = ["llava", "coco", "scenes", "detailed"];

    /// <summary>
    /// A rerun replaces what an earlier run wrote and nothing else (issue #16: it once deleted a user's
    /// photos). <paramref name="root"/> must be missing, empty, or an earlier output (its world.json says
    /// which files that run wrote); anything this run would replace that the earlier run did not write
    /// stops it, before a file is touched.
    /// </summary>
    private static void RefuseForeignFiles(string root, IEnumerable<string> splits)
    {
        if (!Directory.Exists(root) || !Directory.EnumerateFileSystemEntries(root).Any()) return;
        var ours = EarlierOutput(root)
            ?? throw GlanceException.ForFile(root, "--out is not empty and holds no world.json of an earlier `glance synth`; choose an empty or new folder (synth never replaces files it did not write)");
        var replaced = new List<string> { "lexicon.json", "world.json" };
        foreach (var split in splits)
        {
            replaced.AddRange(SplitFileKinds.Select(k => $"{split}.{k}.json"));
            var images = Path.Combine(root, "images", split);
            if (Directory.Exists(images))
                replaced.AddRange(Directory.EnumerateFileSystemEntries(images, "*", SearchOption.AllDirectories)
                    .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/')));
        }
        foreach (var file in replaced)
            if (!ours.Contains(file) && Path.Exists(Path.Combine(root, file)))
                throw GlanceException.ForFile(Path.Combine(root, file), "was not written by `glance synth`, which would replace it; move it away or choose another --out");
    }

    /// <summary>The files an earlier synth run wrote into <paramref name="root"/>, from its world.json; null when there is none.</summary>
    private static HashSet<string>? EarlierOutput(string root)
    {
        var path = Path.Combine(root, "world.json");
        if (!File.Exists(path)) return null;
        WorldInfo? info;
        try { info = JsonSerializer.Deserialize<WorldInfo>(File.ReadAllText(path), SceneJson.Options); }
        catch (JsonException) { return null; }
        if (info?.Images is null || info.Description?.StartsWith("SharpGlance synthetic world", StringComparison.Ordinal) != true) return null;
        var files = new HashSet<string>(StringComparer.Ordinal) { "lexicon.json", "world.json" };
        foreach (var (split, count) in info.Images)
        {
            if (Splits.FirstOrDefault(s => s.Name == split) is not { Name: not null } s) return null;
            files.UnionWith(SplitFileKinds.Select(k => $"{split}.{k}.json"));
            for (int i = 0; i < count; i++) files.Add($"images/{split}/{s.IdBase + i}.png");
        }
        return files;
    }

    // World and Grid are written for the dense world only, so the default world's world.json is as it was.
    private sealed record WorldInfo(string Description, long Seed, int ImageSize, string Vocab, double Occlusion,
        Dictionary<string, int> Images, int EmojiEntities, int Shapes, int Classes, string Font,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? World = null,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] int? Grid = null);

    // LLaVA conversation JSON: one entry per reference caption (id "{image_id}_{k}"), as COCO captioning
    // trains on every (image, caption) pair; the ViT features are cached per image (SPEC §10), so five
    // entries per image cost one encoding.
    private sealed record LlavaTurn(string From, string Value);
    private sealed record LlavaEntry(string Id, string Image, IReadOnlyList<LlavaTurn> Conversations);
    private sealed record CocoImage(int Id, string FileName, int Width, int Height);
    private sealed record CocoAnnotation(int Id, int ImageId, string Caption);
    private sealed record CocoInfo(string Description, string Split);
    private sealed record CocoFile(CocoInfo Info, IReadOnlyList<CocoImage> Images, IReadOnlyList<CocoAnnotation> Annotations, string Type, IReadOnlyList<object> Licenses);

    public const string SinglePrompt = "<image>\nWhat is in the photo?";
    public const string DetailedPrompt = "<image>\nDescribe this image in detail.";

    private static void WriteSplitFiles(string dir, string split, SynthItem[] items)
    {
        var llava = new List<LlavaEntry>();
        var annotations = new List<CocoAnnotation>();
        foreach (var item in items)
            for (var k = 0; k < item.Captions.Count; k++)
            {
                var id = item.Scene.ImageId;
                llava.Add(new LlavaEntry($"{id}_{k}", item.Scene.FileName, [new("human", SinglePrompt), new("gpt", item.Captions[k])]));
                annotations.Add(new CocoAnnotation(id * 10 + k, id, item.Captions[k]));
            }
        WriteJson(Path.Combine(dir, $"{split}.llava.json"), llava);
        WriteJson(Path.Combine(dir, $"{split}.coco.json"), new CocoFile(
            new CocoInfo("SharpGlance synthetic world", split),
            items.Select(i => new CocoImage(i.Scene.ImageId, i.Scene.FileName, i.Scene.Width, i.Scene.Height)).ToList(),
            annotations, "captions", []));
        WriteJson(Path.Combine(dir, $"{split}.scenes.json"),
            items.ToDictionary(i => i.Scene.ImageId.ToString(System.Globalization.CultureInfo.InvariantCulture), i => i.Scene));
        WriteJson(Path.Combine(dir, $"{split}.detailed.json"),
            items.Select(i => new LlavaEntry($"{i.Scene.ImageId}", i.Scene.FileName, [new("human", DetailedPrompt), new("gpt", i.Detailed)])).ToList());
    }

    private static void WriteJson<T>(string path, T value) =>
        AtomicFile.Write(path, s => JsonSerializer.Serialize(s, value, SceneJson.Options));

    /// <summary>
    /// Writes <paramref name="count"/> varied sample scenes (scene{k}.png), samples.json (scene graph,
    /// captions, detailed description of each) and README.md listing their true captions into
    /// <paramref name="dir"/>. Scenes are drawn from a separate stream and picked to cover every relation,
    /// shapes with close colours, counts and a single group.
    /// </summary>
    public IReadOnlyList<SynthItem> WriteSamples(string dir, int count = 6)
    {
        // Wishes in order; each takes the first unused scene of the sample stream that fits it.
        var wishes = new List<Func<SceneGraph, bool>>
        {
            s => s.Relations.Count == 1 && s.Relations[0].Predicate == Relations.LeftOf && s.Groups.Any(g => g.IsShape) && s.Groups.Any(g => !g.IsShape),
            s => s.Relations.Count == 1 && s.Relations[0].Predicate == Relations.OnTopOf && s.Groups.All(g => !g.IsShape),
            s => s.Relations.Count == 1 && s.Relations[0].Predicate == Relations.Above && s.Groups.All(g => g.IsShape),
            s => s.Relations.Count == 1 && s.Relations[0].Predicate == Relations.NextTo && s.Groups.Any(g => g.Count > 1),
            s => s.Groups.Count == 1 && s.Groups[0].Count == 3 && !s.Groups[0].IsShape,
            s => s.Relations.Count == 1 && s.Relations[0].Predicate == Relations.Below && s.Groups.Any(g => g.IsShape) && s.Background.Kind != "plain",
        };
        var picked = new List<SynthItem>();
        var index = 0;
        // The dense world has no such wishes (its scenes all have several relations): its first scenes are taken.
        foreach (var wish in (Dense is null ? wishes : []).Take(count))
        {
            while (index < 100_000)
            {
                var item = MakeItem(SampleStream, 0, "sample", index++);
                if (!wish(item.Scene)) continue;
                var k = picked.Count + 1;
                picked.Add(item with { Scene = item.Scene with { ImageId = k, Split = "sample", FileName = $"scene{k}.png" } });
                break;
            }
        }
        while (picked.Count < count)
        {
            var item = MakeItem(SampleStream, 0, "sample", index++);
            var k = picked.Count + 1;
            picked.Add(item with { Scene = item.Scene with { ImageId = k, Split = "sample", FileName = $"scene{k}.png" } });
        }
        // Only an earlier sample set (its samples.json) may be replaced; a user's README.md may not.
        if (!File.Exists(Path.Combine(dir, "samples.json")))
            foreach (var name in picked.Select(p => p.Scene.FileName).Append("README.md"))
                if (File.Exists(Path.Combine(dir, name)))
                    throw GlanceException.ForFile(Path.Combine(dir, name), "already exists and is not an earlier sample set's (no samples.json beside it); choose another --samples folder");
        Directory.CreateDirectory(dir);
        foreach (var item in picked) AtomicFile.WriteAllBytes(Path.Combine(dir, item.Scene.FileName), RenderPng(item.Scene));
        WriteJson(Path.Combine(dir, "samples.json"), picked.Select(p => new { file = p.Scene.FileName, captions = p.Captions, detailed = p.Detailed, scene = p.Scene }).ToList());
        var md = new System.Text.StringBuilder();
        md.AppendLine("# Sample scenes");
        md.AppendLine();
        md.AppendLine("Scenes from the synthetic world (SPEC §11) that `glance caption` captions by default. Regenerate with");
        md.AppendLine($"`glance synth --samples {Path.GetFileName(Path.GetFullPath(dir))} --seed {Seed} --size {Sampling.ImageSize} --vocab {Vocabulary.Which.ToString().ToLowerInvariant()}`;");
        md.AppendLine("`samples.json` holds each scene graph, all five reference captions and the detailed description.");
        md.AppendLine();
        md.AppendLine("| image | true caption (first reference) | detailed description |");
        md.AppendLine("|---|---|---|");
        foreach (var p in picked) md.AppendLine($"| `{p.Scene.FileName}` | {p.Captions[0]} | {p.Detailed} |");
        AtomicFile.WriteAllText(Path.Combine(dir, "README.md"), md.ToString());
        return picked;
    }

    public void Dispose() => _catalog.Dispose();
}
