using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SharpGlance.Data.Synthetic;

namespace SharpGlance.Tests.Data;

/// <summary>The dense world (<c>glance synth --world dense</c>) beside the default one, which must not move.</summary>
public class DenseWorldTests(SynthWorldFixture fixture) : IClassFixture<SynthWorldFixture>
{
    /// <summary>
    /// SHA-256 of the first 40 train and 10 test items of the fixture's default world (scene graphs, five
    /// captions, detailed text), taken before the dense world was added: the default world is unchanged.
    /// </summary>
    private const string DefaultWorldHash = "18F2B1D0A9C1E37691C6B405DD245093884EC197269D0FAAB87932CDD3665836";

    private static string Hash(IEnumerable<SynthItem> items) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", items.Select(i => JsonSerializer.Serialize(i, SceneJson.Options))))));

    [Fact]
    public void Default_world_is_unchanged()
    {
        var world = fixture.Require();
        var items = Enumerable.Range(0, 40).Select(i => world.Item("train", i)).Concat(Enumerable.Range(0, 10).Select(i => world.Item("test", i)));
        Assert.Equal(DefaultWorldHash, Hash(items));
    }

    private static SyntheticWorld OpenDense(long seed, int size = 96, int grid = 8) =>
        SyntheticWorld.Open(seed, size, SynthVocab.Mini, dense: new DenseWorld(Grid: grid));

    [Fact]
    public void Dense_scenes_have_3_to_6_groups_2_to_4_relations_and_all_counts_occur()
    {
        fixture.Require();
        using var world = OpenDense(11);
        var items = Enumerable.Range(0, 150).Select(i => world.Item("train", i)).ToList();
        Assert.All(items, i => Assert.InRange(i.Scene.Groups.Count, 3, 6));
        Assert.All(items, i => Assert.InRange(i.Scene.Relations.Count, 2, 4));
        Assert.All(items, i => Assert.InRange(i.Scene.Groups.Sum(g => g.Count), 3, DenseWorld.MaxObjects));
        Assert.Equal([3, 4, 5, 6], items.Select(i => i.Scene.Groups.Count).Distinct().Order());
        Assert.Equal([2, 3, 4], items.Select(i => i.Scene.Relations.Count).Distinct().Order());
        // Stated relations hold, between distinct groups, at most once per pair; nouns are distinct within a scene.
        foreach (var scene in items.Select(i => i.Scene))
        {
            Assert.Equal(scene.Groups.Count, scene.Groups.Select(g => g.Name).Distinct().Count());
            Assert.Equal(scene.Relations.Count, scene.Relations.Select(r => (Math.Min(r.Subject, r.Object), Math.Max(r.Subject, r.Object))).Distinct().Count());
            foreach (var r in scene.Relations)
                Assert.True(Relations.Holds(r.Predicate, scene.Groups[r.Subject].Bounds, scene.Groups[r.Object].Bounds, scene.Width), $"{scene.ImageId}: {r}");
        }
    }

    [Theory]
    [InlineData(96, 8)]
    [InlineData(224, 14)]
    public void Every_object_covers_at_least_two_patches_of_the_grid_and_lies_inside_the_image(int size, int grid)
    {
        fixture.Require();
        using var world = OpenDense(12, size, grid);
        double patch = (double)size / grid;
        foreach (var scene in Enumerable.Range(0, 60).Select(i => world.Item("test", i).Scene))
            foreach (var box in scene.Groups.SelectMany(g => g.Instances).Select(x => x.Box))
            {
                Assert.True(box.W * box.H >= DenseWorld.MinPatches * patch * patch, $"{scene.ImageId}: {box} is under two {patch:F1} px patches");
                Assert.InRange(box.X, 0, size);
                Assert.InRange(box.Right, 0, size);
                Assert.InRange(box.Bottom, 0, size);
            }
    }

    [Fact]
    public void References_are_multi_sentence_descriptions_that_the_checker_finds_right()
    {
        fixture.Require();
        using var world = OpenDense(13);
        var analyzer = new SceneErrorAnalyzer(world.Vocabulary.Lexicon());
        foreach (var item in Enumerable.Range(0, 60).Select(i => world.Item("val", i)))
        {
            Assert.Equal(5, item.Captions.Count);
            foreach (var reference in item.Captions.Append(item.Detailed))
            {
                int sentences = reference.Split(". ", StringSplitOptions.RemoveEmptyEntries).Length;
                Assert.True(sentences >= 1 + item.Scene.Groups.Count + item.Scene.Relations.Count, reference);
                var errors = analyzer.Analyze(reference, item.Scene);
                Assert.True(errors.Total == 0, $"{item.Scene.ImageId}: {reference} — {string.Join("; ", errors.Notes)}");
            }
        }
    }

    [Fact]
    public void Dense_world_is_a_function_of_its_seed()
    {
        fixture.Require();
        using var a = OpenDense(21);
        using var b = OpenDense(21);
        using var c = OpenDense(22);
        var items = (SyntheticWorld w) => Hash(Enumerable.Range(0, 20).Select(i => w.Item("test", i)));
        Assert.Equal(items(a), items(b));
        Assert.NotEqual(items(a), items(c));
        Assert.Equal(a.RenderPng(a.Item("test", 3).Scene), b.RenderPng(b.Item("test", 3).Scene));
    }
}
