using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpGlance.Data.Synthetic;

// The scene graph of one synthetic image, kept beside its captions (`{split}.scenes.json`) so that a
// generated caption can be checked fact by fact (SceneErrorAnalyzer). Boxes are in pixels, origin top
// left. JSON names are snake_case (SceneJson.Options).

/// <summary>An axis-aligned box in pixels.</summary>
public sealed record SceneBox(double X, double Y, double W, double H)
{
    [JsonIgnore] public double Right => X + W;
    [JsonIgnore] public double Bottom => Y + H;
    [JsonIgnore] public double CenterX => X + W / 2;
    [JsonIgnore] public double CenterY => Y + H / 2;

    public SceneBox Offset(double dx, double dy) => this with { X = X + dx, Y = Y + dy };

    public SceneBox Union(SceneBox o)
    {
        double x = Math.Min(X, o.X), y = Math.Min(Y, o.Y);
        return new SceneBox(x, y, Math.Max(Right, o.Right) - x, Math.Max(Bottom, o.Bottom) - y);
    }

    /// <summary>Area shared with <paramref name="o"/> (0 when they only touch).</summary>
    public double IntersectionArea(SceneBox o) =>
        Math.Max(0, Math.Min(Right, o.Right) - Math.Max(X, o.X)) * Math.Max(0, Math.Min(Bottom, o.Bottom) - Math.Max(Y, o.Y));

    public static SceneBox Bounds(IEnumerable<SceneBox> boxes) => boxes.Aggregate((a, b) => a.Union(b));

    /// <summary>Rounded to 0.01 px, so the JSON stays short (and is what the geometry checks read back).</summary>
    public SceneBox Rounded() => new(Math.Round(X, 2), Math.Round(Y, 2), Math.Round(W, 2), Math.Round(H, 2));
}

/// <summary>
/// One drawn copy of a group's entity. <see cref="Layer"/> is the paint order over the whole scene (0
/// first); <see cref="Occluded"/> says a later layer covers part of it; emoji may be drawn mirrored.
/// </summary>
public sealed record SceneInstance(SceneBox Box, int Layer, bool Flipped, bool Occluded);

/// <summary>
/// A group: <see cref="Count"/> copies of one entity ("two cats", "a small red circle"). Emoji groups
/// have <see cref="Emoji"/>; shape groups have <see cref="Colour"/>, <see cref="Size"/> and
/// <see cref="Fill"/> (the exact RGB drawn, a shade of the named colour).
/// </summary>
public sealed record SceneGroup(
    int Index, string Name, string Class, string Kind, string? Emoji, string? Colour, string? Size, string? Fill,
    int Count, IReadOnlyList<SceneInstance> Instances)
{
    public const string EmojiKind = "emoji";
    public const string ShapeKind = "shape";

    [JsonIgnore] public bool IsShape => Kind == ShapeKind;

    /// <summary>The union of the instances' boxes: what relations are judged on.</summary>
    [JsonIgnore] public SceneBox Bounds => SceneBox.Bounds(Instances.Select(i => i.Box));
}

/// <summary>
/// "subject predicate object" between two groups, as generated (<see cref="Predicate"/>), plus every
/// predicate the boxes satisfy (<see cref="Holds"/>): a caption saying any of those is right.
/// </summary>
public sealed record SceneRelation(int Subject, string Predicate, int Object, IReadOnlyList<string> Holds);

/// <summary>
/// The backdrop: <c>plain</c> (one colour), <c>gradient</c> (two colours along <see cref="Angle"/>
/// degrees) or <c>noise</c> (a light texture drawn from <see cref="NoiseSeed"/>).
/// </summary>
public sealed record SceneBackground(string Kind, IReadOnlyList<string> Colours, IReadOnlyList<string> Names, double Angle, int NoiseSeed);

public sealed record SceneGraph(
    int ImageId, string Split, string FileName, int Width, int Height,
    SceneBackground Background, IReadOnlyList<SceneGroup> Groups, IReadOnlyList<SceneRelation> Relations);

/// <summary>The world's spatial predicates, their inverses, and when each holds between two boxes.</summary>
public static class Relations
{
    public const string LeftOf = "left of", RightOf = "right of", Above = "above", Below = "below",
        OnTopOf = "on top of", Under = "under", NextTo = "next to";

    /// <summary>Every predicate, in a fixed order (what <see cref="Holds"/> lists in).</summary>
    public static IReadOnlyList<string> All { get; } = [LeftOf, RightOf, Above, Below, OnTopOf, Under, NextTo];

    /// <summary>Predicates the sampler generates (under is only ever the inverse phrasing of on top of).</summary>
    public static IReadOnlyList<string> Generated { get; } = [LeftOf, RightOf, Above, Below, OnTopOf, NextTo];

    /// <summary>Inverse pairs: "A left of B" ⇔ "B right of A".</summary>
    public static IReadOnlyList<(string, string)> Pairs { get; } = [(LeftOf, RightOf), (Above, Below), (OnTopOf, Under), (NextTo, NextTo)];

    public static string Inverse(string predicate) => predicate switch
    {
        LeftOf => RightOf, RightOf => LeftOf, Above => Below, Below => Above,
        OnTopOf => Under, Under => OnTopOf, NextTo => NextTo,
        _ => throw new ArgumentException($"unknown predicate '{predicate}'", nameof(predicate)),
    };

    // Thresholds as fractions of the image side. The sampler leaves clear margins around them (a "left of"
    // gap is at least 0.12, an "above" gap at least 0.08), so a generated scene is never borderline.
    private const double Touch = 0.02, NearGap = 0.06;

    /// <summary>Whether "a <paramref name="predicate"/> b" is true of the boxes in an image of side <paramref name="side"/>.</summary>
    public static bool Holds(string predicate, SceneBox a, SceneBox b, double side)
    {
        double tol = Touch * side;
        switch (predicate)
        {
            case LeftOf: return a.Right <= b.X + tol;
            case RightOf: return Holds(LeftOf, b, a, side);
            case Above:
                // on top of counts as above: the subject may sink into the object's top by up to 20% of its own height
                // (the sampler sinks it at most 15%).
                return a.Bottom <= b.Y + Math.Max(tol, 0.2 * a.H) && a.CenterY < b.CenterY;
            case Below: return Holds(Above, b, a, side);
            case OnTopOf:
                return Overlap(a.X, a.Right, b.X, b.Right) >= 0.5 * Math.Min(a.W, b.W)
                       && a.Bottom >= b.Y - tol && a.Bottom <= b.Y + 0.2 * a.H && a.CenterY < b.CenterY;
            case Under: return Holds(OnTopOf, b, a, side);
            case NextTo:
                var gap = Math.Max(b.X - a.Right, a.X - b.Right);
                return Overlap(a.Y, a.Bottom, b.Y, b.Bottom) >= 0.3 * Math.Min(a.H, b.H)
                       && gap <= NearGap * side && gap >= -0.3 * Math.Min(a.W, b.W);
            default: throw new ArgumentException($"unknown predicate '{predicate}'", nameof(predicate));
        }
    }

    /// <summary>Every predicate that holds for (a, b), in <see cref="All"/> order.</summary>
    public static IReadOnlyList<string> HoldsAll(SceneBox a, SceneBox b, double side) =>
        All.Where(p => Holds(p, a, b, side)).ToList();

    /// <summary>Length shared by the intervals [a0, a1] and [b0, b1] (negative when apart).</summary>
    internal static double Overlap(double a0, double a1, double b0, double b1) => Math.Min(a1, b1) - Math.Max(a0, b0);
}

/// <summary>The JSON settings every synthetic-world file is written and read with.</summary>
public static class SceneJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        // Emoji and "’" stay readable in the files instead of \uXXXX escapes.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Reads <c>{split}.scenes.json</c>: scene graphs by image id.</summary>
    public static IReadOnlyDictionary<int, SceneGraph> LoadScenes(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "scene graph file not found (run `glance synth` first)");
        try
        {
            var byId = JsonSerializer.Deserialize<Dictionary<string, SceneGraph>>(File.ReadAllText(path), Options)
                       ?? throw GlanceException.ForFile(path, "empty scene graph file");
            return byId.ToDictionary(kv => int.Parse(kv.Key, System.Globalization.CultureInfo.InvariantCulture), kv => kv.Value);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw GlanceException.ForFile(path, $"not a scene graph file: {e.Message}");
        }
    }
}
