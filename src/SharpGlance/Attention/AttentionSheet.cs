using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpGlance.IO;
using SharpGlance.Preprocessing;
using SkiaSharp;

namespace SharpGlance.Attention;

/// <summary>
/// Draws attention maps over the image: each map is laid on the tower's patch grid over the square the
/// tower saw (the centre crop, or the whole image letterboxed with <c>pad</c>), its coldest patch to its
/// hottest stretched over the colour ramp (so a tile shows where a word looks, not how much), with the
/// hottest patch outlined and the peak's ratio to the map's mean in the corner: ×1.1 is a nearly flat map
/// whose colours are noise, ×10 a sharp one.
/// </summary>
public static class AttentionSheet
{
    public const int TileSize = 96;
    private const int LabelWidth = 112, HeaderHeight = 40, ColumnTitleHeight = 16, Gap = 4;

    /// <summary>
    /// Writes into <paramref name="dir"/>: <c>first.png</c> (the contact sheet: a row per word, columns for
    /// the mean over layers and each layer), <c>first/NN-word.png</c> (one tile per word), with a second
    /// glance <c>second.png</c>, <c>second/NN-word.png</c> and <c>deeplens.png</c> (each query's
    /// cross-attention per level), and <c>attention.json</c> (the numbers). Every file goes through a temp
    /// file and a rename. Returns the paths written.
    /// </summary>
    public static IReadOnlyList<string> Write(ImageAttention maps, RgbImage image, AspectMode aspect, string dir)
    {
        var written = new List<string>();
        RemoveStale(dir);
        using var photo = image.ToBitmap();
        foreach (var glance in new[] { maps.First, maps.Second })
        {
            if (glance is null) continue;
            var words = glance.Words();
            for (int i = 0; i < words.Count; i++)
            {
                using var tile = Tile(photo, aspect, words[i].Map, glance.Grid, TileSize * 2);
                written.Add(SavePng(tile, Path.Combine(dir, glance.Glance, $"{i:D2}-{FileSafe(words[i].Word)}.png")));
            }
            using var sheet = Sheet(photo, aspect, glance, words);
            written.Add(SavePng(sheet, Path.Combine(dir, glance.Glance + ".png")));
            if (glance.Lens is { } lens)
            {
                using var cross = LensSheet(photo, aspect, glance.Grid, lens);
                written.Add(SavePng(cross, Path.Combine(dir, "deeplens.png")));
            }
        }
        var json = Path.Combine(dir, "attention.json");
        AtomicFile.WriteAllText(json, ToJson(maps).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        written.Add(json);
        return written;
    }

    /// <summary>The sheet's columns for one glance: a title and the map of a word.</summary>
    private static List<(string Title, Func<WordAttention, float[]> Map)> Columns(GlanceAttention glance, int layers)
    {
        var columns = new List<(string, Func<WordAttention, float[]>)>();
        if (glance.Layout.Patches > 0)
        {
            columns.Add((glance.Layout.Queries > 0 ? "patches, mean" : "mean of layers", w => w.Patches!));
            for (int l = 0; l < layers; l++) { int layer = l; columns.Add(($"LM layer {layer}", w => w.PatchesPerLayer![layer])); }
        }
        if (glance.Lens is { } lens && glance.Layout.Queries > 0)
            for (int k = 0; k < lens.Levels.Count; k++) { int level = k; columns.Add(($"via DeepLens, L{lens.Levels[k]}", w => w.Levels![level])); }
        return columns;
    }

    private static SKBitmap Sheet(SKBitmap photo, AspectMode aspect, GlanceAttention glance, IReadOnlyList<WordAttention> words)
    {
        int layers = glance.Tokens.Count > 0 ? glance.Tokens[0].Visual.Length : 0;
        var columns = Columns(glance, layers);
        int width = LabelWidth + (columns.Count + 1) * (TileSize + Gap) + Gap;
        int height = HeaderHeight + ColumnTitleHeight + Math.Max(1, words.Count) * (TileSize + Gap) + Gap;
        using var page = new Page(width, height, $"{glance.Glance} glance: \"{glance.Caption}\"",
            "word (share of its attention on the image) · each tile min→max, hottest patch outlined, ×: peak / mean");
        var (canvas, font, small, ink) = (page.Canvas, page.Font, page.Small, page.Ink);
        int x0 = LabelWidth;
        canvas.DrawText("image", x0 + TileSize / 2, HeaderHeight + 11, SKTextAlign.Center, small, ink);
        for (int c = 0; c < columns.Count; c++)
            canvas.DrawText(columns[c].Title, x0 + (c + 1) * (TileSize + Gap) + TileSize / 2, HeaderHeight + 11, SKTextAlign.Center, small, ink);
        for (int r = 0; r < words.Count; r++)
        {
            int y = HeaderHeight + ColumnTitleHeight + r * (TileSize + Gap);
            canvas.DrawText(words[r].Word, Gap, y + TileSize / 2, SKTextAlign.Left, font, ink);
            canvas.DrawText(words[r].VisualShare.ToString("P0", CultureInfo.InvariantCulture), Gap, y + TileSize / 2 + 16, SKTextAlign.Left, small, ink);
            using (var plain = Tile(photo, aspect, null, glance.Grid, TileSize)) Place(canvas, plain, x0, y);
            for (int c = 0; c < columns.Count; c++)
            {
                using var tile = Tile(photo, aspect, columns[c].Map(words[r]), glance.Grid, TileSize);
                Place(canvas, tile, x0 + (c + 1) * (TileSize + Gap), y);
            }
        }
        return page.TakeBitmap();
    }

    /// <summary>DeepLens's queries (columns) over each tapped level's patches (rows).</summary>
    private static SKBitmap LensSheet(SKBitmap photo, AspectMode aspect, int grid, LensAttention lens)
    {
        const int tile = 64;
        int queries = lens.Cross.Length, levels = lens.Levels.Count;
        int width = 40 + queries * (tile + 2) + Gap;
        int height = HeaderHeight + levels * (tile + 2) + Gap;
        using var page = new Page(width, height, "DeepLens: each query's cross-attention (mean over heads and decoder layers) over each tapped level's patches",
            "columns: queries 0…" + (queries - 1) + "; rows: tapped ViT layers; each tile min→max, ×: peak / mean");
        var (canvas, font, ink) = (page.Canvas, page.Font, page.Ink);
        for (int k = 0; k < levels; k++)
        {
            int y = HeaderHeight + k * (tile + 2);
            canvas.DrawText($"L{lens.Levels[k]}", Gap, y + tile / 2 + 4, SKTextAlign.Left, font, ink);
            for (int q = 0; q < queries; q++)
            {
                using var t = Tile(photo, aspect, lens.Cross[q][k], grid, tile);
                Place(canvas, t, 40 + q * (tile + 2), y);
            }
        }
        return page.TakeBitmap();
    }

    /// <summary>Draws a tile at its own size (no resampling).</summary>
    private static void Place(SKCanvas canvas, SKBitmap tile, float x, float y)
    {
        using var image = SKImage.FromBitmap(tile);
        canvas.DrawImage(image, x, y, SKSamplingOptions.Default);
    }

    /// <summary>A white sheet with a title and a subtitle, and the fonts and ink to write on it.</summary>
    private sealed class Page : IDisposable
    {
        private SKBitmap? _bitmap;
        public SKCanvas Canvas { get; }
        public SKFont Font { get; } = new(Runtime.Fonts.Sans, 13);
        public SKFont Small { get; } = new(Runtime.Fonts.Sans, 10);
        public SKPaint Ink { get; } = new() { Color = SKColors.Black, IsAntialias = true };

        public Page(int width, int height, string title, string subtitle)
        {
            _bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
            Canvas = new SKCanvas(_bitmap);
            Canvas.Clear(SKColors.White);
            Canvas.DrawText(title, Gap, 16, SKTextAlign.Left, Font, Ink);
            Canvas.DrawText(subtitle, Gap, 32, SKTextAlign.Left, Small, Ink);
        }

        /// <summary>The drawn sheet, now the caller's to dispose.</summary>
        public SKBitmap TakeBitmap()
        {
            Canvas.Flush();
            var b = _bitmap!;
            _bitmap = null;
            return b;
        }

        public void Dispose()
        {
            Canvas.Dispose(); Font.Dispose(); Small.Dispose(); Ink.Dispose(); _bitmap?.Dispose();
        }
    }

    /// <summary>
    /// The square the tower saw, <paramref name="size"/> px, with <paramref name="map"/> (one value per patch,
    /// row-major over grid×grid; null = none) as a heat overlay.
    /// </summary>
    public static SKBitmap Tile(SKBitmap photo, AspectMode aspect, float[]? map, int grid, int size)
    {
        var tile = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var canvas = new SKCanvas(tile);
        canvas.Clear(new SKColor(128, 128, 128));
        // pad: the long side fills the square (letterboxed); square: the short side does (centre crop).
        float side = aspect == AspectMode.Pad ? Math.Max(photo.Width, photo.Height) : Math.Min(photo.Width, photo.Height);
        float scale = size / side;
        var dest = SKRect.Create((size - photo.Width * scale) / 2, (size - photo.Height * scale) / 2, photo.Width * scale, photo.Height * scale);
        using (var image = SKImage.FromBitmap(photo))
            canvas.DrawImage(image, dest, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
        if (map is null) return tile;
        if (map.Length != grid * grid) throw new ArgumentException($"a map of {map.Length} values for a {grid}×{grid} grid", nameof(map));
        float max = map.Max(), min = map.Min(), mean = map.Average();
        int hottest = Array.IndexOf(map, max);
        float cell = (float)size / grid;
        using var paint = new SKPaint();
        for (int p = 0; p < map.Length; p++)
        {
            float v = max > min ? (map[p] - min) / (max - min) : 0;
            paint.Color = Heat(v).WithAlpha((byte)(60 + 140 * v));
            canvas.DrawRect(SKRect.Create(p % grid * cell, p / grid * cell, cell, cell), paint);
        }
        using var outline = new SKPaint { Color = SKColors.White, IsStroke = true, StrokeWidth = Math.Max(1, size / 64f) };
        canvas.DrawRect(SKRect.Create(hottest % grid * cell, hottest / grid * cell, cell, cell), outline);
        if (mean > 0)
        {
            using var font = new SKFont(Runtime.Fonts.Sans, Math.Max(9, size / 9f));
            using var shadow = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var ink = new SKPaint { Color = SKColors.White, IsAntialias = true };
            string peak = "×" + (max / mean).ToString(max / mean < 10 ? "0.0" : "0", CultureInfo.InvariantCulture);
            canvas.DrawText(peak, 3, size - 3, SKTextAlign.Left, font, shadow);
            canvas.DrawText(peak, 2, size - 4, SKTextAlign.Left, font, ink);
        }
        return tile;
    }

    /// <summary>A dark-blue → red → yellow ramp (0 → 1).</summary>
    private static SKColor Heat(float v)
    {
        v = Math.Clamp(v, 0, 1);
        (float r, float g, float b) = v < 0.5f
            ? (2 * v, 0f, 0.5f - v)
            : (1f, 2 * (v - 0.5f), 0f);
        return new SKColor((byte)(255 * r), (byte)(255 * g), (byte)(255 * b));
    }

    /// <summary>A previous run's maps in <paramref name="dir"/> (other words, or a second glance not taken now) would mislead: they go.</summary>
    private static void RemoveStale(string dir)
    {
        if (!Directory.Exists(dir)) return;
        foreach (var glance in new[] { "first", "second" })
        {
            var sub = Path.Combine(dir, glance);
            if (Directory.Exists(sub))
                foreach (var f in Directory.EnumerateFiles(sub, "??-*.png")) File.Delete(f);
            File.Delete(Path.Combine(dir, glance + ".png"));
        }
        File.Delete(Path.Combine(dir, "deeplens.png"));
    }

    /// <summary>Writes <paramref name="bitmap"/> as a PNG through a temporary file and a rename; returns the path.</summary>
    internal static string SavePng(SKBitmap bitmap, string path)
    {
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
        return path;
    }

    private static string FileSafe(string word)
    {
        var s = new string(word.Where(char.IsLetterOrDigit).ToArray());
        return s.Length == 0 ? "punct" : s;
    }

    private static JsonNode? Round(float[]? values) => values is null ? null : new JsonArray(values.Select(v => (JsonNode)Math.Round(v, 5)).ToArray());

    /// <summary>attention.json: per glance, the caption, the layout and per word its shares and maps.</summary>
    public static JsonObject ToJson(ImageAttention maps)
    {
        JsonObject Glance(GlanceAttention g) => new()
        {
            ["caption"] = g.Caption,
            ["grid"] = g.Grid,
            ["layout"] = new JsonObject { ["patch_start"] = g.Layout.PatchStart, ["patches"] = g.Layout.Patches, ["query_start"] = g.Layout.QueryStart, ["queries"] = g.Layout.Queries },
            ["tokens"] = new JsonArray(g.Tokens.Select(t => (JsonNode)new JsonObject
            {
                ["id"] = t.TokenId, ["text"] = t.Text,
                ["visual_share_per_layer"] = Round(t.VisualShare),
            }).ToArray()),
            ["words"] = new JsonArray(g.Words().Select(w => (JsonNode)new JsonObject
            {
                ["word"] = w.Word, ["visual_share"] = Math.Round(w.VisualShare, 5),
                ["patches"] = Round(w.Patches),
                ["patches_per_layer"] = w.PatchesPerLayer is null ? null : new JsonArray(w.PatchesPerLayer.Select(Round).ToArray()),
                ["deeplens_queries"] = Round(w.Queries),
                ["deeplens_levels"] = w.Levels is null ? null : new JsonArray(w.Levels.Select(Round).ToArray()),
            }).ToArray()),
            ["deeplens_levels"] = g.Lens is null ? null : new JsonArray(g.Lens.Levels.Select(l => (JsonNode)l).ToArray()),
        };
        var root = new JsonObject { ["first"] = Glance(maps.First) };
        if (maps.Second is { } second) root["second"] = Glance(second);
        return root;
    }
}
