namespace SharpGlance.Data.Synthetic;

/// <summary>
/// Exact captions for a scene graph in the world's small grammar: noun phrases with the right article or
/// number word and plural ("a small red circle", "an owl", "two mice", "a pair of cats"), joined by a
/// relation phrase ("to the left of", "on top of", "under", …). Five single-sentence references in
/// different phrasings (each names every group; the first is the canonical "A relation B"), and one
/// detailed-style description. Choices come from the <see cref="SynthRandom"/> given.
/// </summary>
public static class CaptionWriter
{
    /// <summary>Surface forms of each predicate; the first is the canonical one.</summary>
    private static readonly Dictionary<string, string[]> Phrases = new(StringComparer.Ordinal)
    {
        [Relations.LeftOf] = ["to the left of", "left of", "on the left of"],
        [Relations.RightOf] = ["to the right of", "right of", "on the right of"],
        [Relations.Above] = ["above"],
        [Relations.Below] = ["below", "beneath"],
        [Relations.OnTopOf] = ["on top of", "on"],
        [Relations.Under] = ["under", "underneath"],
        [Relations.NextTo] = ["next to", "beside"],
    };

    public static IReadOnlyList<string> RelationPhrases(string predicate) =>
        Phrases.TryGetValue(predicate, out var p) ? p : throw new ArgumentException($"unknown predicate '{predicate}'", nameof(predicate));

    // {A}/{B}: subject/object noun phrases; {a}/{b}: their definite forms; {r}/{ri}: relation/inverse phrase;
    // {beA}/{beB}: "is"/"are" agreeing with A/B.
    private static readonly string[] PairTemplates =
    [
        "{A} {r} {B}",
        "{B} {ri} {A}",
        "there {beA} {A} {r} {B}",
        "{A} {beA} {r} {B}",
        "{B} {beB} {ri} {A}",
        "a picture of {A} {r} {B}",
        "{A} and {B}, with {a} {r} {b}",
        "there {beB} {B} {ri} {A}",
        "an image of {B} {ri} {A}",
    ];

    private static readonly string[] SingleTemplates =
    [
        "{A}",
        "there {beA} {A}",
        "a picture of {A}",
        "an image showing {A}",
        "a photo of {A}",
        "{A} in the picture",
    ];

    /// <summary>
    /// <paramref name="count"/> distinct single-sentence captions (lower case, no final period). The first
    /// uses the first template with every attribute; the others draw distinct templates and may drop a
    /// shape's size or say "a pair of" for two.
    /// </summary>
    public static IReadOnlyList<string> Captions(SceneGraph scene, SynthRandom rng, int count = 5)
    {
        var templates = scene.Groups.Count switch
        {
            1 => SingleTemplates,
            2 => PairTemplates,
            _ => throw new ArgumentException($"scenes have one or two groups (got {scene.Groups.Count})", nameof(scene)),
        };
        if (count < 1 || count > templates.Length) throw new ArgumentOutOfRangeException(nameof(count), count, $"between 1 and {templates.Length}");
        var order = Enumerable.Range(1, templates.Length - 1).ToList();
        rng.Shuffle(order);
        order.Insert(0, 0);
        var captions = new List<string>();
        foreach (var t in order.Take(count))
        {
            var first = captions.Count == 0;
            captions.Add(Fill(templates[t], scene, rng, withSize: first || rng.Chance(0.8), pairOf: !first && rng.Chance(0.25)));
        }
        return captions;
    }

    /// <summary>
    /// The dense world's references: <paramref name="count"/> detailed descriptions of the scene, each
    /// drawing its own relation phrases (<see cref="Detailed"/>).
    /// </summary>
    public static IReadOnlyList<string> Descriptions(SceneGraph scene, SynthRandom rng, int count = 5) =>
        Enumerable.Range(0, count).Select(_ => Detailed(scene, rng)).ToList();

    /// <summary>A detailed-style description: what is shown on which background, where, the relation, and any overlap.</summary>
    public static string Detailed(SceneGraph scene, SynthRandom rng)
    {
        var groups = scene.Groups;
        var sentences = new List<string>();
        var nps = groups.Select(g => NounPhrase(g)).ToList();
        sentences.Add($"The image shows {string.Join(" and ", nps)} on {BackgroundPhrase(scene.Background)}.");
        foreach (var g in groups)
            sentences.Add($"{Capitalise(Definite(g, scene))} {English.Be(g.Count)} in the {Region(g.Bounds, scene.Width)} part of the image.");
        foreach (var r in scene.Relations)
        {
            var s = groups[r.Subject];
            sentences.Add($"{Capitalise(Definite(s, scene))} {English.Be(s.Count)} {rng.Pick(RelationPhrases(r.Predicate))} {Definite(groups[r.Object], scene)}.");
        }
        // Overlaps, from the paint order: what covers what.
        var covered = new HashSet<(int Over, int Under)>();
        foreach (var g in groups)
            foreach (var i in g.Instances)
                foreach (var h in groups)
                    foreach (var j in h.Instances)
                        if (j.Layer > i.Layer && j.Box.IntersectionArea(i.Box) > 1.0) covered.Add((h.Index, g.Index));
        foreach (var (over, under) in covered.OrderBy(c => c.Over).ThenBy(c => c.Under))
        {
            var o = groups[over];
            sentences.Add(over == under
                ? $"{Capitalise(Definite(o, scene))} partly overlap each other."
                : $"{Capitalise(Definite(o, scene))} partly {(o.Count == 1 ? "covers" : "cover")} {Definite(groups[under], scene)}.");
        }
        return string.Join(" ", sentences);
    }

    /// <summary>"a small red circle", "an owl", "two cats", "a pair of mice", "three large blue stars".</summary>
    public static string NounPhrase(SceneGroup g, bool withSize = true, bool pairOf = false)
    {
        var words = new List<string>();
        if (g.IsShape)
        {
            if (withSize && g.Size is not null) words.Add(g.Size);
            if (g.Colour is not null) words.Add(g.Colour);
        }
        words.Add(g.Count == 1 ? g.Name : English.Plural(g.Name));
        var phrase = string.Join(" ", words);
        return g.Count switch
        {
            1 => English.WithArticle(phrase),
            2 when pairOf => $"a pair of {phrase}",
            _ => $"{English.NumberWord(g.Count)} {phrase}",
        };
    }

    /// <summary>"the cats"; "the red circle" when another group shares the noun (colour, else size, tells them apart).</summary>
    public static string Definite(SceneGroup g, SceneGraph scene)
    {
        var words = new List<string> { "the" };
        var twin = scene.Groups.FirstOrDefault(o => o.Index != g.Index && o.Name == g.Name);
        if (twin is not null && g.IsShape)
        {
            if (twin.Colour != g.Colour) words.Add(g.Colour!);
            else words.Add(g.Size!);
        }
        words.Add(g.Count == 1 ? g.Name : English.Plural(g.Name));
        return string.Join(" ", words);
    }

    private static string Fill(string template, SceneGraph scene, SynthRandom rng, bool withSize, bool pairOf)
    {
        var a = scene.Groups[0];
        var text = template
            .Replace("{A}", NounPhrase(a, withSize, pairOf), StringComparison.Ordinal)
            .Replace("{a}", Definite(a, scene), StringComparison.Ordinal)
            .Replace("{beA}", English.Be(a.Count), StringComparison.Ordinal);
        if (scene.Groups.Count == 2)
        {
            var b = scene.Groups[1];
            var r = scene.Relations[0];
            text = text
                .Replace("{B}", NounPhrase(b, withSize, pairOf), StringComparison.Ordinal)
                .Replace("{b}", Definite(b, scene), StringComparison.Ordinal)
                .Replace("{beB}", English.Be(b.Count), StringComparison.Ordinal)
                .Replace("{ri}", rng.Pick(RelationPhrases(Relations.Inverse(r.Predicate))), StringComparison.Ordinal)
                .Replace("{r}", rng.Pick(RelationPhrases(r.Predicate)), StringComparison.Ordinal);
        }
        return text;
    }

    private static string BackgroundPhrase(SceneBackground bg) => bg.Kind switch
    {
        "plain" => $"a plain {bg.Names[0]} background",
        "gradient" => $"a background that fades from {bg.Names[0]} to {bg.Names[1]}",
        "noise" => $"a lightly textured {bg.Names[0]} background",
        _ => "a background",
    };

    /// <summary>Which ninth of the image holds the box's centre: "top left", "central", "bottom", ….</summary>
    internal static string Region(SceneBox box, int side)
    {
        static int Third(double v, int side) => v < side / 3.0 ? 0 : v < 2 * side / 3.0 ? 1 : 2;
        var row = new[] { "top", "", "bottom" }[Third(box.CenterY, side)];
        var col = new[] { "left", "", "right" }[Third(box.CenterX, side)];
        return (row, col) switch
        {
            ("", "") => "central",
            ("", _) => col,
            (_, "") => row,
            _ => $"{row} {col}",
        };
    }

    private static string Capitalise(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
