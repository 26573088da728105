using SharpGlance.Data.Synthetic;

namespace SharpGlance.Tests.Data;

/// <summary>The error analyser on hand-made scenes and captions, one error kind at a time (no font needed).</summary>
public class SceneErrorAnalyzerTests
{
    private static readonly WorldLexicon Lexicon = MakeLexicon();

    private static WorldLexicon MakeLexicon()
    {
        var entities = new Dictionary<string, List<string>>
        {
            ["animal"] = ["cat", "dog", "mouse", "sheep"],
            ["vehicle"] = ["car", "bus"],
            ["shape"] = ["circle", "square", "star"],
        };
        return new WorldLexicon("test", entities,
            entities.Values.SelectMany(v => v).ToDictionary(n => n, English.Plural),
            WorldVocabulary.Colours.Select(c => c.Name).ToList(), ["small", "large"], ["circle", "square", "star"],
            Relations.Pairs.Select(p => new List<string> { p.Item1, p.Item2 }).ToList(),
            Relations.All.ToDictionary(p => p, p => CaptionWriter.RelationPhrases(p).ToList()),
            new Dictionary<string, int> { ["a"] = 1, ["two"] = 2 }, []);
    }

    private static readonly SceneErrorAnalyzer Analyzer = new(Lexicon);

    private static SceneGroup Emoji(int index, string name, params SceneBox[] boxes) =>
        new(index, name, "animal", SceneGroup.EmojiKind, "?", null, null, null, boxes.Length,
            boxes.Select((b, i) => new SceneInstance(b, index * 10 + i, false, false)).ToList());

    private static SceneGroup Shape(int index, string name, string colour, string size, SceneBox box) =>
        new(index, name, "shape", SceneGroup.ShapeKind, null, colour, size, "#000000", 1, [new SceneInstance(box, index * 10, false, false)]);

    private static SceneGraph Scene(params SceneGroup[] groups)
    {
        var relations = groups.Length == 2
            ? new List<SceneRelation> { new(0, Relations.HoldsAll(groups[0].Bounds, groups[1].Bounds, 128)[0], 1, Relations.HoldsAll(groups[0].Bounds, groups[1].Bounds, 128)) }
            : [];
        return new SceneGraph(1, "test", "test/1.png", 128, 128, new SceneBackground("plain", ["#ffffff"], ["white"], 0, 0), groups, relations);
    }

    // Two cats on the left (stacked vertically), a small red circle well to their right: "two cats left of a small red circle".
    private static readonly SceneGraph CatsLeftOfCircle = Scene(
        Emoji(0, "cat", new SceneBox(8, 30, 30, 30), new SceneBox(8, 66, 30, 30)),
        Shape(1, "circle", "red", "small", new SceneBox(80, 55, 18, 18)));

    // A small red circle high above a large blue circle.
    private static readonly SceneGraph RedAboveBlue = Scene(
        Shape(0, "circle", "red", "small", new SceneBox(55, 10, 18, 18)),
        Shape(1, "circle", "blue", "large", new SceneBox(45, 70, 40, 40)));

    private static CaptionErrors Check(string caption, SceneGraph scene) => Analyzer.Analyze(caption, scene);

    private static void AssertErrors(CaptionErrors e, int entity = 0, int colour = 0, int count = 0, int size = 0, int relation = 0)
    {
        var notes = string.Join("; ", e.Notes);
        Assert.True((entity, colour, count, size, relation) == (e.Entity, e.Colour, e.Count, e.Size, e.Relation),
            $"expected entity {entity}, colour {colour}, count {count}, size {size}, relation {relation}; got {e.Entity}, {e.Colour}, {e.Count}, {e.Size}, {e.Relation}: {notes}");
        Assert.Equal(e.Total, e.Notes.Count);
    }

    [Fact]
    public void Mentions_are_judged_in_word_order_with_their_positions()
    {
        // words: 0 three 1 cats 2 to 3 the 4 right 5 of 6 a 7 large 8 red 9 circle | 10 the 11 circle 12 is 13 blue
        var verdicts = Analyzer.Mentions("three cats to the right of a large red circle. The circle is blue.", CatsLeftOfCircle);
        Assert.Equal(
        [
            new MentionVerdict("count", 0, false), new MentionVerdict("entity", 1, true), new MentionVerdict("relation", 2, false),
            new MentionVerdict("count", 6, true), new MentionVerdict("size", 7, false), new MentionVerdict("colour", 8, true),
            new MentionVerdict("entity", 9, true),
        ], verdicts);
        // The wrong verdicts are the analysis's errors (no omissions here).
        AssertErrors(Check("three cats to the right of a large red circle. The circle is blue.", CatsLeftOfCircle), count: 1, size: 1, relation: 1);
        // "a bus" is matched to the circle (one thing, a swap): a right count, a wrong entity; the cats, never mentioned, are an omission without a verdict.
        Assert.Equal([new MentionVerdict("count", 0, true), new MentionVerdict("entity", 1, false)], Analyzer.Mentions("a bus", CatsLeftOfCircle));
    }

    [Theory]
    [InlineData("two cats to the left of a small red circle")]
    [InlineData("a small red circle to the right of two cats")]
    [InlineData("there are two cats left of a small red circle")]
    [InlineData("a small red circle is on the right of a pair of cats")]
    [InlineData("a small red circle and two cats, with the circle to the right of the cats")]
    [InlineData("Two cats, left of a red circle.")]  // size left out: not an error
    [InlineData("cats to the left of a circle")]     // bare plural: more than one
    [InlineData("two cats next to each other, to the left of a small red circle")]
    [InlineData("A photo showing two fluffy cats sitting happily to the left of a small shiny red circle.")]
    [InlineData("The image shows two cats and a small red circle on a plain white background. The cats are in the left part of the image. The cats are to the left of the circle.")]
    public void CorrectCaptionsHaveNoErrors(string caption) => AssertErrors(Check(caption, CatsLeftOfCircle));

    [Fact]
    public void EntitySwapHallucinationAndOmission()
    {
        AssertErrors(Check("two dogs to the left of a small red circle", CatsLeftOfCircle), entity: 1);       // swap within a class
        AssertErrors(Check("two cats to the left of a small red square", CatsLeftOfCircle), entity: 1);       // shape swap keeps colour and size
        AssertErrors(Check("two cats to the left of a small red circle and a bus", CatsLeftOfCircle), entity: 1); // hallucination
        AssertErrors(Check("two cats", CatsLeftOfCircle), entity: 1);                                         // omission (no relation to judge)
        AssertErrors(Check("a bus", CatsLeftOfCircle), entity: 2);              // swap (for the circle: the count agrees) + omission
        AssertErrors(Check("", CatsLeftOfCircle), entity: 2);
        AssertErrors(Check("hello world", CatsLeftOfCircle), entity: 2);
    }

    [Fact]
    public void ColourSizeAndCountErrors()
    {
        AssertErrors(Check("two cats to the left of a small orange circle", CatsLeftOfCircle), colour: 1);
        AssertErrors(Check("two cats to the left of a large red circle", CatsLeftOfCircle), size: 1);
        AssertErrors(Check("two cats to the left of a big red circle", CatsLeftOfCircle), size: 1);
        AssertErrors(Check("a cat to the left of a small red circle", CatsLeftOfCircle), count: 1);
        AssertErrors(Check("three cats to the left of a small red circle", CatsLeftOfCircle), count: 1);
        AssertErrors(Check("two cats to the left of two small red circles", CatsLeftOfCircle), count: 1);
        AssertErrors(Check("a cat to the left of a large orange circle", CatsLeftOfCircle), count: 1, colour: 1, size: 1);
    }

    [Fact]
    public void AttributeBindingPrefersTheReadingWhereTheRelationHolds()
    {
        AssertErrors(Check("a small red circle above a large blue circle", RedAboveBlue));
        AssertErrors(Check("a large blue circle below a small red circle", RedAboveBlue));
        // Colours swapped between the two circles: two colour errors, the relation still right.
        AssertErrors(Check("a small blue circle above a large red circle", RedAboveBlue), colour: 2);
        // Re-mentions resolve by colour.
        AssertErrors(Check("a red circle and a blue circle, with the blue circle below the red circle", RedAboveBlue));
        AssertErrors(Check("a red circle and a blue circle, with the blue circle above the red circle", RedAboveBlue), relation: 1);
    }

    [Fact]
    public void RelationErrors()
    {
        AssertErrors(Check("two cats to the right of a small red circle", CatsLeftOfCircle), relation: 1);
        AssertErrors(Check("a small red circle on the left of two cats", CatsLeftOfCircle), relation: 1);
        AssertErrors(Check("two cats above a small red circle", CatsLeftOfCircle), relation: 1);
        AssertErrors(Check("two cats next to a small red circle", CatsLeftOfCircle), relation: 1); // 42 px apart: not next to
        AssertErrors(Check("two cats and a small red circle", CatsLeftOfCircle), relation: 1);     // never stated
        // The swapped entity still carries a judged relation.
        AssertErrors(Check("two dogs to the right of a small red circle", CatsLeftOfCircle), entity: 1, relation: 1);
        // A relation whose object is no noun phrase is not a relation: "on a plain white background" says nothing.
        AssertErrors(Check("two cats on a plain white background to the left of a small red circle", CatsLeftOfCircle));
        AssertErrors(Check("two cats on a plain white background, a small red circle", CatsLeftOfCircle), relation: 1);
        // Nor does a relation reach past a new noun phrase: "on a mat with a circle" is not "on a circle".
        AssertErrors(Check("two cats on a mat with a small red circle", CatsLeftOfCircle), relation: 1);
    }

    [Fact]
    public void NextToSceneAcceptsTheSideAsWell()
    {
        var scene = Scene(Emoji(0, "dog", new SceneBox(20, 50, 30, 30)), Emoji(1, "cat", new SceneBox(52, 52, 30, 30)));
        Assert.Equal(Relations.LeftOf, scene.Relations[0].Predicate);
        Assert.Contains(Relations.NextTo, scene.Relations[0].Holds);
        AssertErrors(Check("a dog next to a cat", scene));
        AssertErrors(Check("a cat beside a dog", scene));
        AssertErrors(Check("a dog to the left of a cat", scene));
        AssertErrors(Check("a dog to the right of a cat", scene), relation: 1);
    }

    [Fact]
    public void IrregularPluralsAndUnknownCounts()
    {
        var mice = Scene(Emoji(0, "mouse", new SceneBox(10, 10, 20, 20), new SceneBox(40, 10, 20, 20)));
        AssertErrors(Check("two mice", mice));
        AssertErrors(Check("a mouse", mice), count: 1);
        AssertErrors(Check("two mouses", mice), entity: 1); // not a word of this world
        var sheep = Scene(Emoji(0, "sheep", new SceneBox(10, 10, 20, 20), new SceneBox(40, 10, 20, 20)));
        AssertErrors(Check("sheep in a field", sheep));  // count not said
        AssertErrors(Check("a sheep", sheep), count: 1);
        AssertErrors(Check("two sheep", sheep));
    }

    [Fact]
    public void BreakdownSumsByKind()
    {
        var breakdown = Analyzer.Analyze(new[]
        {
            ("two cats to the left of a small red circle", CatsLeftOfCircle),
            ("two dogs to the left of a small orange circle", CatsLeftOfCircle),
            ("a cat to the right of a small red circle", CatsLeftOfCircle),
        });
        Assert.Equal(3, breakdown.Captions);
        Assert.Equal(2, breakdown.CaptionsWithAny);
        Assert.Equal(1, breakdown.Errors("entity"));
        Assert.Equal(1, breakdown.Errors("colour"));
        Assert.Equal(1, breakdown.Errors("count"));
        Assert.Equal(1, breakdown.Errors("relation"));
        Assert.Equal(0, breakdown.Errors("size"));
        Assert.Equal(4, breakdown.TotalErrors);
        Assert.Contains("entity", breakdown.Format());
    }
}
