using System.Text.Json;

namespace SharpGlance.Data.Synthetic;

/// <summary>
/// Which emoji the world uses: <see cref="Mini"/> the first three compact entries of each class (the demo's
/// world, learnable by a tiny CLIP in minutes), <see cref="Small"/> the compact vocabulary, <see cref="Full"/>
/// every curated entry.
/// </summary>
public enum SynthVocab { Small, Full, Mini }

/// <summary>A nameable thing in the world: an emoji entity or a geometric shape.</summary>
public sealed record WorldEntity(string Name, string Plural, string Class, string Kind, string? Emoji, IReadOnlyList<string> Keywords)
{
    public bool IsShape => Kind == SceneGroup.ShapeKind;
}

/// <summary>A named shape colour and its base RGB (drawn with a little per-group jitter).</summary>
public sealed record WorldColour(string Name, byte R, byte G, byte B)
{
    public string Hex => $"#{R:x2}{G:x2}{B:x2}";
}

/// <summary>
/// The words and things of one synthetic world: emoji entities by class (from the
/// <see cref="EmojiCatalog"/>), shapes, shape colours with deliberately close pairs (red/orange,
/// blue/purple, green/teal, pink/purple, brown/orange), two sizes, and the spatial relations.
/// </summary>
public sealed class WorldVocabulary
{
    public const string ShapeClass = "shape";

    /// <summary>Shape colours. Close pairs carry the fine attribute errors a single glance makes.</summary>
    public static IReadOnlyList<WorldColour> Colours { get; } =
    [
        new("red", 214, 40, 40), new("orange", 240, 124, 24), new("yellow", 242, 200, 30),
        new("green", 46, 158, 62), new("teal", 18, 152, 150), new("blue", 42, 92, 214),
        new("purple", 128, 60, 192), new("pink", 238, 110, 174), new("brown", 138, 90, 46),
        new("black", 34, 34, 34),
    ];

    public static IReadOnlyList<string> Sizes { get; } = ["small", "large"];

    /// <summary>Shape names with width/height of their drawn outline.</summary>
    public static IReadOnlyList<(string Name, double Aspect)> ShapeAspects { get; } =
    [
        ("circle", 1.0), ("square", 1.0), ("triangle", 1.1), ("star", 1.05),
        ("heart", 1.1), ("diamond", 0.75), ("hexagon", 1.15), ("cross", 1.0),
    ];

    private WorldVocabulary(SynthVocab which, IReadOnlyList<WorldEntity> emoji, IReadOnlyList<WorldEntity> shapes)
    {
        Which = which;
        Emoji = emoji;
        Shapes = shapes;
        Entities = [.. emoji, .. shapes];
        Classes = Entities.Select(e => e.Class).Distinct().ToList();
        ByName = Entities.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    public SynthVocab Which { get; }
    public IReadOnlyList<WorldEntity> Emoji { get; }
    public IReadOnlyList<WorldEntity> Shapes { get; }
    /// <summary>Emoji entities then shapes.</summary>
    public IReadOnlyList<WorldEntity> Entities { get; }
    /// <summary>Entity classes in curated order, "shape" last.</summary>
    public IReadOnlyList<string> Classes { get; }
    public IReadOnlyDictionary<string, WorldEntity> ByName { get; }

    public const int MiniPerClass = 3;

    public static WorldVocabulary Create(EmojiCatalog catalog, SynthVocab which)
    {
        var emoji = catalog.Entries
            .Where(e => which == SynthVocab.Full || e.InSmall)
            .GroupBy(e => e.Class)
            .SelectMany(g => which == SynthVocab.Mini ? g.Take(MiniPerClass) : g)
            .Select(e => new WorldEntity(e.Name, English.Plural(e.Name), e.Class, SceneGroup.EmojiKind, e.Emoji, e.Keywords))
            .ToList();
        var shapes = ShapeAspects
            .Select(s => new WorldEntity(s.Name, English.Plural(s.Name), ShapeClass, SceneGroup.ShapeKind, null, []))
            .ToList();
        var vocabulary = new WorldVocabulary(which, emoji, shapes);
        vocabulary.Validate();
        return vocabulary;
    }

    public static double ShapeAspect(string name)
    {
        foreach (var (n, a) in ShapeAspects)
            if (n == name) return a;
        throw new ArgumentException($"unknown shape '{name}'", nameof(name));
    }

    public static WorldColour Colour(string name) =>
        Colours.FirstOrDefault(c => c.Name == name) ?? throw new ArgumentException($"unknown colour '{name}'", nameof(name));

    /// <summary>
    /// Names must parse back unambiguously (SceneErrorAnalyzer): unique, at most two words, none of them a
    /// colour, size or number word, and no class left with fewer than two entities (entity swaps stay within a class).
    /// </summary>
    private void Validate()
    {
        var reserved = new HashSet<string>(Colours.Select(c => c.Name).Concat(Sizes)
            .Concat(["big", "little", "tiny", "huge", "grey", "gray", "white", "one", "two", "three", "four", "pair", "a", "an", "the", "of", "and"]), StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in Entities)
        {
            var words = e.Name.Split(' ');
            if (words.Length > 2) throw new InvalidOperationException($"entity name '{e.Name}' has more than two words");
            if (words.FirstOrDefault(reserved.Contains) is { } bad) throw new InvalidOperationException($"entity name '{e.Name}' contains the reserved word '{bad}'");
            if (!seen.Add(e.Name) || (e.Plural != e.Name && !seen.Add(e.Plural)))
                throw new InvalidOperationException($"entity name '{e.Name}' ('{e.Plural}') is not unique");
        }
        foreach (var cls in Classes)
            if (Entities.Count(e => e.Class == cls) < 2) throw new InvalidOperationException($"class '{cls}' has fewer than two entities");
    }

    /// <summary>The lexicon written as <c>lexicon.json</c> for the pseudo-caption editor and the error analyser.</summary>
    public WorldLexicon Lexicon() => new(
        Vocab: Which.ToString().ToLowerInvariant(),
        Entities: Classes.ToDictionary(c => c, c => Entities.Where(e => e.Class == c).Select(e => e.Name).ToList()),
        Plurals: Entities.ToDictionary(e => e.Name, e => e.Plural),
        Colours: Colours.Select(c => c.Name).ToList(),
        Sizes: [.. Sizes],
        Shapes: Shapes.Select(s => s.Name).ToList(),
        Relations: Relations.Pairs.Select(p => new List<string> { p.Item1, p.Item2 }).ToList(),
        RelationPhrases: Relations.All.ToDictionary(p => p, p => CaptionWriter.RelationPhrases(p).ToList()),
        Numbers: new Dictionary<string, int> { ["a"] = 1, ["an"] = 1, ["one"] = 1, ["two"] = 2, ["three"] = 3 },
        Emoji: Emoji.ToDictionary(e => e.Name, e => e.Emoji!));
}

/// <summary>
/// <c>lexicon.json</c>: the world's vocabulary. <see cref="Entities"/> lists names by class (entity swaps
/// stay within a class; "shape" is a class), <see cref="Plurals"/> gives every name's plural,
/// <see cref="Relations"/> the inverse pairs and <see cref="RelationPhrases"/> the surface forms captions use.
/// </summary>
public sealed record WorldLexicon(
    string Vocab,
    Dictionary<string, List<string>> Entities,
    Dictionary<string, string> Plurals,
    List<string> Colours,
    List<string> Sizes,
    List<string> Shapes,
    List<List<string>> Relations,
    Dictionary<string, List<string>> RelationPhrases,
    Dictionary<string, int> Numbers,
    Dictionary<string, string> Emoji)
{
    public static WorldLexicon Load(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "lexicon not found (run `glance synth` first)");
        try
        {
            return JsonSerializer.Deserialize<WorldLexicon>(File.ReadAllText(path), SceneJson.Options)
                   ?? throw GlanceException.ForFile(path, "empty lexicon");
        }
        catch (JsonException e)
        {
            throw GlanceException.ForFile(path, $"not a lexicon file: {e.Message}");
        }
    }

    /// <summary>The class of entity <paramref name="name"/>, or null when it is not in this world.</summary>
    public string? ClassOf(string name)
    {
        foreach (var (cls, names) in Entities)
            if (names.Contains(name)) return cls;
        return null;
    }
}
