using SharpGlance.Data.Pseudo;

using SharpGlance.Data;

namespace SharpGlance.Tests.Data.Pseudo;

public class LexiconTests
{
    [Theory]
    [InlineData("sit", "sits", "sitting")]
    [InlineData("lie", "lies", "lying")]
    [InlineData("ride", "rides", "riding")]
    [InlineData("ski", "skis", "skiing")]
    [InlineData("run", "runs", "running")]
    [InlineData("swim", "swims", "swimming")]
    [InlineData("carry", "carries", "carrying")]
    [InlineData("wash", "washes", "washing")]
    [InlineData("see", "sees", "seeing")]
    [InlineData("play", "plays", "playing")]
    [InlineData("have", "has", "having")]
    [InlineData("go", "goes", "going")]
    [InlineData("open", "opens", "opening")]
    [InlineData("look", "looks", "looking")]
    public void VerbForms(string verb, string third, string ing)
    {
        Assert.Equal(third, Inflection.ThirdPerson(verb));
        Assert.Equal(ing, Inflection.Ing(verb));
    }

    [Theory]
    [InlineData("apple", "an")]
    [InlineData("dog", "a")]
    [InlineData("umbrella", "an")]
    [InlineData("unicorn", "a")]
    [InlineData("hour", "an")]
    [InlineData("orange", "an")]
    [InlineData("Elephant", "an")]
    [InlineData("8", "an")]
    [InlineData("one-way", "a")]
    public void Articles(string next, string article) => Assert.Equal(article, Inflection.Article(next));

    [Theory]
    [InlineData("man", "men")]
    [InlineData("person", "people")]
    [InlineData("knife", "knives")]
    [InlineData("bus", "buses")]
    [InlineData("baby", "babies")]
    [InlineData("teddy bear", "teddy bears")]
    [InlineData("hair drier", "hair driers")]
    [InlineData("sheep", "sheep")]
    [InlineData("tomato", "tomatoes")]
    [InlineData("boy", "boys")]
    [InlineData("sandwich", "sandwiches")]
    [InlineData("old man", "old men")]
    public void Plurals(string singular, string plural) => Assert.Equal(plural, Lexicon.BuiltIn.Plural(singular));

    [Fact]
    public void BuiltInCoversTheCocoCategoriesBySupercategory()
    {
        // The 80 COCO detection categories (instances_*.json) under their supercategories.
        var coco = new Dictionary<string, string[]>
        {
            ["person"] = ["person"],
            ["vehicle"] = ["bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"],
            ["outdoor"] = ["traffic light", "fire hydrant", "stop sign", "parking meter", "bench"],
            ["animal"] = ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"],
            ["accessory"] = ["backpack", "umbrella", "handbag", "tie", "suitcase"],
            ["sports"] = ["frisbee", "ski", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket"],
            ["kitchen"] = ["bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl"],
            ["food"] = ["banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake"],
            ["furniture"] = ["chair", "couch", "potted plant", "bed", "dining table", "toilet"],
            ["electronic"] = ["tv", "laptop", "mouse", "remote", "keyboard", "cell phone"],
            ["appliance"] = ["microwave", "oven", "toaster", "sink", "refrigerator"],
            ["indoor"] = ["book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"],
        };
        Assert.Equal(80, coco.Values.Sum(v => v.Length));
        foreach (var (supercategory, names) in coco)
            foreach (var name in names)
                Assert.Contains(supercategory, Lexicon.BuiltIn.ClassesOf(Lexicon.EntityKind, name));
        // COCO's plural category name is the plural of our entry.
        Assert.Equal("skis", Lexicon.BuiltIn.Plural("ski"));
    }

    [Fact]
    public void ExtraLexiconIsMergedOnTopAndOwnsItsWords()
    {
        var lexicon = Lexicon.BuiltIn.With(PseudoTestData.SyntheticLexicon, "lexicon.json");
        Assert.Equal(["built-in lexicon", "lexicon.json"], lexicon.SourceNames);
        // Its words swap within its own classes...
        Assert.Equal(["dog", "mouse", "owl"], lexicon.Partners(Lexicon.EntityKind, "cat"));
        Assert.Equal(["square", "triangle"], lexicon.Partners(Lexicon.EntityKind, "circle"));
        Assert.Equal(["shape"], lexicon.ClassesOf(Lexicon.EntityKind, "circle"));
        Assert.Equal(["right of"], lexicon.Partners(Lexicon.RelationKind, "left of"));
        Assert.Equal(["large"], lexicon.Partners(Lexicon.SizeKind, "small"));
        Assert.Contains("crimson", lexicon.Partners(Lexicon.ColourKind, "red"));
        Assert.Equal("mice", lexicon.Plural("mouse"));
        // ...and the built-in words it does not list keep theirs.
        Assert.Contains("bus", lexicon.Partners(Lexicon.EntityKind, "car"));
        Assert.Contains("crimson", lexicon.Words(Lexicon.ColourKind));
        Assert.Empty(Lexicon.BuiltIn.Partners(Lexicon.EntityKind, "circle"));
    }

    [Fact]
    public void SyntheticCaptionGetsEditsFromItsLexicon()
    {
        const string caption = "two small red circles to the left of a cat";
        Assert.DoesNotContain(new CaptionEditor(Lexicon.BuiltIn).Sites(caption), s => s.Text.Contains("circle"));

        var editor = new CaptionEditor(Lexicon.BuiltIn.With(PseudoTestData.SyntheticLexicon, "lexicon.json"));
        var sites = editor.Sites(caption);
        Assert.Contains(sites, s => s.Kind == CaptionEditor.CountKind && s.Text == "two small red circles" && s.Replacements.Contains("a small red circle"));
        Assert.Contains(sites, s => s.Kind == Lexicon.EntityKind && s.Text == "circles" && s.Replacements.SequenceEqual(["squares", "triangles"]));
        Assert.Contains(sites, s => s.Kind == Lexicon.RelationKind && s.Text == "left of" && s.Replacements.SequenceEqual(["right of"]));
        Assert.Contains(sites, s => s.Kind == Lexicon.SizeKind && s.Text == "small" && s.Replacements.SequenceEqual(["large"]));
        Assert.Contains(sites, s => s.Kind == Lexicon.EntityKind && s.Text == "cat" && s.Replacements.SequenceEqual(["dog", "mouse", "owl"]));
        Assert.Contains(sites, s => s.Kind == CaptionEditor.CountKind && s.Text == "a cat" && s.Replacements.Contains("two cats"));

        var texts = Enumerable.Range(0, 300).Select(s => editor.Edit(caption, 1, new Random(s)).Text).ToHashSet();
        Assert.Contains("two small red circles to the right of a cat", texts);
        Assert.Contains("a small red circle to the left of a cat", texts);
        Assert.Contains("two small red circles to the left of an owl", texts);
        Assert.Contains("two small crimson circles to the left of a cat", texts);
        // Irregular plurals come from the dataset's lexicon too.
        var mice = Enumerable.Range(0, 300).Select(s => editor.Edit("a mouse above a square", 1, new Random(s)).Text).ToHashSet();
        Assert.Contains("two mice above a square", mice);
        Assert.Contains("a mouse below a square", mice);
    }

    [Fact]
    public void DatasetLexiconIsFoundBesideTheInput()
    {
        var dir = PseudoTestData.TempDir();
        try
        {
            var input = PseudoTestData.WriteLlava(dir, ["a red circle above a cat"]);
            Assert.Equal(["built-in lexicon"], Lexicon.ForDataset(input).SourceNames);
            File.WriteAllText(Path.Combine(dir, "lexicon.json"), PseudoTestData.SyntheticLexicon);
            Assert.Equal(2, Lexicon.ForDataset(input).SourceNames.Count);
            Assert.Equal(["square", "triangle"], Lexicon.ForDataset(input).Partners(Lexicon.EntityKind, "circle"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("[1, 2]", "a lexicon must be a JSON object")]
    [InlineData("{\"entities\": [\"cat\"]}", "\"entities\" must map class names")]
    [InlineData("{\"colours\": [\"red\", 3]}", "\"colours\" must hold only non-empty strings")]
    [InlineData("{\"relations\": [[]]}", "relations[0] is empty")]
    [InlineData("{\"plurals\": {\"mouse\": 1}}", "plurals.mouse must be a non-empty word")]
    [InlineData("{\"entities\": {", "not valid JSON")]
    public void BadLexiconsAreNamedErrors(string json, string problem)
    {
        var e = Assert.Throws<GlanceException>(() => Lexicon.BuiltIn.With(json, "my/lexicon.json"));
        Assert.StartsWith("my/lexicon.json: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void A_symmetric_relation_loads_and_offers_no_swap()
    {
        // The synthetic world writes "next to" as its own inverse.
        var lex = Lexicon.BuiltIn.With("{\"relations\": [[\"left of\", \"right of\"], [\"next to\", \"next to\"]]}", "world/lexicon.json");
        Assert.Equal(["right of"], lex.Partners(Lexicon.RelationKind, "left of"));
        Assert.DoesNotContain("next to", lex.Partners(Lexicon.RelationKind, "next to"));
    }

    [Fact]
    public void Relation_surface_forms_are_edited_whole()
    {
        // The synthetic world lists each relation's surface forms; "on the left of" must swap as one phrase
        // (never its "on" alone, which the built-in lexicon pairs with "under").
        var lex = Lexicon.BuiltIn.With("""
            {"relations": [["left of", "right of"], ["on top of", "under"]],
             "relation_phrases": {"left of": ["to the left of", "left of", "on the left of"],
                                  "right of": ["to the right of", "right of", "on the right of"],
                                  "on top of": ["on top of", "on"], "under": ["under", "underneath"]}}
            """, "world/lexicon.json");
        Assert.Contains("on the right of", lex.Partners(Lexicon.RelationKind, "on the left of"));
        var sites = new CaptionEditor(lex).Sites("two ducks on the left of two snails");
        var relation = Assert.Single(sites, x => x.Kind == Lexicon.RelationKind);
        Assert.Equal("on the left of", relation.Text);
        Assert.DoesNotContain("under", relation.Replacements);
    }
}
