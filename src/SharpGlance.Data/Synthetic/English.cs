namespace SharpGlance.Data.Synthetic;

/// <summary>
/// The little English the synthetic world needs: plurals of its nouns (head noun of a multi-word name),
/// "a"/"an", and number words. Irregular forms are curated for the world's vocabulary.
/// </summary>
public static class English
{
    /// <summary>Plurals that the rules below would get wrong (looked up on the head noun).</summary>
    private static readonly Dictionary<string, string> Irregular = new(StringComparer.Ordinal)
    {
        ["mouse"] = "mice", ["man"] = "men", ["woman"] = "women", ["person"] = "people", ["child"] = "children",
        ["ox"] = "oxen", ["goose"] = "geese", ["tooth"] = "teeth", ["foot"] = "feet", ["die"] = "dice",
        ["sheep"] = "sheep", ["fish"] = "fish", ["deer"] = "deer", ["bison"] = "bison", ["pufferfish"] = "pufferfish",
        ["cactus"] = "cacti", ["octopus"] = "octopuses",
        ["wolf"] = "wolves", ["knife"] = "knives", ["loaf"] = "loaves", ["leaf"] = "leaves", ["elf"] = "elves",
        ["scarf"] = "scarves", ["calf"] = "calves", ["shelf"] = "shelves",
        ["tomato"] = "tomatoes", ["potato"] = "potatoes", ["mango"] = "mangoes", ["volcano"] = "volcanoes",
        ["hero"] = "heroes", ["superhero"] = "superheroes", ["tornado"] = "tornadoes", ["buffalo"] = "buffaloes",
    };

    /// <summary>Plural of a (possibly multi-word) noun: the last word is inflected ("old man" → "old men").</summary>
    public static string Plural(string noun)
    {
        var space = noun.LastIndexOf(' ');
        var head = space < 0 ? noun : noun[(space + 1)..];
        var prefix = space < 0 ? "" : noun[..(space + 1)];
        return prefix + PluralOfWord(head);
    }

    // "t-shirt" → "t-shirts": only the part after the last hyphen inflects, which the regular rule does.
    private static string PluralOfWord(string w) => Irregular.TryGetValue(w, out var irregular) ? irregular : Inflection.RegularPlural(w);

    /// <summary>"a" or "an" for the word that follows it.</summary>
    public static string Article(string nextWord) => Inflection.Article(nextWord);

    /// <summary>"a cat"/"an owl": the article chosen for the phrase's first word.</summary>
    public static string WithArticle(string phrase) => $"{Article(phrase.Split(' ')[0])} {phrase}";

    public static string NumberWord(int n) => Inflection.NumberWord(n);

    /// <summary>"is" for one, "are" for several.</summary>
    public static string Be(int count) => count == 1 ? "is" : "are";
}
