using SkiaSharp;
using SharpGlance.IO;

namespace SharpGlance.Training;

/// <summary>
/// One logged point of a run: the optimizer step, the training loss there and the learning rate; for a
/// validation point, the task's validation score too (e.g. CIDEr ×100), when it has one.
/// </summary>
public readonly record struct LossPoint(long Step, double Loss, double LearningRate, double? Score = null);

/// <summary>
/// Draws a run's training loss (raw and smoothed), validation loss and learning rate into a PNG, the
/// picture a person looks at first when a run goes wrong. Written beside the checkpoints.
/// </summary>
public static class LossCurve
{
    public static void Write(string path, string title, IReadOnlyList<LossPoint> train, IReadOnlyList<LossPoint> validation)
    {
        const int W = 900, H = 520, L = 70, R = 70, T = 46, B = 56;
        using var surface = SKSurface.Create(new SKImageInfo(W, H));
        var c = surface.Canvas;
        c.Clear(SKColors.White);
        using var font = new SKFont(Runtime.Fonts.Sans, 14);
        using var small = new SKFont(Runtime.Fonts.Sans, 12);
        using var ink = new SKPaint { Color = new SKColor(40, 40, 40), IsAntialias = true };
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1 };
        c.DrawText(title, L, 28, SKTextAlign.Left, font, ink);

        var all = train.Concat(validation).Where(p => double.IsFinite(p.Loss)).ToList();
        if (all.Count == 0)
        {
            c.DrawText("no finite loss logged yet", L, H / 2, SKTextAlign.Left, font, ink);
            Save(surface, path);
            return;
        }
        // The loss and learning-rate axes run from 0 (or below, for a negative loss) to their first round tick
        // above the data; the step axis spans the steps logged, with round ticks inside it.
        double x0 = all.Min(p => p.Step), x1 = Math.Max(all.Max(p => p.Step), x0 + 1);
        var lossTicks = NiceTicks(Math.Min(0, all.Min(p => p.Loss)), all.Max(p => p.Loss));
        var lrTicks = NiceTicks(0, Math.Max(train.Select(p => p.LearningRate).DefaultIfEmpty(0).Max(), 1e-12));
        var stepTicks = NiceTicks(x0, x1, inside: true, minStep: 1);
        double y0 = lossTicks[0], y1 = lossTicks[^1], lrMax = lrTicks[^1];
        float X(double s) => (float)(L + (s - x0) / (x1 - x0) * (W - L - R));
        float Y(double v) => (float)(H - B - (v - y0) / (y1 - y0) * (H - T - B));
        float Ylr(double v) => (float)(H - B - v / lrMax * (H - T - B));

        foreach (var v in lossTicks)
        {
            c.DrawLine(L, Y(v), W - R, Y(v), grid);
            c.DrawText(TickLabel(v, lossTicks), L - 8, Y(v) + 4, SKTextAlign.Right, small, ink);
        }
        foreach (var lr in lrTicks)
            c.DrawText(TickLabel(lr, lrTicks, scientific: true), W - R + 6, Ylr(lr) + 4, SKTextAlign.Left, small, ink);
        foreach (var s in stepTicks)
            c.DrawText(TickLabel(s, stepTicks), X(s), H - B + 18, SKTextAlign.Center, small, ink);
        c.DrawText("step", W / 2 - 14, H - 12, SKTextAlign.Left, small, ink);

        DrawSeries(c, train.Select(p => (X(p.Step), Ylr(p.LearningRate))).ToList(), new SKColor(150, 150, 150), 1.2f, dashed: true);
        DrawSeries(c, train.Where(p => double.IsFinite(p.Loss)).Select(p => (X(p.Step), Y(p.Loss))).ToList(), new SKColor(120, 170, 230), 1f);
        // Exponential moving average, the trend a reader wants; its memory grows with the number of points
        // (about a fortieth of the run), so that a short run's curve does not lag behind its falling loss.
        var finite = train.Where(p => double.IsFinite(p.Loss)).ToList();
        double beta = 1 - 1 / Math.Max(2.0, finite.Count / 40.0);
        var ema = new List<(float, float)>();
        double m = double.NaN;
        foreach (var p in finite)
        {
            m = double.IsNaN(m) ? p.Loss : beta * m + (1 - beta) * p.Loss;
            ema.Add((X(p.Step), Y(m)));
        }
        DrawSeries(c, ema, new SKColor(20, 80, 190), 2.2f);
        using var valPaint = new SKPaint { Color = new SKColor(220, 90, 30), IsAntialias = true };
        DrawSeries(c, validation.Where(p => double.IsFinite(p.Loss)).Select(p => (X(p.Step), Y(p.Loss))).ToList(), new SKColor(220, 90, 30), 2f);
        foreach (var p in validation.Where(p => double.IsFinite(p.Loss))) c.DrawCircle(X(p.Step), Y(p.Loss), 3.5f, valPaint);

        float lx = W - R - 300;
        Legend(c, lx, 20, new SKColor(20, 80, 190), "train loss (EMA)", small, ink);
        if (validation.Any(p => double.IsFinite(p.Loss))) Legend(c, lx + 130, 20, new SKColor(220, 90, 30), "validation", small, ink);
        Legend(c, lx + 230, 20, new SKColor(150, 150, 150), "lr", small, ink);
        Save(surface, path);
    }

    /// <summary>
    /// Round axis ticks ("nice numbers", Heckbert 1990): about <paramref name="target"/> ticks a step of 1, 2 or 5
    /// times a power of ten apart, from the last tick at or below <paramref name="min"/> to the first at or above
    /// <paramref name="max"/> — or, with <paramref name="inside"/>, only the ticks within [min, max].
    /// </summary>
    public static double[] NiceTicks(double min, double max, int target = 6, bool inside = false, double minStep = 0)
    {
        if (!(max > min)) max = min + (min == 0 ? 1 : Math.Abs(min));
        double step = Math.Max(NiceStep((max - min) / Math.Max(1, target - 1)), minStep);
        double first = inside ? Math.Ceiling(min / step - 1e-9) : Math.Floor(min / step + 1e-9);
        double last = inside ? Math.Floor(max / step + 1e-9) : Math.Ceiling(max / step - 1e-9);
        // k × step, not a running sum, so that 0.1 + 0.2 never shows up as 0.30000000000000004.
        return Enumerable.Range(0, (int)(last - first) + 1).Select(i => Math.Round((first + i) * step, 12)).ToArray();
    }

    /// <summary>The 1, 2 or 5 (× 10^k) nearest <paramref name="raw"/> (Heckbert's rounding: 2.17 → 2, not up to 5, which would leave a third of the plot empty).</summary>
    private static double NiceStep(double raw)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double fraction = raw / power;
        return (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power;
    }

    /// <summary>A tick's label with as many decimals as its step needs (2.5, not 2.500); learning rates as 2e-4.</summary>
    public static string TickLabel(double value, IReadOnlyList<double> ticks, bool scientific = false)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        if (value == 0) return "0";
        if (scientific) return value.ToString("0.#e0", invariant);
        double step = ticks.Count > 1 ? ticks[1] - ticks[0] : Math.Abs(value);
        int decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step) + 1e-9));
        return value.ToString("F" + decimals, invariant);
    }

    private static void DrawSeries(SKCanvas c, List<(float X, float Y)> pts, SKColor color, float width, bool dashed = false)
    {
        if (pts.Count < 2) return;
        using var paint = new SKPaint { Color = color, StrokeWidth = width, IsAntialias = true, Style = SKPaintStyle.Stroke };
        if (dashed) paint.PathEffect = SKPathEffect.CreateDash([6, 4], 0);
        using var builder = new SKPathBuilder();
        builder.MoveTo(pts[0].X, pts[0].Y);
        foreach (var (x, y) in pts.Skip(1)) builder.LineTo(x, y);
        using var path = builder.Detach();
        c.DrawPath(path, paint);
    }

    private static void Legend(SKCanvas c, float x, float y, SKColor color, string text, SKFont font, SKPaint ink)
    {
        using var p = new SKPaint { Color = color, StrokeWidth = 3 };
        c.DrawLine(x, y - 4, x + 18, y - 4, p);
        c.DrawText(text, x + 22, y, SKTextAlign.Left, font, ink);
    }

    private static void Save(SKSurface surface, string path)
    {
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, data.AsSpan());
    }
}
