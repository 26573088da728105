namespace SharpGlance.Data.Synthetic;

/// <summary>
/// The dense world (<c>glance synth --world dense</c>): 3–6 groups of 1–2 things each, 2–4 stated relations
/// between them, described in several sentences (<see cref="CaptionWriter.Detailed"/>), with every object
/// large enough for the tower to see: sizes are in units of the tower's patch, side / <see cref="Grid"/>,
/// and every object's box covers at least two patches' area. The classes, colours, sizes and relation
/// phrases are the default world's.
/// </summary>
/// <param name="Grid">Patches per side of the tower that will look at the images (8: the default model's
/// 96 px / 12 px ViT; a 224 px / 16 px ViT has 14).</param>
public sealed record DenseWorld(int Grid = 8, int MinGroups = 3, int MaxGroups = 6, int MinRelations = 2, int MaxRelations = 4)
{
    /// <summary>At most this many objects in a scene, over all groups.</summary>
    public const int MaxObjects = 8;

    /// <summary>Longest side of a small shape, a large shape and an emoji, in patches (lower, upper).</summary>
    internal static readonly (double Lo, double Hi) SmallShape = (1.45, 1.7), LargeShape = (2.2, 2.5), Emoji = (1.7, 2.1);

    /// <summary>The least area of an object's box, in patches.</summary>
    public const double MinPatches = 2.0;

    public void Validate(int imageSize)
    {
        if (Grid is < 2 or > 64) throw new GlanceException($"--grid must be between 2 and 64 patches per side (got {Grid})");
        if (imageSize / Grid < 4) throw new GlanceException($"--grid {Grid} leaves patches under 4 px on a {imageSize} px image");
        if (MinGroups < 2 || MaxGroups < MinGroups || MaxGroups > 6)
            throw new GlanceException($"dense scenes have between 2 and 6 groups (got {MinGroups}–{MaxGroups})");
        if (MinRelations < 1 || MaxRelations < MinRelations || MaxRelations > MaxGroups * (MaxGroups - 1) / 2)
            throw new GlanceException($"dense scenes' relations must be a range within 1–{MaxGroups * (MaxGroups - 1) / 2} (got {MinRelations}–{MaxRelations})");
    }
}

public sealed partial class SceneSampler
{
    private static readonly string[] DensePredicates = [Relations.LeftOf, Relations.RightOf, Relations.Above, Relations.Below, Relations.NextTo];

    /// <summary>
    /// A dense scene: 3–6 groups with distinct nouns (so every definite re-mention in the description is
    /// unambiguous), each of one or two copies side by side, scattered without overlap; then 2–4 pairs of
    /// groups whose relation is clear (it holds and its look-alikes do not: <see cref="Clear"/>) are stated.
    /// Layouts that leave fewer clear pairs than drawn are drawn again.
    /// </summary>
    private SceneGraph SampleDense(SynthRandom rng, int imageId, string split, string fileName)
    {
        var dense = Dense!;
        double side = _options.ImageSize, patch = side / dense.Grid;
        for (var attempt = 0; attempt < 2000; attempt++)
        {
            int groupCount = rng.Between(dense.MinGroups, dense.MaxGroups);
            var counts = Enumerable.Range(0, groupCount).Select(_ => rng.Chance(0.3) ? 2 : 1).ToArray();
            while (counts.Sum() > DenseWorld.MaxObjects) counts[Array.LastIndexOf(counts, 2)] = 1;
            var groups = new List<GroupPlan>();
            foreach (var n in counts) groups.Add(SampleGroup(rng, n, stackRole: null));
            if (groups.Select(g => g.Entity.Name).Distinct().Count() < groups.Count) continue;
            foreach (var g in groups) LayOutDenseGroup(rng, g, patch);
            if (!Scatter(rng, groups, side)) continue;

            // Candidate relations: each pair of groups in a random direction, with a predicate that is clear.
            var candidates = new List<(int Subject, string Predicate, int Object)>();
            for (var a = 0; a < groups.Count; a++)
                for (var b = a + 1; b < groups.Count; b++)
                {
                    var (s, o) = rng.Chance(0.5) ? (a, b) : (b, a);
                    var clear = DensePredicates.Where(p => Clear(p, groups[s].Bounds, groups[o].Bounds, side)).ToList();
                    if (clear.Count > 0) candidates.Add((s, rng.Pick(clear), o));
                }
            int wanted = rng.Between(dense.MinRelations, dense.MaxRelations);
            if (candidates.Count < dense.MinRelations) continue;
            rng.Shuffle(candidates);
            var stated = candidates.Take(Math.Min(wanted, candidates.Count)).OrderBy(r => Math.Min(r.Subject, r.Object)).ThenBy(r => Math.Max(r.Subject, r.Object)).ToList();
            return Build(rng, groups, stated, stacked: false, imageId, split, fileName);
        }
        throw new InvalidOperationException($"the dense scene sampler found no layout in 2000 attempts ({side} px, grid {dense.Grid}: objects are too large for the image)");
    }

    /// <summary>Sizes the copies in patch units (at least <see cref="DenseWorld.MinPatches"/> patches of area each) and lines them up with a small gap.</summary>
    private void LayOutDenseGroup(SynthRandom rng, GroupPlan g, double patch)
    {
        var (lo, hi) = !g.Entity.IsShape ? DenseWorld.Emoji : g.Size == "small" ? DenseWorld.SmallShape : DenseWorld.LargeShape;
        double longer = patch * rng.Uniform(lo, hi);
        double aspect = g.Entity.IsShape ? WorldVocabulary.ShapeAspect(g.Entity.Name) : _emojiAspect(g.Entity.Emoji!);
        double w = aspect >= 1 ? longer : longer * aspect, h = aspect >= 1 ? longer / aspect : longer;
        double grow = Math.Sqrt(Math.Max(1.0, 1.01 * DenseWorld.MinPatches * patch * patch / (w * h)));   // 1% above, so rounding keeps it
        w *= grow;
        h *= grow;
        bool row = rng.Chance(0.5);
        double gap = patch * rng.Uniform(0.2, 0.5);
        g.Boxes = [];
        g.Flipped = new bool[g.Count];
        for (var i = 0; i < g.Count; i++)
        {
            g.Flipped[i] = !g.Entity.IsShape && rng.Chance(0.5);
            g.Boxes.Add(new SceneBox(row ? i * (w + gap) : 0, row ? 0 : i * (h + gap), w, h));
        }
    }

    /// <summary>Places each group's cluster at random inside the margins, apart from the others by a gap; false when one does not fit.</summary>
    private static bool Scatter(SynthRandom rng, List<GroupPlan> groups, double side)
    {
        double margin = 0.03 * side, gap = 0.025 * side;
        var placed = new List<SceneBox>();
        foreach (var g in groups)
        {
            var bounds = g.Bounds;
            double slackX = side - 2 * margin - bounds.W, slackY = side - 2 * margin - bounds.H;
            if (slackX < 0 || slackY < 0) return false;
            bool done = false;
            for (var tryAt = 0; tryAt < 60 && !done; tryAt++)
            {
                double ox = margin + rng.Uniform(0, slackX) - bounds.X, oy = margin + rng.Uniform(0, slackY) - bounds.Y;
                var at = bounds.Offset(ox, oy);
                var padded = new SceneBox(at.X - gap, at.Y - gap, at.W + 2 * gap, at.H + 2 * gap);
                if (placed.Any(p => p.IntersectionArea(padded) > 0)) continue;
                g.Boxes = g.Boxes.Select(x => x.Offset(ox, oy).Rounded()).ToList();
                placed.Add(g.Bounds);
                done = true;
            }
            if (!done) return false;
        }
        return true;
    }
}
