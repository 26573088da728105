using System.Globalization;
using System.Text;
using SharpGlance.Captioning;
using SharpGlance.Data;
using SharpGlance.Data.Synthetic;
using SharpGlance.Preprocessing;
using SkiaSharp;

namespace SharpGlance.Attention;

/// <summary>
/// Grounding of one kind of map: of the caption's nouns that name a group of the scene, how many have the
/// map's hottest patch inside one of that group's boxes (a patch counts by its centre), against chance
/// (the share of patch centres inside those boxes, averaged over the same nouns).
/// </summary>
public sealed class GroundingTally
{
    public int Nouns { get; private set; }
    public int Inside { get; private set; }
    private double _chance;

    public double Share => Nouns == 0 ? double.NaN : (double)Inside / Nouns;
    public double Chance => Nouns == 0 ? double.NaN : _chance / Nouns;

    internal void Add(bool inside, double chance)
    {
        Nouns++;
        if (inside) Inside++;
        _chance += chance;
    }
}

/// <summary>
/// What <c>glance analyze attention</c> measures over a folder of images (paper Sec. 4): per LM layer, the
/// mean share of a generated token's attention that goes to the visual tokens (for the second glance also
/// the part that goes to DeepLens's outputs), and, where scene graphs are known, grounding per map.
/// </summary>
public sealed class AttentionStatistics
{
    public int Images { get; internal set; }
    public int FirstTokens { get; internal set; }
    public int SecondTokens { get; internal set; }
    /// <summary>[layer]: mean over the first glance's generated tokens of their attention on the visual tokens.</summary>
    public required double[] FirstShare { get; init; }
    /// <summary>[layer], second glance: on all its visual tokens; null without <c>--refine</c>.</summary>
    public double[]? SecondShare { get; init; }
    /// <summary>[layer], second glance: on DeepLens's outputs alone.</summary>
    public double[]? SecondDeepLensShare { get; init; }
    /// <summary>Grounding by map ("first glance, mean of layers", "first glance, LM layer 0", …); empty without scene graphs.</summary>
    public Dictionary<string, GroundingTally> Grounding { get; } = [];
    /// <summary>Nouns of the captions that name nothing in their scene (not scored).</summary>
    public int NounsNamingNothing { get; internal set; }

    public string Format()
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"share of each generated token's attention on the visual tokens (mean over tokens; {Images} images, {FirstTokens} first-glance tokens{(SecondShare is null ? "" : $", {SecondTokens} second-glance tokens")})");
        s.Append("layer  first glance");
        if (SecondShare is not null) s.Append("  second glance  (of it: DeepLens outputs)");
        s.AppendLine();
        for (int l = 0; l < FirstShare.Length; l++)
        {
            s.Append(CultureInfo.InvariantCulture, $"{l,5}  {FirstShare[l],12:P1}");
            if (SecondShare is not null) s.Append(CultureInfo.InvariantCulture, $"  {SecondShare[l],13:P1}  {SecondDeepLensShare![l],23:P1}");
            s.AppendLine();
        }
        s.Append(CultureInfo.InvariantCulture, $"mean   {FirstShare.Average(),12:P1}");
        if (SecondShare is not null) s.Append(CultureInfo.InvariantCulture, $"  {SecondShare.Average(),13:P1}  {SecondDeepLensShare!.Average(),23:P1}");
        s.AppendLine();
        if (Grounding.Count > 0)
        {
            s.AppendLine();
            s.AppendLine("grounding: nouns whose heat-map maximum lies inside the named object's box (chance: share of patches inside the boxes)");
            foreach (var (name, g) in Grounding)
                s.AppendLine(CultureInfo.InvariantCulture, $"  {name,-48} {g.Inside,4}/{g.Nouns,-4} = {g.Share,6:P1}   chance {g.Chance:P1}");
            s.AppendLine(CultureInfo.InvariantCulture, $"  ({NounsNamingNothing} nouns named nothing in their scene and were not scored)");
        }
        return s.ToString();
    }
}

/// <summary>Runs <see cref="AttentionMaps.Read"/> over images and gathers <see cref="AttentionStatistics"/>.</summary>
public static class AttentionAnalysis
{
    /// <summary>
    /// The scene graphs and lexicon of a synthetic world's image folder laid out as <c>glance synth</c>
    /// writes it (<c>WORLD/images/SPLIT/</c> beside <c>WORLD/SPLIT.scenes.json</c> and
    /// <c>WORLD/lexicon.json</c>), keyed by image file name; null when the folder is not one.
    /// </summary>
    public static (IReadOnlyDictionary<string, SceneGraph> Scenes, WorldLexicon Lexicon)? WorldOf(string imagesDir)
    {
        var dir = new DirectoryInfo(Path.GetFullPath(imagesDir));
        var world = dir.Parent?.Parent;
        if (world is null || dir.Parent!.Name != "images") return null;
        string scenes = Path.Combine(world.FullName, dir.Name + ".scenes.json"), lexicon = Path.Combine(world.FullName, "lexicon.json");
        if (!File.Exists(scenes) || !File.Exists(lexicon)) return null;
        var byName = SceneJson.LoadScenes(scenes).Values.ToDictionary(s => Path.GetFileName(s.FileName));
        return (byName, WorldLexicon.Load(lexicon));
    }

    public static AttentionStatistics Run(Captioner captioner, IReadOnlyList<string> images, AttentionOptions options,
        (IReadOnlyDictionary<string, SceneGraph> Scenes, WorldLexicon Lexicon)? world, IProgress<ProgressUpdate>? progress = null)
    {
        if (images.Count == 0) throw new GlanceException("analyze attention: no images");
        int layers = captioner.Lm.Config.NumHiddenLayers;
        var stats = new AttentionStatistics
        {
            FirstShare = new double[layers],
            SecondShare = options.Refine ? new double[layers] : null,
            SecondDeepLensShare = options.Refine ? new double[layers] : null,
        };
        var nouns = world is { } w ? Nouns(w.Lexicon) : null;
        for (int i = 0; i < images.Count; i++)
        {
            var image = RgbImage.FromFile(images[i]);
            captioner.ImageProcessor.CheckSize(image, captioner.Config.Aspect);
            var maps = AttentionMaps.Read(captioner, image, options);
            stats.Images++;
            foreach (var t in maps.First.Tokens)
                for (int l = 0; l < layers; l++) stats.FirstShare[l] += t.VisualShare[l];
            stats.FirstTokens += maps.First.Tokens.Count;
            if (maps.Second is { } second)
            {
                var q = second.Layout;
                foreach (var t in second.Tokens)
                    for (int l = 0; l < layers; l++)
                    {
                        stats.SecondShare![l] += t.VisualShare[l];
                        stats.SecondDeepLensShare![l] += t.Visual[l].AsSpan(q.QueryStart, q.Queries).ToArray().Sum();
                    }
                stats.SecondTokens += second.Tokens.Count;
            }
            if (world is { } wd && nouns is not null && wd.Scenes.TryGetValue(Path.GetFileName(images[i]), out var scene))
                Ground(stats, maps, scene, nouns, image, captioner.Config.Aspect);
            progress?.Report(new ProgressUpdate(i + 1, images.Count));
        }
        for (int l = 0; l < layers; l++)
        {
            stats.FirstShare[l] /= Math.Max(1, stats.FirstTokens);
            if (stats.SecondShare is not null)
            {
                stats.SecondShare[l] /= Math.Max(1, stats.SecondTokens);
                stats.SecondDeepLensShare![l] /= Math.Max(1, stats.SecondTokens);
            }
        }
        return stats;
    }

    /// <summary>Every noun form of the world (singular and plural, the last word of "teddy bear") → its singular name.</summary>
    private static Dictionary<string, string> Nouns(WorldLexicon lexicon)
    {
        var nouns = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in lexicon.Entities.Values.SelectMany(e => e).Concat(lexicon.Shapes))
        {
            string plural = lexicon.Plurals.TryGetValue(name, out var p) ? p : Inflection.RegularPlural(name);
            nouns[name.Split(' ')[^1]] = name;
            nouns[plural.Split(' ')[^1]] = name;
        }
        return nouns;
    }

    private static void Ground(AttentionStatistics stats, ImageAttention maps, SceneGraph scene, Dictionary<string, string> nouns, RgbImage image, AspectMode aspect)
    {
        void Score(GlanceAttention glance, string name, Func<WordAttention, float[]?> map, bool countNothing)
        {
            foreach (var word in glance.Words())
            {
                if (!nouns.TryGetValue(word.Word, out var entity)) continue;
                var groups = scene.Groups.Where(g => g.Name == entity).ToList();
                if (groups.Count == 0)
                {
                    if (countNothing) stats.NounsNamingNothing++;
                    continue;
                }
                if (map(word) is not { } values) continue;
                var boxes = groups.SelectMany(g => g.Instances.Select(i => i.Box)).ToList();
                int grid = glance.Grid;
                bool In(int patch)
                {
                    var (x, y) = PatchCentre(patch, grid, image.Width, image.Height, aspect);
                    return boxes.Any(b => x >= b.X && x <= b.Right && y >= b.Y && y <= b.Bottom);
                }
                int hottest = Array.IndexOf(values, values.Max());
                double chance = (double)Enumerable.Range(0, grid * grid).Count(In) / (grid * grid);
                if (!stats.Grounding.TryGetValue(name, out var tally)) stats.Grounding[name] = tally = new GroundingTally();
                tally.Add(In(hottest), chance);
            }
        }
        var first = maps.First;
        Score(first, "first glance, LM over patches, mean of layers", w => w.Patches, countNothing: true);
        for (int l = 0; l < (first.Tokens.Count > 0 ? first.Tokens[0].Visual.Length : 0); l++)
        {
            int layer = l;
            Score(first, $"first glance, LM layer {layer}", w => w.PatchesPerLayer?[layer], countNothing: false);
        }
        if (maps.Second is { } second)
        {
            Score(second, "second glance, LM over patches, mean of layers", w => w.Patches, countNothing: false);
            Score(second, "second glance, LM via DeepLens, mean of levels", w => w.Levels is null ? null : WordAttention.Mean(w.Levels), countNothing: false);
        }
    }

    /// <summary>
    /// The centre of patch <paramref name="patch"/> (row-major over grid×grid) in the image's pixels: the
    /// tower saw a square of side max(w, h) (pad, letterboxed) or min(w, h) (square, centre crop) centred on the image.
    /// </summary>
    public static (double X, double Y) PatchCentre(int patch, int grid, int width, int height, AspectMode aspect)
    {
        double side = aspect == AspectMode.Pad ? Math.Max(width, height) : Math.Min(width, height);
        double u = (patch % grid + 0.5) / grid, v = (patch / grid + 0.5) / grid;
        return (u * side - (side - width) / 2, v * side - (side - height) / 2);
    }

    /// <summary>A bar chart of the per-layer shares (first glance, and the second with its DeepLens part), written atomically.</summary>
    public static void WritePlot(AttentionStatistics stats, string path)
    {
        const int W = 640, H = 360, L = 60, R = 20, T = 44, B = 50;
        var series = new List<(string Name, double[] Values, SKColor Colour)> { ("first glance", stats.FirstShare, new SKColor(0x1f, 0x77, 0xb4)) };
        if (stats.SecondShare is not null)
        {
            series.Add(("second glance", stats.SecondShare, new SKColor(0xff, 0x7f, 0x0e)));
            series.Add(("second glance: DeepLens outputs", stats.SecondDeepLensShare!, new SKColor(0x2c, 0xa0, 0x2c)));
        }
        using var bitmap = new SKBitmap(W, H, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var c = new SKCanvas(bitmap))
        {
            c.Clear(SKColors.White);
            using var font = new SKFont(Runtime.Fonts.Sans, 14);
            using var small = new SKFont(Runtime.Fonts.Sans, 11);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var grid = new SKPaint { Color = new SKColor(220, 220, 220), StrokeWidth = 1 };
            c.DrawText($"attention on the visual tokens per LM layer ({stats.Images} images)", L, 24, SKTextAlign.Left, font, ink);
            float plotH = H - T - B, plotW = W - L - R;
            for (int tick = 0; tick <= 4; tick++)
            {
                float y = T + plotH * (1 - tick / 4f);
                c.DrawLine(L, y, W - R, y, grid);
                c.DrawText($"{tick * 25}%", L - 6, y + 4, SKTextAlign.Right, small, ink);
            }
            int layers = stats.FirstShare.Length;
            float groupW = plotW / layers, barW = groupW * 0.8f / series.Count;
            for (int l = 0; l < layers; l++)
            {
                float x0 = L + l * groupW + groupW * 0.1f;
                for (int s = 0; s < series.Count; s++)
                {
                    using var fill = new SKPaint { Color = series[s].Colour };
                    float h = (float)(series[s].Values[l] * plotH);
                    c.DrawRect(SKRect.Create(x0 + s * barW, T + plotH - h, barW - 2, h), fill);
                    c.DrawText(series[s].Values[l].ToString("P0", CultureInfo.InvariantCulture), x0 + s * barW + barW / 2, T + plotH - h - 3, SKTextAlign.Center, small, ink);
                }
                c.DrawText($"layer {l}", L + l * groupW + groupW / 2, H - B + 16, SKTextAlign.Center, small, ink);
            }
            float x = L;
            foreach (var (name, _, colour) in series)
            {
                using var fill = new SKPaint { Color = colour };
                c.DrawRect(SKRect.Create(x, H - 22, 12, 12), fill);
                c.DrawText(name, x + 16, H - 12, SKTextAlign.Left, small, ink);
                x += 16 + small.MeasureText(name) + 24;
            }
        }
        AttentionSheet.SavePng(bitmap, path);
    }
}
