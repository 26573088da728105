namespace SharpGlance.Runtime;

/// <summary>Mean, standard deviation (sample), median, min and max of one phase's times, in milliseconds.</summary>
public sealed record TimingStats(double Mean, double Std, double Median, double Min, double Max, int Count)
{
    public static TimingStats Of(IReadOnlyList<double> ms)
    {
        if (ms.Count == 0) return new TimingStats(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0);
        double mean = ms.Average();
        double std = ms.Count > 1 ? Math.Sqrt(ms.Sum(x => (x - mean) * (x - mean)) / (ms.Count - 1)) : 0;
        var sorted = ms.Order().ToArray();
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new TimingStats(mean, std, median, sorted[0], sorted[^1], ms.Count);
    }
}
