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

    /// <summary>Words that start with a vowel letter but a consonant sound, and the reverse.</summary>
    private static readonly string[] ConsonantSoundPrefixes = ["uni", "use", "usu", "ufo", "uk", "eu", "one", "ewe"];
    private static readonly string[] VowelSoundPrefixes = ["hour", "honest", "honour", "honor", "heir"];

    /// <summary>Plural of a (possibly multi-word) noun: the last word is inflected ("old man" → "old men").</summary>
    public static string Plural(string noun)
    {
        var space = noun.LastIndexOf(' ');
        var head = space < 0 ? noun : noun[(space + 1)..];
        var prefix = space < 0 ? "" : noun[..(space + 1)];
        return prefix + PluralOfWord(head);
    }

    private static string PluralOfWord(string w)
    {
        if (Irregular.TryGetValue(w, out var irregular)) return irregular;
        // "t-shirt" → "t-shirts": only the part after the last hyphen inflects.
        if (w.EndsWith("s", StringComparison.Ordinal) || w.EndsWith("x", StringComparison.Ordinal) || w.EndsWith("z", StringComparison.Ordinal)
            || w.EndsWith("ch", StringComparison.Ordinal) || w.EndsWith("sh", StringComparison.Ordinal))
            return w + "es";
        if (w.Length >= 2 && w[^1] == 'y' && !IsVowel(w[^2])) return w[..^1] + "ies";
        return w + "s";
    }

    /// <summary>"a" or "an" for the word that follows it.</summary>
    public static string Article(string nextWord)
    {
        var w = nextWord.ToLowerInvariant();
        if (w.Length == 0) return "a";
        foreach (var p in VowelSoundPrefixes) if (w.StartsWith(p, StringComparison.Ordinal)) return "an";
        foreach (var p in ConsonantSoundPrefixes) if (w.StartsWith(p, StringComparison.Ordinal)) return "a";
        return IsVowel(w[0]) ? "an" : "a";
    }

    /// <summary>"a cat"/"an owl": the article chosen for the phrase's first word.</summary>
    public static string WithArticle(string phrase) => $"{Article(phrase.Split(' ')[0])} {phrase}";

    public static string NumberWord(int n) => n switch
    {
        1 => "one", 2 => "two", 3 => "three", 4 => "four", 5 => "five", 6 => "six",
        _ => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>"is" for one, "are" for several.</summary>
    public static string Be(int count) => count == 1 ? "is" : "are";

    private static bool IsVowel(char c) => c is 'a' or 'e' or 'i' or 'o' or 'u';
}
