namespace SharpGlance.Data.Synthetic;

/// <summary>How scenes are drawn from the world.</summary>
/// <param name="ImageSize">Side of the square image in pixels (96 or 128 in the demo).</param>
/// <param name="Occlusion">Probability that a scene lets objects partly cover each other.</param>
/// <param name="ShapeRate">Probability that a group is a shape rather than an emoji.</param>
/// <param name="TwoGroupRate">Probability of two related groups rather than one.</param>
public sealed record SceneSamplerOptions(int ImageSize = 128, double Occlusion = 0.25, double ShapeRate = 0.4, double TwoGroupRate = 0.8)
{
    public void Validate()
    {
        if (ImageSize is < 32 or > 1024) throw new GlanceException($"image size must be between 32 and 1024 pixels (got {ImageSize})");
        foreach (var (name, p) in new[] { ("occlusion", Occlusion), ("shape rate", ShapeRate), ("two-group rate", TwoGroupRate) })
            if (p is < 0 or > 1 || double.IsNaN(p)) throw new GlanceException($"{name} must be a probability in [0, 1] (got {p})");
    }
}

/// <summary>
/// Draws one scene: one group, or two groups joined by a spatial relation; each group is 1–3 copies of
/// an emoji entity or of a coloured, sized shape (at most four objects in all); positions satisfy the
/// relation with clear margins (<see cref="Relations.Holds"/>); the background keeps every shape
/// visible. Everything comes from the <see cref="SynthRandom"/> it is given, so a scene is a pure
/// function of (world, options, stream).
/// </summary>
public sealed partial class SceneSampler
{
    private readonly WorldVocabulary _vocab;
    private readonly Func<string, double> _emojiAspect;
    private readonly SceneSamplerOptions _options;

    /// <param name="emojiAspect">Width/height of an emoji's visible glyph (<see cref="EmojiCatalog.Sprite"/>), so boxes fit what is drawn.</param>
    /// <param name="dense">Draw the dense world's scenes instead (<see cref="DenseWorld"/>); null: the default world.</param>
    public SceneSampler(WorldVocabulary vocabulary, Func<string, double> emojiAspect, SceneSamplerOptions options, DenseWorld? dense = null)
    {
        options.Validate();
        dense?.Validate(options.ImageSize);
        _vocab = vocabulary;
        _emojiAspect = emojiAspect;
        _options = options;
        Dense = dense;
    }

    public SceneSamplerOptions Options => _options;

    /// <summary>The dense world's settings, or null for the default world.</summary>
    public DenseWorld? Dense { get; }

    // Background palettes: light ones, and a few dark ones (shapes that would vanish on them are filtered out).
    internal static readonly (string Name, byte R, byte G, byte B)[] LightBackgrounds =
    [
        ("white", 250, 250, 250), ("cream", 250, 243, 224), ("beige", 236, 226, 204), ("light gray", 222, 222, 222),
        ("pale blue", 214, 230, 246), ("pale green", 222, 240, 218), ("pale yellow", 250, 246, 206),
        ("pale pink", 248, 225, 232), ("lavender", 232, 226, 246), ("mint", 212, 242, 230),
    ];
    internal static readonly (string Name, byte R, byte G, byte B)[] DarkBackgrounds =
    [
        ("dark gray", 62, 64, 68), ("navy", 30, 38, 72), ("dark green", 30, 62, 44), ("slate", 84, 96, 112),
    ];

    private static readonly (int Subject, int Object)[] CountPairs = [(1, 1), (2, 1), (1, 2), (3, 1), (1, 3), (2, 2)];
    private static readonly double[] CountPairWeights = [0.40, 0.15, 0.15, 0.08, 0.08, 0.14];
    private static readonly double[] SingleCountWeights = [0.45, 0.30, 0.25];
    private static readonly double[] PredicateWeights = [1, 1, 1, 1, 0.8, 0.8]; // Relations.Generated order

    private static int[] PairCounts(int index) => [CountPairs[index].Subject, CountPairs[index].Object];

    private sealed class GroupPlan
    {
        public required WorldEntity Entity;
        public string? Colour, Size, Fill;
        public int Count;
        public List<SceneBox> Boxes = [];
        public bool[] Flipped = [];
        public SceneBox Bounds => SceneBox.Bounds(Boxes);
    }

    public SceneGraph Sample(SynthRandom rng, int imageId, string split, string fileName)
    {
        if (Dense is not null) return SampleDense(rng, imageId, split, fileName);
        double side = _options.ImageSize;
        for (var attempt = 0; attempt < 500; attempt++)
        {
            var twoGroups = rng.Chance(_options.TwoGroupRate);
            string? predicate = twoGroups ? Relations.Generated[rng.PickWeighted(PredicateWeights)] : null;
            int[] counts = predicate switch
            {
                null => [rng.PickWeighted(SingleCountWeights) + 1],
                // Stacking: one object underneath, one or two on top.
                Relations.OnTopOf => rng.Chance(0.7) ? [1, 1] : [2, 1],
                _ => [.. PairCounts(rng.PickWeighted(CountPairWeights))],
            };
            var groups = new List<GroupPlan>();
            for (var g = 0; g < counts.Length; g++)
                groups.Add(SampleGroup(rng, counts[g], predicate == Relations.OnTopOf ? (g == 0 ? "top" : "bottom") : null));
            if (groups.Count == 2 && SameLook(groups[0], groups[1])) continue;

            var allowOverlap = rng.Chance(_options.Occlusion);
            for (var layoutTry = 0; layoutTry < 12; layoutTry++)
            {
                foreach (var g in groups) LayOutGroup(rng, g, allowOverlap, stacked: predicate == Relations.OnTopOf && g == groups[0]);
                if (!Place(rng, groups, predicate, allowOverlap, side)) continue;
                return Build(rng, groups, predicate is null ? [] : [(0, predicate, 1)], stacked: predicate == Relations.OnTopOf, imageId, split, fileName);
            }
        }
        throw new InvalidOperationException("the scene sampler found no layout in 500 attempts (image size too small?)");
    }

    private GroupPlan SampleGroup(SynthRandom rng, int count, string? stackRole)
    {
        var shape = rng.Chance(_options.ShapeRate);
        var entity = shape ? rng.Pick(_vocab.Shapes) : rng.Pick(_vocab.Emoji);
        var plan = new GroupPlan { Entity = entity, Count = count };
        if (shape)
        {
            var colour = rng.Pick(WorldVocabulary.Colours);
            plan.Colour = colour.Name;
            // Whatever lies underneath a stack is mostly large; what sits on top mostly small.
            plan.Size = stackRole switch
            {
                "bottom" => rng.Chance(0.85) ? "large" : "small",
                "top" => rng.Chance(0.7) ? "small" : "large",
                _ => rng.Pick(WorldVocabulary.Sizes),
            };
            // A shade of the named colour, so "red" is a category rather than one RGB value.
            int Jitter(byte c) => Math.Clamp(c + rng.Between(-10, 10), 0, 255);
            plan.Fill = $"#{Jitter(colour.R):x2}{Jitter(colour.G):x2}{Jitter(colour.B):x2}";
        }
        return plan;
    }

    /// <summary>Two groups a caption could not tell apart ("a red circle above a red circle").</summary>
    private static bool SameLook(GroupPlan a, GroupPlan b) =>
        a.Entity.Name == b.Entity.Name && (!a.Entity.IsShape || (a.Colour == b.Colour && a.Size == b.Size));

    /// <summary>Sizes the group's copies and arranges them in a loose cluster around the origin.</summary>
    private void LayOutGroup(SynthRandom rng, GroupPlan g, bool allowOverlap, bool stacked)
    {
        double side = _options.ImageSize;
        double baseSize, aspect;
        if (g.Entity.IsShape)
        {
            baseSize = side * (g.Size == "small" ? rng.Uniform(0.13, 0.17) : rng.Uniform(0.27, 0.33));
            aspect = WorldVocabulary.ShapeAspect(g.Entity.Name);
        }
        else
        {
            baseSize = side * rng.Uniform(0.24, 0.30);
            aspect = _emojiAspect(g.Entity.Emoji!);
            // Three emoji shrink a little to fit; shapes keep their size, which is an attribute.
            if (g.Count == 3) baseSize *= 0.9;
        }

        g.Boxes = [];
        g.Flipped = new bool[g.Count];
        for (var i = 0; i < g.Count; i++)
        {
            // Longer side = baseSize; shapes keep one size per group, emoji vary a little.
            var s = baseSize * (g.Entity.IsShape ? rng.Uniform(0.97, 1.03) : rng.Uniform(0.94, 1.06));
            double w = aspect >= 1 ? s : s * aspect, h = aspect >= 1 ? s / aspect : s;
            g.Flipped[i] = !g.Entity.IsShape && rng.Chance(0.5);
            if (i == 0)
            {
                g.Boxes.Add(new SceneBox(-w / 2, -h / 2, w, h));
                continue;
            }
            if (stacked)
            {
                // Copies that sit on something stand side by side on one baseline.
                var prev = g.Boxes[^1];
                var gap = side * rng.Uniform(0.01, 0.04);
                g.Boxes.Add(new SceneBox(prev.Right + gap, g.Boxes[0].Bottom - h, w, h));
                continue;
            }
            g.Boxes.Add(PlaceNextTo(rng, g.Boxes, w, h, allowOverlap));
        }
    }

    /// <summary>A box of w×h beside a random existing box, in a random direction, touching none (or overlapping a little when allowed).</summary>
    private SceneBox PlaceNextTo(SynthRandom rng, List<SceneBox> boxes, double w, double h, bool allowOverlap)
    {
        double side = _options.ImageSize;
        var anchor = rng.Pick(boxes);
        var theta = rng.Uniform(0, 2 * Math.PI);
        double ux = Math.Cos(theta), uy = Math.Sin(theta);
        SceneBox At(double t) => new(anchor.CenterX + t * ux - w / 2, anchor.CenterY + t * uy - h / 2, w, h);
        // Smallest step along the ray at which the new box clears the anchor, then further until it clears every box.
        double tx = Math.Abs(ux) < 1e-9 ? double.PositiveInfinity : (anchor.W + w) / 2 / Math.Abs(ux);
        double ty = Math.Abs(uy) < 1e-9 ? double.PositiveInfinity : (anchor.H + h) / 2 / Math.Abs(uy);
        var t = Math.Min(tx, ty);
        while (boxes.Any(b => b.IntersectionArea(At(t)) > 0)) t += 0.01 * side;
        if (allowOverlap && rng.Chance(0.6))
        {
            // Pull back into the anchor; keep it only if no box loses more than a third of itself.
            var pulled = At(t * rng.Uniform(0.72, 0.9));
            if (boxes.All(b => b.IntersectionArea(pulled) <= 0.33 * Math.Min(b.W * b.H, w * h))) return pulled;
        }
        return At(t + side * rng.Uniform(0.01, 0.06));
    }

    /// <summary>Moves the groups so that the relation holds clearly and everything lies inside the image.</summary>
    private static bool Place(SynthRandom rng, List<GroupPlan> groups, string? predicate, bool allowOverlap, double side)
    {
        var margin = 0.03 * side;
        if (groups.Count == 2)
        {
            SceneBox a = groups[0].Bounds, b = groups[1].Bounds;
            double dx, dy;
            double Across(double la, double lb, double keep) => rng.Uniform(-1, 1) * Math.Max(0, (la + lb) / 2 - keep * Math.Min(la, lb));
            switch (predicate)
            {
                case Relations.LeftOf or Relations.RightOf:
                {
                    var gap = side * rng.Uniform(0.12, 0.30);
                    dx = predicate == Relations.LeftOf ? a.Right + gap - b.X : a.X - gap - b.Right;
                    dy = a.CenterY + Across(a.H, b.H, 0.5) - b.CenterY;
                    break;
                }
                case Relations.Above or Relations.Below:
                {
                    var gap = side * rng.Uniform(0.08, 0.25);
                    dy = predicate == Relations.Above ? a.Bottom + gap - b.Y : a.Y - gap - b.Bottom;
                    dx = a.CenterX + Across(a.W, b.W, 0.5) - b.CenterX;
                    break;
                }
                case Relations.OnTopOf:
                {
                    if (a.W > 1.25 * b.W) return false;
                    dy = a.Bottom - a.H * rng.Uniform(0, 0.15) - b.Y; // the object's top meets the subject's bottom
                    dx = a.CenterX + rng.Uniform(-1, 1) * Math.Max(0, (b.W - a.W) / 2) * 0.8 - b.CenterX;
                    break;
                }
                case Relations.NextTo:
                {
                    var gap = side * rng.Uniform(allowOverlap ? -0.04 : 0.005, 0.035);
                    dx = rng.Chance(0.5) ? a.Right + gap - b.X : a.X - gap - b.Right;
                    dy = a.CenterY + Across(a.H, b.H, 0.75) - b.CenterY;
                    break;
                }
                default: throw new InvalidOperationException($"cannot place predicate '{predicate}'");
            }
            groups[1].Boxes = groups[1].Boxes.Select(x => x.Offset(dx, dy)).ToList();
        }
        var all = SceneBox.Bounds(groups.SelectMany(g => g.Boxes));
        double slackX = side - 2 * margin - all.W, slackY = side - 2 * margin - all.H;
        if (slackX < 0 || slackY < 0) return false;
        double ox = margin + rng.Uniform(0, slackX) - all.X, oy = margin + rng.Uniform(0, slackY) - all.Y;
        foreach (var g in groups) g.Boxes = g.Boxes.Select(x => x.Offset(ox, oy).Rounded()).ToList();

        if (groups.Count == 2)
        {
            SceneBox a = groups[0].Bounds, b = groups[1].Bounds;
            if (!Clear(predicate!, a, b, side)) return false;
            // Between groups: disjoint, except the stacked contact and, when occlusion is on, a slight side-by-side overlap.
            foreach (var x in groups[0].Boxes)
                foreach (var y in groups[1].Boxes)
                {
                    var shared = x.IntersectionArea(y);
                    var limit = predicate == Relations.OnTopOf ? 0.25 * Math.Min(x.W * x.H, y.W * y.H)
                        : predicate == Relations.NextTo && allowOverlap ? 0.2 * Math.Min(x.W * x.H, y.W * y.H) : 0;
                    if (shared > limit) return false;
                }
        }
        return true;
    }

    /// <summary>The predicate holds and its look-alikes on the other axis (or the near/far variant) do not.</summary>
    internal static bool Clear(string predicate, SceneBox a, SceneBox b, double side)
    {
        if (!Relations.Holds(predicate, a, b, side)) return false;
        string[] mustFail = predicate switch
        {
            Relations.LeftOf or Relations.RightOf => [Relations.Above, Relations.Below, Relations.NextTo, Relations.OnTopOf, Relations.Under],
            Relations.Above or Relations.Below => [Relations.LeftOf, Relations.RightOf, Relations.NextTo, Relations.OnTopOf, Relations.Under],
            Relations.OnTopOf => [Relations.LeftOf, Relations.RightOf, Relations.NextTo],
            Relations.NextTo => [Relations.Above, Relations.Below, Relations.OnTopOf, Relations.Under],
            _ => [],
        };
        return mustFail.All(p => !Relations.Holds(p, a, b, side));
    }

    private SceneGraph Build(SynthRandom rng, List<GroupPlan> groups, IReadOnlyList<(int Subject, string Predicate, int Object)> stated, bool stacked,
        int imageId, string split, string fileName)
    {
        double side = _options.ImageSize;
        // Paint order: what lies underneath a stack first, otherwise the groups in random order.
        var groupOrder = Enumerable.Range(0, groups.Count).ToList();
        if (stacked) groupOrder.Reverse();
        else rng.Shuffle(groupOrder);
        var layers = new List<(int Group, int Instance)>();
        foreach (var g in groupOrder)
            for (var i = 0; i < groups[g].Count; i++) layers.Add((g, i));

        var sceneGroups = new List<SceneGroup>();
        for (var g = 0; g < groups.Count; g++)
        {
            var plan = groups[g];
            var instances = new List<SceneInstance>();
            for (var i = 0; i < plan.Count; i++)
            {
                var layer = layers.IndexOf((g, i));
                var box = plan.Boxes[i];
                var occluded = layers.Skip(layer + 1).Any(l => groups[l.Group].Boxes[l.Instance].IntersectionArea(box) > 1.0);
                instances.Add(new SceneInstance(box, layer, plan.Flipped[i], occluded));
            }
            sceneGroups.Add(new SceneGroup(g, plan.Entity.Name, plan.Entity.Class, plan.Entity.Kind, plan.Entity.Emoji,
                plan.Colour, plan.Size, plan.Fill, plan.Count, instances));
        }
        var relations = stated.Select(r => new SceneRelation(r.Subject, r.Predicate, r.Object,
            Relations.HoldsAll(sceneGroups[r.Subject].Bounds, sceneGroups[r.Object].Bounds, side))).ToList();
        var background = SampleBackground(rng, groups);
        return new SceneGraph(imageId, split, fileName, (int)side, (int)side, background, sceneGroups, relations);
    }

    private static SceneBackground SampleBackground(SynthRandom rng, List<GroupPlan> groups)
    {
        var fills = groups.Where(g => g.Fill is not null).Select(g => Rgb(g.Fill!)).ToList();
        var palette = rng.Chance(0.15) ? DarkBackgrounds : LightBackgrounds;
        // Every shape must stand out from the background (emoji have their own outlines and colours).
        var usable = palette.Where(c => fills.All(f => Distance(f, (c.R, c.G, c.B)) >= 100)).ToList();
        if (usable.Count < 2) usable = LightBackgrounds.Where(c => fills.All(f => Distance(f, (c.R, c.G, c.B)) >= 100)).ToList();
        var kind = rng.PickWeighted([0.4, 0.35, 0.25]) switch { 0 => "plain", 1 => "gradient", _ => "noise" };
        var first = rng.Pick(usable);
        var colours = new List<(string Name, byte R, byte G, byte B)> { first };
        if (kind == "gradient")
        {
            var second = rng.Pick(usable.Where(c => c.Name != first.Name).ToList());
            colours.Add(second);
        }
        var angle = kind == "gradient" ? rng.Between(0, 7) * 45.0 : 0;
        var noiseSeed = kind == "noise" ? rng.Next(int.MaxValue) : 0;
        return new SceneBackground(kind, colours.Select(c => $"#{c.R:x2}{c.G:x2}{c.B:x2}").ToList(), colours.Select(c => c.Name).ToList(), angle, noiseSeed);
    }

    internal static (int R, int G, int B) Rgb(string hex) =>
        (Convert.ToInt32(hex.Substring(1, 2), 16), Convert.ToInt32(hex.Substring(3, 2), 16), Convert.ToInt32(hex.Substring(5, 2), 16));

    private static double Distance((int R, int G, int B) a, (int R, int G, int B) b) =>
        Math.Sqrt((a.R - b.R) * (a.R - b.R) + (a.G - b.G) * (a.G - b.G) + (a.B - b.B) * (a.B - b.B));
}
