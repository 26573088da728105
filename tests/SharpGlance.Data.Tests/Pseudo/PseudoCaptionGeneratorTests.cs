using System.Text.Json.Nodes;
using SharpGlance.Data.Pseudo;

namespace SharpGlance.Tests.Data.Pseudo;

public sealed class PseudoCaptionGeneratorTests : IDisposable
{
    private readonly string _dir = PseudoTestData.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Input(IEnumerable<string>? captions = null) => PseudoTestData.WriteLlava(_dir, captions ?? PseudoTestData.CocoCaptions);

    private static JsonArray Read(string path) => (JsonArray)JsonNode.Parse(File.ReadAllText(path))!;

    private static string Gt(JsonNode entry) => entry["conversations"]![1]!["value"]!.GetValue<string>();

    private static List<string> PreCaptions(JsonNode entry) => entry["pre_captions"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();

    [Fact]
    public void OutputAddsVariantsAndLeavesTheGroundTruthUntouched()
    {
        var input = Input();
        var output = Path.Combine(_dir, "out", "train-ser.json");
        var summary = PseudoCaptionGenerator.Run(input, output, new PseudoOptions { Seed = 1 }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);

        var before = Read(input);
        var after = Read(output);
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
        {
            var b = before[i]!.AsObject();
            var a = after[i]!.AsObject();
            // Every original field, conversations included, is exactly as it was; two fields are added.
            foreach (var (key, value) in b) Assert.True(JsonNode.DeepEquals(value, a[key]), $"entry {i}: \"{key}\" changed");
            Assert.Equal(b.Count + 2, a.Count);
            var variants = PreCaptions(a);
            var edits = a["pre_caption_edits"]!.AsArray();
            Assert.Equal(3, variants.Count);
            Assert.Equal(3, edits.Count);
            for (int v = 0; v < 3; v++)
            {
                var list = edits[v]!.AsArray();
                Assert.InRange(list.Count, 0, 3);
                Assert.Equal(list.Count == 0, variants[v] == Gt(b));
                foreach (var e in list)
                {
                    Assert.Contains(e!["from"]!.GetValue<string>(), Gt(b));
                    Assert.Contains(e["to"]!.GetValue<string>(), variants[v]);
                }
            }
            // The variants of one caption differ from each other.
            Assert.Equal(3, variants.Distinct().Count());
        }
        // The prompt's "<image>" is written as it was, not as \u003C escapes.
        Assert.Contains("\"<image>\\nDescribe the image briefly.\"", File.ReadAllText(output));

        Assert.Equal(PseudoTestData.CocoCaptions.Length, summary.Entries);
        Assert.Equal(3 * summary.Entries, summary.Variants);
        Assert.Equal(summary.Variants, summary.Sources[PseudoVariant.Rules]);
        Assert.Equal(summary.Variants, summary.EditCountHistogram.Values.Sum());
        Assert.Equal(summary.EditCountHistogram.Sum(kv => kv.Key * kv.Value), summary.EditsPerKind.Values.Sum());
        Assert.True(summary.EditCountHistogram.Keys.All(k => k is >= 0 and <= 3));
        Assert.Equal(0, summary.UneditableCaptions);
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "out"), "*.tmp"));
    }

    [Fact]
    public void SameSeedSameBytesOtherSeedOtherBytes()
    {
        var input = Input();
        string Out(string name, int seed)
        {
            var path = Path.Combine(_dir, name);
            PseudoCaptionGenerator.Run(input, path, new PseudoOptions { Seed = seed }, Lexicon.BuiltIn);
            return path;
        }
        Assert.Equal(File.ReadAllBytes(Out("a.json", 5)), File.ReadAllBytes(Out("b.json", 5)));
        Assert.NotEqual(File.ReadAllBytes(Out("a.json", 5)), File.ReadAllBytes(Out("c.json", 6)));
    }

    [Fact]
    public void EntriesDoNotDependOnTheirNeighbours()
    {
        // Each entry draws from its own seeded generator: one caption's variants are the same in any company.
        var generator = new PseudoCaptionGenerator(new PseudoOptions { Seed = 3 }, Lexicon.BuiltIn);
        var alone = generator.Generate(PseudoTestData.CocoCaptions[4], 4);
        foreach (var (caption, i) in PseudoTestData.CocoCaptions.Select((c, i) => (c, i))) generator.Generate(caption, i);
        Assert.Equal(alone.Select(v => v.Caption), generator.Generate(PseudoTestData.CocoCaptions[4], 4).Select(v => v.Caption));
    }

    [Fact]
    public void Data4IncludesTheGroundTruthExactlyOnce()
    {
        var input = Input();
        var output = Path.Combine(_dir, "data4.json");
        var summary = PseudoCaptionGenerator.Run(input, output, new PseudoOptions { Seed = 2, IncludeGroundTruth = true }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);
        var positions = new HashSet<int>();
        foreach (var entry in Read(output))
        {
            var variants = PreCaptions(entry!);
            var gt = Gt(entry!);
            Assert.Single(variants, v => v == gt);
            int at = variants.IndexOf(gt);
            positions.Add(at);
            Assert.Empty(entry!["pre_caption_edits"]![at]!.AsArray());
            Assert.All(variants.Where(v => v != gt), v => Assert.NotEqual(gt, v));
        }
        Assert.True(positions.Count > 1, "the ground truth always sits at the same position");
        Assert.Equal(PseudoTestData.CocoCaptions.Length, summary.Sources[PseudoVariant.GroundTruth]);
    }

    [Fact]
    public void VariantCountAndMaxEditsAreHonoured()
    {
        var input = Input();
        var output = Path.Combine(_dir, "five.json");
        PseudoCaptionGenerator.Run(input, output, new PseudoOptions { Variants = 5, MaxEdits = 1, Seed = 9 }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);
        foreach (var entry in Read(output))
        {
            Assert.Equal(5, PreCaptions(entry!).Count);
            Assert.All(entry!["pre_caption_edits"]!.AsArray(), e => Assert.InRange(e!.AsArray().Count, 0, 1));
        }
        PseudoCaptionGenerator.Run(input, output, new PseudoOptions { MaxEdits = 0 }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);
        Assert.All(Read(output), e => Assert.All(PreCaptions(e!), v => Assert.Equal(Gt(e!), v)));
    }

    [Fact]
    public void SyntheticWorldLexiconBesideTheInputIsUsed()
    {
        var input = Input(["two small red circles to the left of a cat", "a large blue square above two mice"]);
        File.WriteAllText(Path.Combine(_dir, "lexicon.json"), PseudoTestData.SyntheticLexicon);
        var output = Path.Combine(_dir, "synthetic.json");
        var summary = PseudoCaptionGenerator.Run(input, output, new PseudoOptions { Seed = 4, Variants = 6 }, Lexicon.ForDataset(input), cancel: TestContext.Current.CancellationToken);
        Assert.Equal(2, summary.Lexicon.Count);
        var words = new[] { "circle", "square", "triangle", "cat", "dog", "mouse", "mice", "owl", "red", "crimson", "blue", "navy", "green", "small", "large", "left of", "right of", "above", "below" };
        foreach (var entry in Read(output))
            foreach (var e in entry!["pre_caption_edits"]!.AsArray().SelectMany(v => v!.AsArray()))
            {
                var to = e!["to"]!.GetValue<string>();
                Assert.True(words.Any(w => to.Contains(w, StringComparison.Ordinal)) || e["kind"]!.GetValue<string>() == CaptionEditor.CountKind,
                    $"'{to}' is not from the synthetic lexicon");
            }
        Assert.True(summary.EditsPerKind.GetValueOrDefault(Lexicon.EntityKind) > 0);
        Assert.True(summary.EditsPerKind.GetValueOrDefault(Lexicon.RelationKind) > 0);
    }

    [Fact]
    public void ModelStrategyTakesTheModelsCaptions()
    {
        var input = Input(["A cat is sitting on a red chair.", "A dog runs on the beach.", "Two birds on a wire."]);
        var captions = Path.Combine(_dir, "captions.jsonl");
        // glance caption --json lines; image 1's caption equals the GT (kept: "it is right"), image 2 has none.
        File.WriteAllLines(captions,
        [
            """{"image": "coco/COCO_train2014_000000000000.jpg", "caption": "A dog is sitting on a blue chair."}""",
            """{"image": "COCO_train2014_000000000001.jpg", "caption": "a dog runs on the beach"}""",
        ]);
        var output = Path.Combine(_dir, "data1.json");
        var summary = PseudoCaptionGenerator.Run(input, output, new PseudoOptions { Strategy = PseudoStrategy.Model, CaptionsPath = captions, Seed = 1 }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);
        var entries = Read(output);

        // Each model caption once (no repeats); the other variants are rule edits.
        var first = PreCaptions(entries[0]!);
        Assert.Equal(0, first.IndexOf("A dog is sitting on a blue chair."));
        Assert.Single(first, v => v == "A dog is sitting on a blue chair.");
        Assert.Equal(3, first.Distinct().Count());
        var hunks = entries[0]!["pre_caption_edits"]![0]!.AsArray();
        Assert.Equal(["cat→dog", "red→blue"], hunks.Select(h => $"{h!["from"]}→{h["to"]}"));
        Assert.All(hunks, h => Assert.Equal("model", h!["kind"]!.GetValue<string>()));
        var second = PreCaptions(entries[1]!);
        Assert.Equal("A dog runs on the beach.", second[0]);   // the model was right: a keep-it pair
        Assert.Empty(entries[1]!["pre_caption_edits"]![0]!.AsArray());
        Assert.All(second.Skip(1), v => Assert.NotEqual("A dog runs on the beach.", v));
        Assert.Equal(3, PreCaptions(entries[2]!).Count);

        Assert.Equal(2, summary.Model!.EntriesMatched);
        Assert.Equal(1, summary.Model.EntriesMissing);
        Assert.Equal(1, summary.Model.EqualToGroundTruth);
        Assert.Equal(2, summary.Sources[PseudoVariant.Model]);
        Assert.Equal(7, summary.Sources[PseudoVariant.Rules]);
    }

    [Fact]
    public void A_model_caption_pairs_with_its_nearest_reference_and_a_rewrite_is_left_out()
    {
        // One image, three references (as the synthetic world writes five): the model's caption goes to the
        // reference it is a small edit of, not to every reference of the image.
        const string image = "world/7.png";
        var input = Path.Combine(_dir, "refs.json");
        string[] references = ["two cats to the left of a dog", "a dog is to the right of two cats", "there are two cats and a dog"];
        File.WriteAllText(input, new JsonArray(references.Select((c, i) => (JsonNode?)PseudoTestData.Entry($"e{i}", c, image)).ToArray()).ToJsonString());
        var captions = Path.Combine(_dir, "model.jsonl");
        File.WriteAllLines(captions,
        [
            """{"image": "world/7.png", "caption": "a dog is to the left of two cats"}""",      // 1 span from reference 1
            """{"image": "world/7.png", "caption": "three red balloons above a tiny house"}""",  // a rewrite of every reference
        ]);
        var output = Path.Combine(_dir, "paired.json");
        var summary = PseudoCaptionGenerator.Run(input, output, new PseudoOptions { Strategy = PseudoStrategy.Model, CaptionsPath = captions, Seed = 2 }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);
        var entries = Read(output);
        Assert.Contains("a dog is to the left of two cats", PreCaptions(entries[1]!));
        Assert.DoesNotContain("a dog is to the left of two cats", PreCaptions(entries[0]!));
        Assert.DoesNotContain("a dog is to the left of two cats", PreCaptions(entries[2]!));
        Assert.All(entries, e => Assert.DoesNotContain("three red balloons above a tiny house", PreCaptions(e!)));
        Assert.Equal(1, summary.Model!.TooFar);
        Assert.Equal(1, summary.Sources[PseudoVariant.Model]);
    }

    [Fact]
    public void ModelCaptionsReadCocoResultsAndMixWithRules()
    {
        var input = Input(PseudoTestData.CocoCaptions);
        var results = Path.Combine(_dir, "results.json");
        // Each model caption is its ground truth with the last word changed: a small edit, so it is used.
        static string Model(int i) => string.Join(' ', PseudoTestData.CocoCaptions[i].Split(' ')[..^1]) + " zebra";
        var items = PseudoTestData.CocoCaptions.Select((c, i) => new JsonObject { ["image_id"] = i, ["caption"] = Model(i) });
        File.WriteAllText(results, new JsonArray(items.ToArray<JsonNode?>()).ToJsonString());
        var output = Path.Combine(_dir, "mixed.json");
        var summary = PseudoCaptionGenerator.Run(input, output, new PseudoOptions { Strategy = PseudoStrategy.Mixed, CaptionsPath = results, Seed = 3 }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);
        var entries = Read(output);
        for (int i = 0; i < entries.Count; i++)
            Assert.True(PreCaptions(entries[i]!).Count(v => v.EndsWith(" zebra", StringComparison.Ordinal)) <= 1, $"entry {i} repeats its model caption");
        // A variant takes the model's caption with even odds, and each caption serves once: 1 − 1/8 of the entries.
        Assert.InRange(summary.Sources[PseudoVariant.Model], 7, 12);
        Assert.Equal(36 - summary.Sources[PseudoVariant.Model], summary.Sources[PseudoVariant.Rules]);
    }

    [Fact]
    public void CaptionsThatMatchNoImageAreAnError()
    {
        var input = Input(["A cat."]);
        var captions = Path.Combine(_dir, "other.jsonl");
        File.WriteAllText(captions, """{"image": "elsewhere/picture.png", "caption": "a dog"}""" + "\n");
        var e = Assert.Throws<GlanceException>(() => PseudoCaptionGenerator.Run(input, Path.Combine(_dir, "x.json"),
            new PseudoOptions { Strategy = PseudoStrategy.Model, CaptionsPath = captions }, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken));
        Assert.StartsWith(captions + ": none of its 1 captions matches", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "x.json")));
    }

    [Fact]
    public void InputProblemsAreNamedErrors()
    {
        var missing = Path.Combine(_dir, "missing.json");
        Assert.Equal($"{missing}: input file not found",
            Assert.Throws<GlanceException>(() => PseudoCaptionGenerator.Run(missing, Path.Combine(_dir, "o.json"), new PseudoOptions(), Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken)).Message);

        var noGpt = Path.Combine(_dir, "nogpt.json");
        File.WriteAllText(noGpt, """[{"id": "000123", "image": "x.jpg", "conversations": [{"from": "human", "value": "<image>\nDescribe."}]}]""");
        Assert.Equal($"{noGpt}: entry '000123' has no \"gpt\" turn (the ground-truth caption)",
            Assert.Throws<GlanceException>(() => PseudoCaptionGenerator.Run(noGpt, Path.Combine(_dir, "o.json"), new PseudoOptions(), Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken)).Message);

        var notList = Path.Combine(_dir, "object.json");
        File.WriteAllText(notList, """{"id": 1}""");
        Assert.Contains("expected a JSON list of LLaVA conversation entries",
            Assert.Throws<GlanceException>(() => PseudoCaptionGenerator.Run(notList, Path.Combine(_dir, "o.json"), new PseudoOptions(), Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken)).Message);
        Assert.False(File.Exists(Path.Combine(_dir, "o.json")));
    }

    [Theory]
    [InlineData(0, 3, "--variants must be at least 1 (got 0)")]
    [InlineData(3, -1, "--max-edits must be 0 or more (got -1)")]
    public void BadOptionsAreNamed(int variants, int maxEdits, string message) =>
        Assert.Equal(message, Assert.Throws<GlanceException>(() => new PseudoOptions { Variants = variants, MaxEdits = maxEdits }.Validate()).Message);
}
