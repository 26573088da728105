using SharpGlance.Data.Synthetic;

namespace SharpGlance.Tests.Data;

/// <summary>The labels a scene graph gives a probe or the tower's auxiliary loss, on hand-made scenes.</summary>
public class SceneLabelsTests
{
    private static SceneGroup Group(int index, string name, string? colour, int count, params SceneBox[] boxes) =>
        new(index, name, colour is null ? "animal" : "shape", colour is null ? SceneGroup.EmojiKind : SceneGroup.ShapeKind, null,
            colour, colour is null ? null : "large", null, count, boxes.Select((b, i) => new SceneInstance(b, i, false, false)).ToList());

    private static SceneGraph Scene(IReadOnlyList<SceneGroup> groups, IReadOnlyList<SceneRelation> relations) =>
        new(1, "test", "test/1.png", 96, 96, new SceneBackground("plain", ["#ffffff"], ["white"], 0, 0), groups, relations);

    private static readonly SceneVocabulary Vocab = new(["cat", "circle", "dog"], ["blue", "red"]);

    [Fact]
    public void Coverage_is_each_cells_share_inside_the_boxes()
    {
        // A 96-px image on a 4×4 grid: cells of 24 px. The box covers cell (0,0) whole and half of cell (0,1).
        var cover = SceneLabels.Coverage([new SceneBox(0, 0, 36, 24)], 96, 96, 4);
        Assert.Equal(1f, cover[0]);
        Assert.Equal(0.5f, cover[1]);
        Assert.Equal(0f, cover[2]);
        Assert.Equal(0f, cover[4]);
        // Two overlapping boxes count their union once.
        var union = SceneLabels.Coverage([new SceneBox(0, 0, 24, 24), new SceneBox(0, 0, 24, 24)], 96, 96, 4);
        Assert.Equal(1f, union[0]);
        Assert.Equal(1f, union.Sum());
    }

    [Fact]
    public void Groups_come_in_entity_order_and_the_relation_is_read_first_to_second()
    {
        // The caption's subject is the dog (group 0): "a dog left of two cats". Canonical order puts the cat
        // first (it sorts first), so the relation with its roles is cat → dog: right of.
        var dog = Group(0, "dog", null, 1, new SceneBox(5, 40, 20, 20));
        var cats = Group(1, "cat", null, 2, new SceneBox(60, 40, 12, 12), new SceneBox(75, 40, 12, 12));
        var labels = SceneLabels.Of(Scene([dog, cats], [new SceneRelation(0, Relations.LeftOf, 1, [Relations.LeftOf])]), Vocab, 8);
        Assert.Equal([0, 2], labels.Groups.Select(g => g.Entity));
        Assert.Equal(1, labels.Groups[0].Count);     // two cats: count id 1
        Assert.Equal(0, labels.Groups[1].Count);
        Assert.Null(labels.Groups[0].Colour);
        Assert.Equal(Relations.All.ToList().IndexOf(Relations.RightOf), labels.Predicate);
        Assert.Equal(0, labels.Arrangement);        // side by side
        // Regions of a 3×3 grid: the dog's centre (15, 50) is row 1, column 0; the cats' (43+..) row 1, column 2.
        Assert.Equal(3, labels.Groups[1].Region);
        Assert.Equal(5, labels.Groups[0].Region);
    }

    [Fact]
    public void One_group_has_no_relation_and_shapes_carry_colour_and_size()
    {
        var circle = Group(0, "circle", "red", 3, new SceneBox(0, 0, 10, 10));
        var labels = SceneLabels.Of(Scene([circle], []), Vocab, 8);
        Assert.Null(labels.Predicate);
        Assert.Null(labels.Arrangement);
        Assert.Equal(1, labels.Groups[0].Colour);
        Assert.Equal(1, labels.Groups[0].Size);
        Assert.Equal(2, labels.Groups[0].Count);
        Assert.Throws<GlanceException>(() => SceneLabels.Of(Scene([Group(0, "owl", null, 1, new SceneBox(0, 0, 5, 5))], []), Vocab, 8));
    }

    [Fact]
    public void Arrangements_group_predicates_without_their_roles()
    {
        Assert.Equal(0, SceneVocabulary.Arrangement(Relations.RightOf));
        Assert.Equal(1, SceneVocabulary.Arrangement(Relations.Under));
        Assert.Equal(1, SceneVocabulary.Arrangement(Relations.Above));
        Assert.Equal(2, SceneVocabulary.Arrangement(Relations.NextTo));
    }
}
