using System.Text.Json;
using System.Text.RegularExpressions;
using SharpGlance.Data.Synthetic;

namespace SharpGlance.Tests.Data;

public class SyntheticWorldTests(SynthWorldFixture fixture) : IClassFixture<SynthWorldFixture>
{
    private const int Scenes = 80; // sampled without rendering: cheap

    private IEnumerable<SynthItem> Items(SyntheticWorld world) => Enumerable.Range(0, Scenes).Select(i => world.Item("train", i));

    [Fact]
    public void CatalogResolvesEveryCuratedEntity()
    {
        var world = fixture.Require();
        Assert.Empty(world.Catalog.Unresolved);
        Assert.Equal(EmojiCatalog.ParseCurated().Count(), world.Catalog.Entries.Count);
        Assert.InRange(world.Catalog.Entries.Count, 300, 500);
        Assert.Equal(57, world.Vocabulary.Emoji.Count);
        Assert.Equal(8, world.Vocabulary.Shapes.Count);
        Assert.Equal(11, world.Vocabulary.Classes.Count);
        // Names come from CLDR: "cat" is U+1F408, the full-body cat (not "cat face").
        var cat = world.Catalog.Entries.Single(e => e.Name == "cat");
        Assert.Equal("\U0001F408", cat.Emoji);
        Assert.Contains("pet", cat.Keywords);
        Assert.Equal("red apple", world.Catalog.Entries.Single(e => e.Name == "apple").CldrName);
        using var full = SyntheticWorld.Open(1, 96, SynthVocab.Full);
        Assert.Equal(world.Catalog.Entries.Count + 8, full.Vocabulary.Entities.Count);
    }

    [Fact]
    public void MissingFontOrCldrNamesTheDebianPackages()
    {
        var font = Assert.Throws<GlanceException>(() => EmojiCatalog.Load("/nonexistent/NotoColorEmoji.ttf"));
        Assert.StartsWith("/nonexistent/NotoColorEmoji.ttf: ", font.Message);
        Assert.Contains("fonts-noto-color-emoji unicode-cldr-core", font.Message);
        Assert.Contains("scripts/setup.sh", font.Message);
        fixture.Require();
        var cldr = Assert.Throws<GlanceException>(() => EmojiCatalog.Load(cldrDir: "/nonexistent/cldr"));
        Assert.Contains("/nonexistent/cldr/annotations/en.xml", cldr.Message);
        Assert.Contains("unicode-cldr-core", cldr.Message);
    }

    [Fact]
    public void ScenesAndCaptionsAreAPureFunctionOfSeedSplitAndIndex()
    {
        var world = fixture.Require();
        using var again = SyntheticWorld.Open(seed: 5, imageSize: 96, vocab: SynthVocab.Small, occlusion: 0.5);
        using var other = SyntheticWorld.Open(seed: 6, imageSize: 96, vocab: SynthVocab.Small, occlusion: 0.5);
        string Json(SynthItem item) => JsonSerializer.Serialize(item, SceneJson.Options);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(Json(world.Item("val", i)), Json(again.Item("val", i)));
            Assert.Equal(world.RenderPng(world.Item("val", i).Scene), again.RenderPng(again.Item("val", i).Scene));
        }
        Assert.NotEqual(Enumerable.Range(0, 10).Select(i => Json(world.Item("val", i))), Enumerable.Range(0, 10).Select(i => Json(other.Item("val", i))));
    }

    [Fact]
    public void EveryCaptionNamesEveryGroupWithArticleOrNumberAndAgreement()
    {
        var world = fixture.Require();
        foreach (var item in Items(world))
        {
            Assert.Equal(5, item.Captions.Count);
            Assert.Equal(5, item.Captions.Distinct().Count());
            foreach (var caption in item.Captions.Append(item.Detailed))
                foreach (var g in item.Scene.Groups)
                {
                    var noun = g.Count == 1 ? g.Name : English.Plural(g.Name);
                    var attrs = g.IsShape ? $@"(?:(?:{g.Size} )?{g.Colour} )" : "";
                    var number = g.Count switch { 1 => "(?:a|an)", 2 => "(?:two|a pair of)", _ => "three" };
                    // The first mention carries the article or number; re-mentions are definite ("the cats").
                    var pattern = $@"(?:^|\W){number} {attrs}{Regex.Escape(noun)}(?:\W|$)";
                    Assert.True(Regex.IsMatch(caption, pattern, RegexOptions.IgnoreCase), $"'{caption}' does not name '{CaptionWriter.NounPhrase(g)}' ({pattern})");
                    if (g.Count == 1)
                    {
                        var article = Regex.Match(caption, $@"(?:^|\W)(a|an) {attrs}{Regex.Escape(noun)}", RegexOptions.IgnoreCase);
                        var next = caption[(article.Groups[1].Index + article.Groups[1].Length + 1)..].Split(' ')[0];
                        Assert.Equal(English.Article(next), article.Groups[1].Value.ToLowerInvariant());
                    }
                }
            Assert.True(item.Captions[0].Split(' ').Length >= 2);
        }
    }

    [Fact]
    public void GeneratedCaptionsAndDescriptionsHaveNoErrors()
    {
        var world = fixture.Require();
        var analyzer = new SceneErrorAnalyzer(world.Vocabulary.Lexicon());
        foreach (var item in Items(world))
            foreach (var caption in item.Captions.Append(item.Detailed))
            {
                var errors = analyzer.Analyze(caption, item.Scene);
                Assert.True(errors.Total == 0, $"'{caption}': {string.Join("; ", errors.Notes)}");
            }
    }

    [Fact]
    public void OneInjectedEditIsFoundAsExactlyOneErrorOfItsKind()
    {
        // Edits as the pseudo-caption editor makes them (SPEC §9), on generated scenes: the analyser must
        // report exactly that error and nothing else.
        var world = fixture.Require();
        var lexicon = world.Vocabulary.Lexicon();
        var analyzer = new SceneErrorAnalyzer(lexicon);
        var rng = new SynthRandom(9);
        var kinds = new HashSet<string>();
        foreach (var scene in Items(world).Select(i => i.Scene).Where(s => s.Groups.Count == 2))
        {
            SceneGroup a = scene.Groups[0], b = scene.Groups[1];
            var predicate = scene.Relations[0].Predicate;
            string Caption(SceneGroup x, string p) => $"{CaptionWriter.NounPhrase(x)} {CaptionWriter.RelationPhrases(p)[0]} {CaptionWriter.NounPhrase(b)}";
            var edits = new List<(string Kind, string Text)>
            {
                ("entity", Caption(a with { Name = rng.Pick(lexicon.Entities[a.Class].Where(e => e != a.Name).ToList()) }, predicate)),
                ("count", Caption(a with { Count = a.Count % 3 + 1 }, predicate)),
            };
            if (predicate != Relations.NextTo) edits.Add(("relation", Caption(a, Relations.Inverse(predicate))));
            if (a.IsShape)
            {
                edits.Add(("colour", Caption(a with { Colour = rng.Pick(lexicon.Colours.Where(c => c != a.Colour).ToList()) }, predicate)));
                edits.Add(("size", Caption(a with { Size = a.Size == "small" ? "large" : "small" }, predicate)));
            }
            foreach (var (kind, text) in edits)
            {
                var e = analyzer.Analyze(text, scene);
                int[] expected = [.. ErrorBreakdown.Kinds.Select(k => k == kind ? 1 : 0)];
                Assert.True(expected.SequenceEqual([e.Entity, e.Colour, e.Count, e.Size, e.Relation]),
                    $"{kind} edit '{text}' of '{Caption(a, predicate)}': {string.Join("; ", e.Notes)}");
                kinds.Add(kind);
            }
        }
        Assert.Equal(ErrorBreakdown.Kinds.Length, kinds.Count);
    }

    [Fact]
    public void RelationsHoldForTheBoxesAndObjectsStayInside()
    {
        var world = fixture.Require();
        var predicates = new HashSet<string>();
        var side = world.Sampling.ImageSize;
        foreach (var item in Items(world).Concat(Enumerable.Range(0, 120).Select(i => world.Item("test", i))))
        {
            var scene = item.Scene;
            Assert.InRange(scene.Groups.Count, 1, 2);
            Assert.InRange(scene.Groups.Sum(g => g.Count), 1, 4);
            foreach (var g in scene.Groups)
            {
                Assert.Equal(g.Count, g.Instances.Count);
                Assert.Equal(g.IsShape, g.Colour is not null && g.Size is not null && g.Fill is not null);
                foreach (var i in g.Instances)
                {
                    Assert.True(i.Box.X >= 0 && i.Box.Y >= 0 && i.Box.Right <= side && i.Box.Bottom <= side, $"box {i.Box} leaves the image");
                    // Small and large shapes never come close in size.
                    if (g.IsShape) Assert.InRange(Math.Max(i.Box.W, i.Box.H) / side, g.Size == "small" ? 0.12 : 0.26, g.Size == "small" ? 0.18 : 0.34);
                }
            }
            Assert.Equal(scene.Groups.Count - 1, scene.Relations.Count);
            foreach (var r in scene.Relations)
            {
                SceneBox a = scene.Groups[r.Subject].Bounds, b = scene.Groups[r.Object].Bounds;
                predicates.Add(r.Predicate);
                Assert.True(Relations.Holds(r.Predicate, a, b, side), $"{r.Predicate} does not hold for {a} / {b}");
                Assert.Contains(r.Predicate, r.Holds);
                Assert.Equal(Relations.HoldsAll(a, b, side), r.Holds);
                // The generated predicate is unambiguous: the other axis does not hold.
                if (r.Predicate is Relations.LeftOf or Relations.RightOf) Assert.DoesNotContain(Relations.Above, r.Holds);
                if (r.Predicate is Relations.LeftOf or Relations.RightOf or Relations.Above or Relations.Below) Assert.DoesNotContain(Relations.NextTo, r.Holds);
                if (r.Predicate is Relations.Above) Assert.DoesNotContain(Relations.OnTopOf, r.Holds);
            }
        }
        Assert.Equal(Relations.Generated.OrderBy(p => p), predicates.OrderBy(p => p));
    }

    [Fact]
    public void HandMadeGeometry()
    {
        // 100 px image: a at the left, b 30 px to its right, same row.
        var a = new SceneBox(10, 40, 20, 20);
        var b = new SceneBox(60, 40, 20, 20);
        Assert.Equal([Relations.LeftOf], Relations.HoldsAll(a, b, 100));
        Assert.Equal([Relations.RightOf], Relations.HoldsAll(b, a, 100));
        // Touching side by side: next to, and still left of.
        var c = new SceneBox(31, 42, 20, 20);
        Assert.Equal([Relations.LeftOf, Relations.NextTo], Relations.HoldsAll(a, c, 100));
        // Resting on top (sinking 2 px into it): on top of, and above.
        var top = new SceneBox(15, 22, 10, 20);
        Assert.Equal([Relations.Above, Relations.OnTopOf], Relations.HoldsAll(top, a, 100));
        Assert.Equal([Relations.Below, Relations.Under], Relations.HoldsAll(a, top, 100));
        // Well above: above only.
        var high = new SceneBox(12, 5, 16, 16);
        Assert.Equal([Relations.Above], Relations.HoldsAll(high, a, 100));
    }

    [Fact]
    public void DatasetIsByteIdenticalForASeedWhateverTheThreadCount()
    {
        fixture.Require();
        var root = Path.Combine(Path.GetTempPath(), $"synth-test-{Guid.NewGuid():N}");
        try
        {
            var options = new SynthOptions { Train = 12, Val = 4, Test = 4, Seed = 11, ImageSize = 96 };
            SyntheticWorld.Generate(Path.Combine(root, "a"), options with { Threads = 1 }, cancel: TestContext.Current.CancellationToken);
            SyntheticWorld.Generate(Path.Combine(root, "b"), options with { Threads = 2 }, cancel: TestContext.Current.CancellationToken);
            SyntheticWorld.Generate(Path.Combine(root, "c"), options with { Seed = 12 }, cancel: TestContext.Current.CancellationToken);
            var a = Files(Path.Combine(root, "a"));
            Assert.Equal(12 + 4 + 4 + 4 * 3 + 2, a.Count);
            Assert.Equal(a.Keys, Files(Path.Combine(root, "b")).Keys);
            foreach (var (name, bytes) in Files(Path.Combine(root, "b"))) Assert.True(a[name].SequenceEqual(bytes), $"{name} differs");
            var c = Files(Path.Combine(root, "c"));
            Assert.False(a["train.coco.json"].SequenceEqual(c["train.coco.json"]));
            Assert.False(a["images/train/1000000.png"].SequenceEqual(c["images/train/1000000.png"]));
            // Nothing of the staging folder is left behind.
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(Path.Combine(root, "a")), p => Path.GetFileName(p).StartsWith('.'));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static Dictionary<string, byte[]> Files(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(dir, f).Replace('\\', '/'), File.ReadAllBytes);

    [Fact]
    public void OutputFilesParseAndSplitsAreDisjoint()
    {
        fixture.Require();
        var dir = Path.Combine(Path.GetTempPath(), $"synth-test-{Guid.NewGuid():N}");
        try
        {
            var summary = SyntheticWorld.Generate(dir, new SynthOptions { Train = 10, Val = 5, Test = 5, Seed = 3, ImageSize = 128 }, cancel: TestContext.Current.CancellationToken);
            Assert.Equal(20, summary.Images.Values.Sum());
            var ids = new Dictionary<string, HashSet<int>>();
            var pixels = new Dictionary<string, HashSet<string>>();
            var lexicon = WorldLexicon.Load(Path.Combine(dir, "lexicon.json"));
            Assert.Equal("mice", lexicon.Plurals["mouse"]);
            Assert.Contains("cat", lexicon.Entities["animal"]);
            Assert.Equal(WorldVocabulary.Colours.Select(c => c.Name), lexicon.Colours);
            Assert.Contains(lexicon.Relations, p => p.SequenceEqual(["left of", "right of"]));
            var analyzer = new SceneErrorAnalyzer(lexicon);
            foreach (var (split, n) in new[] { ("train", 10), ("val", 5), ("test", 5) })
            {
                var scenes = SceneJson.LoadScenes(Path.Combine(dir, $"{split}.scenes.json"));
                Assert.Equal(n, scenes.Count);

                using var coco = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"{split}.coco.json")));
                var images = coco.RootElement.GetProperty("images").EnumerateArray().ToList();
                var annotations = coco.RootElement.GetProperty("annotations").EnumerateArray().ToList();
                Assert.Equal(n, images.Count);
                Assert.Equal(5 * n, annotations.Count);
                Assert.Equal(5 * n, annotations.Select(a => a.GetProperty("id").GetInt32()).Distinct().Count());
                ids[split] = images.Select(i => i.GetProperty("id").GetInt32()).ToHashSet();
                Assert.Equal(ids[split], scenes.Keys.ToHashSet());
                foreach (var image in images)
                {
                    var file = image.GetProperty("file_name").GetString()!;
                    Assert.Equal($"{split}/{image.GetProperty("id").GetInt32()}.png", file);
                    var png = File.ReadAllBytes(Path.Combine(dir, "images", file));
                    using var bitmap = SkiaSharp.SKBitmap.Decode(png);
                    Assert.Equal(128, bitmap.Width);
                    Assert.Equal(128, bitmap.Height);
                    (pixels.TryGetValue(split, out var set) ? set : pixels[split] = []).Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(png)));
                }
                foreach (var a in annotations)
                    Assert.Equal(0, analyzer.Analyze(a.GetProperty("caption").GetString()!, scenes[a.GetProperty("image_id").GetInt32()]).Total);

                using var llava = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"{split}.llava.json")));
                var entries = llava.RootElement.EnumerateArray().ToList();
                Assert.Equal(5 * n, entries.Count);
                var first = entries[0];
                Assert.Equal($"{images[0].GetProperty("id").GetInt32()}_0", first.GetProperty("id").GetString());
                Assert.Equal(images[0].GetProperty("file_name").GetString(), first.GetProperty("image").GetString());
                var turns = first.GetProperty("conversations").EnumerateArray().ToList();
                Assert.Equal(["human", "gpt"], turns.Select(t => t.GetProperty("from").GetString()));
                Assert.Equal("<image>\nWhat is in the photo?", turns[0].GetProperty("value").GetString());
                Assert.Equal(annotations[0].GetProperty("caption").GetString(), turns[1].GetProperty("value").GetString());

                using var detailed = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"{split}.detailed.json")));
                Assert.Equal(n, detailed.RootElement.GetArrayLength());
                foreach (var d in detailed.RootElement.EnumerateArray())
                {
                    var text = d.GetProperty("conversations")[1].GetProperty("value").GetString()!;
                    Assert.StartsWith("The image shows ", text);
                    Assert.Equal(0, analyzer.Analyze(text, scenes[int.Parse(d.GetProperty("id").GetString()!)]).Total);
                }
            }
            Assert.Empty(ids["train"].Intersect(ids["val"]));
            Assert.Empty(ids["train"].Intersect(ids["test"]));
            Assert.Empty(ids["val"].Intersect(ids["test"]));
            Assert.Empty(pixels["train"].Intersect(pixels["val"]));
            Assert.Empty(pixels["train"].Intersect(pixels["test"]));
            Assert.Empty(pixels["val"].Intersect(pixels["test"]));
            using var info = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "world.json")));
            Assert.Equal(128, info.RootElement.GetProperty("image_size").GetInt32());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ValidationNamesTheBadOption()
    {
        Assert.Contains("--size", Assert.Throws<GlanceException>(() => new SynthOptions { Train = 1, ImageSize = 100 }.Validate()).Message);
        Assert.Contains("--train", Assert.Throws<GlanceException>(() => new SynthOptions { Train = -1 }.Validate()).Message);
        Assert.Contains("nothing to generate", Assert.Throws<GlanceException>(() => new SynthOptions().Validate()).Message);
        Assert.Contains("occlusion", Assert.Throws<GlanceException>(() => new SynthOptions { Train = 1, Occlusion = 2 }.Validate()).Message);
    }

    [Fact]
    public void ShippedSamplesMatchTheGenerator()
    {
        fixture.Require();
        var samples = Path.Combine(Fixtures.RepoRoot, "samples");
        Assert.True(File.Exists(Path.Combine(samples, "samples.json")), "samples/samples.json missing");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(samples, "samples.json")));
        var total = 0L;
        using var shipped = SyntheticWorld.Open(seed: 7, imageSize: 96, vocab: SynthVocab.Mini);
        var analyzer = new SceneErrorAnalyzer(shipped.Vocabulary.Lexicon());
        foreach (var s in doc.RootElement.EnumerateArray())
        {
            var file = Path.Combine(samples, s.GetProperty("file").GetString()!);
            total += new FileInfo(file).Length;
            var scene = s.GetProperty("scene").Deserialize<SceneGraph>(SceneJson.Options)!;
            Assert.True(File.ReadAllBytes(file).SequenceEqual(shipped.RenderPng(scene)), $"{file} is not the rendering of its scene graph");
            foreach (var c in s.GetProperty("captions").EnumerateArray()) Assert.Equal(0, analyzer.Analyze(c.GetString()!, scene).Total);
        }
        Assert.Equal(6, doc.RootElement.GetArrayLength());
        Assert.True(total < 300_000, $"samples take {total} bytes");
    }
}
