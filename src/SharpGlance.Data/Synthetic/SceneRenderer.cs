using SkiaSharp;

namespace SharpGlance.Data.Synthetic;

/// <summary>
/// Draws a <see cref="SceneGraph"/> with SkiaSharp: the background (plain, gradient or a light noise
/// texture), then every instance in paint order — emoji as colour glyph sprites scaled into their box
/// (mirrored when flipped), shapes as filled paths with a thin darker outline. The image is a pure
/// function of the scene graph, and a renderer may be shared by threads.
/// </summary>
public sealed class SceneRenderer(EmojiCatalog catalog)
{
    // Downscaling the 136 px glyph bitmaps to ~30 px: trilinear (mipmapped) sampling keeps edges smooth.
    private static readonly SKSamplingOptions Sampling = new(SKFilterMode.Linear, SKMipmapMode.Linear);

    /// <summary>The image as PNG bytes (RGB, no alpha).</summary>
    public byte[] RenderPng(SceneGraph scene)
    {
        using var bitmap = Render(scene);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100)
                         ?? throw new InvalidOperationException("PNG encoding failed");
        return data.ToArray();
    }

    /// <summary>The image as an opaque RGBA bitmap; the caller disposes it.</summary>
    public SKBitmap Render(SceneGraph scene)
    {
        var bitmap = new SKBitmap(new SKImageInfo(scene.Width, scene.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        try
        {
            DrawBackground(bitmap, scene.Background);
            using var canvas = new SKCanvas(bitmap);
            var layers = scene.Groups
                .SelectMany(g => g.Instances.Select(i => (Group: g, Instance: i)))
                .OrderBy(x => x.Instance.Layer);
            foreach (var (group, instance) in layers)
            {
                if (group.IsShape) DrawShape(canvas, group, instance.Box, scene.Width);
                else DrawEmoji(canvas, group, instance);
            }
            canvas.Flush();
            return bitmap;
        }
        catch
        {
            bitmap.Dispose();
            throw;
        }
    }

    private static void DrawBackground(SKBitmap bitmap, SceneBackground bg)
    {
        int w = bitmap.Width, h = bitmap.Height;
        var first = ToColor(bg.Colours[0]);
        using var canvas = new SKCanvas(bitmap);
        switch (bg.Kind)
        {
            case "plain":
                canvas.Clear(first);
                break;
            case "gradient":
            {
                var rad = bg.Angle * Math.PI / 180;
                float cx = w / 2f, cy = h / 2f, dx = (float)(Math.Cos(rad) * w / 2), dy = (float)(Math.Sin(rad) * h / 2);
                using var shader = SKShader.CreateLinearGradient(new SKPoint(cx - dx, cy - dy), new SKPoint(cx + dx, cy + dy),
                    [first, ToColor(bg.Colours[1])], SKShaderTileMode.Clamp);
                using var paint = new SKPaint { Shader = shader };
                canvas.DrawRect(0, 0, w, h, paint);
                break;
            }
            case "noise":
                canvas.Flush();
                FillNoise(bitmap, first, bg.NoiseSeed);
                break;
            default:
                throw new InvalidOperationException($"unknown background kind '{bg.Kind}'");
        }
        canvas.Flush();
    }

    /// <summary>A light paper-like texture: smooth value noise on an 8 px lattice plus faint per-pixel grain.</summary>
    private static void FillNoise(SKBitmap bitmap, SKColor baseColour, int seed)
    {
        int w = bitmap.Width, h = bitmap.Height;
        const int cell = 8;
        int gw = w / cell + 2, gh = h / cell + 2;
        var rng = new SynthRandom((ulong)seed);
        var lattice = new double[gw * gh];
        for (var i = 0; i < lattice.Length; i++) lattice[i] = rng.Uniform(-14, 14);
        var pixels = bitmap.GetPixelSpan();
        for (var y = 0; y < h; y++)
        {
            int gy = y / cell;
            double fy = (y % cell) / (double)cell;
            for (var x = 0; x < w; x++)
            {
                int gx = x / cell;
                double fx = (x % cell) / (double)cell;
                var v = (1 - fy) * ((1 - fx) * lattice[gy * gw + gx] + fx * lattice[gy * gw + gx + 1])
                        + fy * ((1 - fx) * lattice[(gy + 1) * gw + gx] + fx * lattice[(gy + 1) * gw + gx + 1])
                        + rng.Uniform(-4, 4);
                var o = (y * w + x) * 4;
                pixels[o] = Clamp(baseColour.Red + v);
                pixels[o + 1] = Clamp(baseColour.Green + v);
                pixels[o + 2] = Clamp(baseColour.Blue + v);
                pixels[o + 3] = 255;
            }
        }
    }

    private void DrawEmoji(SKCanvas canvas, SceneGroup group, SceneInstance instance)
    {
        var sprite = catalog.Sprite(group.Emoji!);
        var box = instance.Box;
        var dest = new SKRect((float)box.X, (float)box.Y, (float)box.Right, (float)box.Bottom);
        using var paint = new SKPaint { IsAntialias = true };
        canvas.Save();
        if (instance.Flipped) canvas.Scale(-1, 1, (float)box.CenterX, 0);
        canvas.DrawImage(sprite.Image, dest, Sampling, paint);
        canvas.Restore();
    }

    private static void DrawShape(SKCanvas canvas, SceneGroup group, SceneBox box, int side)
    {
        using var path = UnitShape(group.Name);
        // Stretch the unit outline onto the box exactly, so the box is the shape's extent.
        var bounds = path.TightBounds;
        var matrix = SKMatrix.CreateScaleTranslation(
            (float)(box.W / bounds.Width), (float)(box.H / bounds.Height),
            (float)(box.X - bounds.Left * box.W / bounds.Width), (float)(box.Y - bounds.Top * box.H / bounds.Height));
        path.Transform(matrix);
        var fill = ToColor(group.Fill!);
        using var fillPaint = new SKPaint { IsAntialias = true, Color = fill, Style = SKPaintStyle.Fill };
        canvas.DrawPath(path, fillPaint);
        var edge = new SKColor((byte)(fill.Red * 0.65), (byte)(fill.Green * 0.65), (byte)(fill.Blue * 0.65));
        using var edgePaint = new SKPaint { IsAntialias = true, Color = edge, Style = SKPaintStyle.Stroke, StrokeWidth = Math.Max(1f, side / 128f), StrokeJoin = SKStrokeJoin.Round };
        canvas.DrawPath(path, edgePaint);
    }

    /// <summary>Each shape's outline in arbitrary unit coordinates (normalised onto the box when drawn).</summary>
    private static SKPath UnitShape(string name)
    {
        using var path = new SKPathBuilder();
        switch (name)
        {
            case "circle": path.AddOval(new SKRect(0, 0, 1, 1), SKPathDirection.Clockwise); break;
            case "square": path.AddRect(new SKRect(0, 0, 1, 1), SKPathDirection.Clockwise); break;
            case "triangle": Polygon(path, (0.5f, 0f), (1f, 1f), (0f, 1f)); break;
            case "diamond": Polygon(path, (0.5f, 0f), (1f, 0.5f), (0.5f, 1f), (0f, 0.5f)); break;
            case "star":
            {
                var points = new (float, float)[10];
                for (var i = 0; i < 10; i++)
                {
                    var r = i % 2 == 0 ? 1.0 : 0.45;
                    var a = -Math.PI / 2 + i * Math.PI / 5;
                    points[i] = ((float)(r * Math.Cos(a)), (float)(r * Math.Sin(a)));
                }
                Polygon(path, points);
                break;
            }
            case "hexagon":
            {
                var points = new (float, float)[6];
                for (var i = 0; i < 6; i++) points[i] = ((float)Math.Cos(i * Math.PI / 3), (float)Math.Sin(i * Math.PI / 3));
                Polygon(path, points);
                break;
            }
            case "cross":
            {
                const float t = 0.34f, a = (1 - t) / 2, b = (1 + t) / 2;
                Polygon(path, (a, 0f), (b, 0f), (b, a), (1f, a), (1f, b), (b, b), (b, 1f), (a, 1f), (a, b), (0f, b), (0f, a), (a, a));
                break;
            }
            case "heart":
                path.MoveTo(0.5f, 0.25f);
                path.CubicTo(0.5f, 0.1f, 0.36f, 0f, 0.23f, 0f);
                path.CubicTo(0.08f, 0f, 0f, 0.13f, 0f, 0.29f);
                path.CubicTo(0f, 0.56f, 0.3f, 0.76f, 0.5f, 1f);
                path.CubicTo(0.7f, 0.76f, 1f, 0.56f, 1f, 0.29f);
                path.CubicTo(1f, 0.13f, 0.92f, 0f, 0.77f, 0f);
                path.CubicTo(0.64f, 0f, 0.5f, 0.1f, 0.5f, 0.25f);
                path.Close();
                break;
            default:
                throw new ArgumentException($"unknown shape '{name}'", nameof(name));
        }
        return path.Detach();
    }

    private static void Polygon(SKPathBuilder path, params (float X, float Y)[] points)
    {
        path.MoveTo(points[0].X, points[0].Y);
        for (var i = 1; i < points.Length; i++) path.LineTo(points[i].X, points[i].Y);
        path.Close();
    }

    private static SKColor ToColor(string hex)
    {
        var (r, g, b) = SceneSampler.Rgb(hex);
        return new SKColor((byte)r, (byte)g, (byte)b);
    }

    private static byte Clamp(double v) => (byte)Math.Clamp((int)Math.Round(v), 0, 255);
}
