namespace SharpGlance.Data.Synthetic;

// Labels a synthetic scene's graph gives for free, in the shapes a probe or an auxiliary loss reads them:
// class ids over the world's fixed vocabularies, each group's coverage of the tower's patch grid, the 3×3
// region of its centre, and the relation between two groups with its roles fixed by a canonical order
// that only the picture decides (which entity comes first), not the order the caption happened to use.

/// <summary>The world's label vocabularies: every entity name, colour, count, size and predicate, with ids.</summary>
public sealed class SceneVocabulary
{
    public IReadOnlyList<string> Entities { get; }
    public IReadOnlyList<string> Colours { get; }
    public IReadOnlyList<string> Sizes { get; } = ["small", "large"];
    public const int MaxCount = 3;
    /// <summary>Predicates with roles: <see cref="Relations.All"/>.</summary>
    public IReadOnlyList<string> Predicates => Relations.All;
    /// <summary>Arrangements without roles: side by side (left/right of), one above the other (above/below/on top of/under), next to.</summary>
    public static IReadOnlyList<string> Arrangements { get; } = ["side by side", "one above the other", "next to"];

    private readonly Dictionary<string, int> _entity, _colour;

    public SceneVocabulary(IEnumerable<string> entities, IEnumerable<string> colours)
    {
        Entities = entities.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        Colours = colours.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        _entity = Entities.Select((e, i) => (e, i)).ToDictionary(x => x.e, x => x.i, StringComparer.Ordinal);
        _colour = Colours.Select((e, i) => (e, i)).ToDictionary(x => x.e, x => x.i, StringComparer.Ordinal);
    }

    /// <summary>The vocabularies of the world's own catalogue (every emoji of <paramref name="vocab"/> and every shape and colour).</summary>
    public static SceneVocabulary FromScenes(IEnumerable<SceneGraph> scenes)
    {
        var list = scenes.ToList();
        return new SceneVocabulary(list.SelectMany(s => s.Groups).Select(g => g.Name),
            list.SelectMany(s => s.Groups).Select(g => g.Colour).OfType<string>());
    }

    public int Entity(string name) => _entity.TryGetValue(name, out var i) ? i
        : throw new GlanceException($"entity '{name}' is not in the probe's vocabulary (the training split never shows it)");

    public int? Colour(string? name) => name is null ? null : _colour.TryGetValue(name, out var i) ? i
        : throw new GlanceException($"colour '{name}' is not in the probe's vocabulary (the training split never shows it)");

    public static int? Size(string? size) => size switch { "small" => 0, "large" => 1, null => null, _ => throw new GlanceException($"unknown size '{size}'") };

    public static int Arrangement(string predicate) => predicate switch
    {
        Relations.LeftOf or Relations.RightOf => 0,
        Relations.Above or Relations.Below or Relations.OnTopOf or Relations.Under => 1,
        Relations.NextTo => 2,
        _ => throw new ArgumentException($"unknown predicate '{predicate}'", nameof(predicate)),
    };
}

/// <summary>One group's labels: ids, its share of each grid cell, and the 3×3 region of its centre.</summary>
public sealed record GroupLabels(int Entity, int? Colour, int Count, int? Size, int Region, float[] Coverage);

/// <summary>A scene's labels: its groups in canonical order, and for two groups the relation first → second.</summary>
public sealed record SceneLabels(IReadOnlyList<GroupLabels> Groups, int? Predicate, int? Arrangement)
{
    /// <summary>
    /// Labels of <paramref name="scene"/> on a <paramref name="grid"/>×<paramref name="grid"/> patch grid.
    /// Groups are ordered by entity id, then colour id, then the left edge: the relation's roles are then
    /// "the group whose entity sorts first" → "the other", which a reader can only tell by recognising both.
    /// </summary>
    public static SceneLabels Of(SceneGraph scene, SceneVocabulary vocab, int grid)
    {
        var order = scene.Groups
            .Select(g => (Group: g, Entity: vocab.Entity(g.Name), Colour: vocab.Colour(g.Colour)))
            .OrderBy(x => x.Entity).ThenBy(x => x.Colour ?? -1).ThenBy(x => x.Group.Bounds.X)
            .ToList();
        var groups = order.Select(x => new GroupLabels(x.Entity, x.Colour, Math.Clamp(x.Group.Count, 1, SceneVocabulary.MaxCount) - 1,
            SceneVocabulary.Size(x.Group.Size), Region(x.Group.Bounds, scene.Width, scene.Height),
            Coverage(x.Group.Instances.Select(i => i.Box), scene.Width, scene.Height, grid))).ToList();
        int? predicate = null, arrangement = null;
        if (order.Count == 2 && scene.Relations.Count > 0)
        {
            var r = scene.Relations[0];
            string p = r.Subject == order[0].Group.Index ? r.Predicate : Relations.Inverse(r.Predicate);
            predicate = Relations.All.ToList().IndexOf(p);
            arrangement = SceneVocabulary.Arrangement(p);
        }
        return new SceneLabels(groups, predicate, arrangement);
    }

    /// <summary>The cell (row·3 + column) of a 3×3 grid over the image that holds the box's centre.</summary>
    public static int Region(SceneBox box, int width, int height)
    {
        int col = Math.Clamp((int)(3 * box.CenterX / width), 0, 2);
        int row = Math.Clamp((int)(3 * box.CenterY / height), 0, 2);
        return row * 3 + col;
    }

    /// <summary>
    /// For each cell of a <paramref name="grid"/>² patch grid (row-major), the share of its area inside any
    /// of <paramref name="boxes"/> (a union, estimated on a 4×4 lattice of points per cell).
    /// </summary>
    public static float[] Coverage(IEnumerable<SceneBox> boxes, int width, int height, int grid)
    {
        var list = boxes.ToList();
        var cover = new float[grid * grid];
        const int k = 4;
        double cw = (double)width / grid, ch = (double)height / grid;
        for (int r = 0; r < grid; r++)
            for (int c = 0; c < grid; c++)
            {
                int inside = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++)
                    {
                        double x = (c + (j + 0.5) / k) * cw, y = (r + (i + 0.5) / k) * ch;
                        if (list.Any(b => x >= b.X && x < b.Right && y >= b.Y && y < b.Bottom)) inside++;
                    }
                cover[r * grid + c] = inside / (float)(k * k);
            }
        return cover;
    }
}
