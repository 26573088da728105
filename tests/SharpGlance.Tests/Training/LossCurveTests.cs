using SharpGlance.Training;
using SkiaSharp;

namespace SharpGlance.Tests.Training;

/// <summary>loss.png (issue #15): round 1-2-5 ticks instead of a fifth of the range (2.418, 168), and a readable PNG.</summary>
public class LossCurveTests
{
    [Fact]
    public void Ticks_are_round_numbers_that_cover_the_data()
    {
        Assert.Equal([0, 0.5, 1, 1.5, 2, 2.5], LossCurve.NiceTicks(0, 2.418));
        Assert.Equal([0, 2, 4, 6, 8, 10, 12], LossCurve.NiceTicks(0, 10.85));
        Assert.Equal([0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3], LossCurve.NiceTicks(0, 1e-3));
        // The step axis keeps the logged range: ticks inside it only, whole steps.
        Assert.Equal([0, 50, 100, 150], LossCurve.NiceTicks(0, 168, inside: true, minStep: 1));
        Assert.Equal([1, 2, 3], LossCurve.NiceTicks(1, 3, inside: true, minStep: 1));
        foreach (var (min, max) in new[] { (0.0, 0.0731), (0.0, 7.3), (10.0, 4321.0), (-0.3, 2.2) })
        {
            var ticks = LossCurve.NiceTicks(min, max);
            Assert.True(ticks[0] <= min && ticks[^1] >= max, $"{min}..{max}: {string.Join(", ", ticks)}");
            double step = ticks[1] - ticks[0];
            double mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
            Assert.Contains(Math.Round(mantissa, 6), new[] { 1.0, 2.0, 5.0 });
            Assert.InRange(ticks.Length, 4, 12);
        }
    }

    [Fact]
    public void Labels_carry_the_decimals_their_step_needs()
    {
        var ticks = LossCurve.NiceTicks(0, 2.418);
        Assert.Equal(["0", "0.5", "1.0", "1.5", "2.0", "2.5"], ticks.Select(t => LossCurve.TickLabel(t, ticks)));
        var steps = LossCurve.NiceTicks(0, 168, inside: true, minStep: 1);
        Assert.Equal(["0", "50", "100", "150"], steps.Select(t => LossCurve.TickLabel(t, steps)));
        Assert.Equal("2e-4", LossCurve.TickLabel(2e-4, [], scientific: true));
        Assert.Equal("2.5e-5", LossCurve.TickLabel(2.5e-5, [], scientific: true));
    }

    [Fact]
    public void The_chart_is_a_readable_png()
    {
        var path = Path.Combine(TempDir.Create("loss-curve"), "loss.png");
        var rng = new Random(1);
        var train = Enumerable.Range(1, 168).Select(s => new LossPoint(s, 2.3 * Math.Exp(-s / 60.0) + 0.1 + 0.05 * rng.NextDouble(),
            1e-3 * Math.Min(1, s / 10.0) * (0.5 + 0.5 * Math.Cos(Math.PI * s / 168)))).ToList();
        var validation = new[] { 40L, 80, 120, 168 }.Select(s => new LossPoint(s, 2.2 * Math.Exp(-s / 70.0) + 0.2, 0)).ToList();

        LossCurve.Write(path, "stage 1 (finetune)", train, validation);

        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal((900, 520), (bitmap.Width, bitmap.Height));
    }
}
