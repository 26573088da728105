namespace SharpGlance.Evaluation.Comparison;

/// <summary>How the paired bootstrap resamples: how many resamples, from which seed, and the interval's coverage.</summary>
public sealed record BootstrapOptions
{
    public int Resamples { get; init; } = 1000;
    public int Seed { get; init; }
    /// <summary>Coverage of the percentile interval (0.95: the 2.5th and 97.5th percentiles).</summary>
    public double Confidence { get; init; } = 0.95;

    public void Validate()
    {
        if (Resamples is < 1 or > 1_000_000) throw new GlanceException($"--bootstrap-resamples must be between 1 and 1000000 (got {Resamples})");
        if (!(Confidence is > 0 and < 1)) throw new GlanceException($"--confidence must lie strictly between 0 and 1 (got {Confidence})");
    }
}

/// <summary>
/// One paired quantity: its value for A and for B over all images, Δ = B − A, and the bootstrap interval of Δ
/// (the resamples' percentiles).
/// </summary>
public sealed record PairedInterval(string Name, double A, double B, double Delta, double Low, double High)
{
    /// <summary>The interval lies wholly above or wholly below 0.</summary>
    public bool ExcludesZero => Low > 0 || High < 0;
}

/// <summary>A quantity to compare: its value for A and for B over a multiset of the images (indices, repeats allowed).</summary>
public sealed record PairedQuantity(string Name, Func<IReadOnlyList<int>, double> A, Func<IReadOnlyList<int>, double> B);

/// <summary>
/// The paired bootstrap (Koehn 2004; Efron and Tibshirani's percentile interval): draw the n images with
/// replacement, score A and B on the same draw, keep Δ = B − A; repeat; the interval is the
/// (1 − c)/2 and (1 + c)/2 percentiles of the Δs (numpy's default linear interpolation). Every quantity is
/// scored on the same draws, which come from <see cref="Random"/> seeded with <see cref="BootstrapOptions.Seed"/>
/// (.NET's seeded generator is the same on every platform and version), so a run repeats exactly. When A and
/// B score every image alike, every Δ is exactly 0 and so is the interval.
/// </summary>
public static class PairedBootstrap
{
    public static IReadOnlyList<PairedInterval> Run(int images, IReadOnlyList<PairedQuantity> quantities, BootstrapOptions options,
        IProgress<ProgressUpdate>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(quantities);
        options.Validate();
        if (images < 1) throw new GlanceException("nothing to compare: no images");
        var all = Enumerable.Range(0, images).ToArray();
        var deltas = quantities.Select(_ => new double[options.Resamples]).ToArray();
        var rng = new Random(options.Seed);
        var draw = new int[images];
        for (int r = 0; r < options.Resamples; r++)
        {
            for (int i = 0; i < images; i++) draw[i] = rng.Next(images);
            for (int q = 0; q < quantities.Count; q++) deltas[q][r] = quantities[q].B(draw) - quantities[q].A(draw);
            if (progress is not null && (r % 100 == 99 || r == options.Resamples - 1)) progress.Report(new ProgressUpdate(r + 1, options.Resamples, "bootstrap"));
        }
        double tail = (1 - options.Confidence) / 2;
        var result = new PairedInterval[quantities.Count];
        for (int q = 0; q < quantities.Count; q++)
        {
            double a = quantities[q].A(all), b = quantities[q].B(all);
            Array.Sort(deltas[q]);
            result[q] = new PairedInterval(quantities[q].Name, a, b, b - a, Percentile(deltas[q], tail), Percentile(deltas[q], 1 - tail));
        }
        return result;
    }

    /// <summary><c>np.percentile(x, 100·q)</c> of sorted values, linear interpolation between the closest ranks.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) return double.NaN;
        double at = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(at), hi = Math.Min(lo + 1, sorted.Count - 1);
        double frac = at - lo;
        // Equal neighbours give that value exactly (no 0·x rounding), so a zero-width interval stays zero.
        return sorted[lo] == sorted[hi] ? sorted[lo] : sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
    }
}

/// <summary>
/// The exact McNemar test on paired pass/fail outcomes (here: a caption without any error). Only the
/// discordant pairs count: <see cref="OnlyA"/> images where A passes and B fails, <see cref="OnlyB"/> the
/// reverse; under H0 each discordant pair goes either way with probability ½, and the two-sided p-value is
/// min(1, 2·P[X ≤ min(b, c)]) for X ~ Binomial(b + c, ½).
/// </summary>
public sealed record McNemarTest(int Both, int OnlyA, int OnlyB, int Neither, double P)
{
    public int Images => Both + OnlyA + OnlyB + Neither;

    public static McNemarTest Exact(IReadOnlyList<bool> passA, IReadOnlyList<bool> passB)
    {
        if (passA.Count != passB.Count) throw new ArgumentException($"{passA.Count} outcomes for A but {passB.Count} for B");
        int both = 0, onlyA = 0, onlyB = 0, neither = 0;
        for (int i = 0; i < passA.Count; i++)
        {
            if (passA[i] && passB[i]) both++;
            else if (passA[i]) onlyA++;
            else if (passB[i]) onlyB++;
            else neither++;
        }
        return new McNemarTest(both, onlyA, onlyB, neither, TwoSidedP(onlyA, onlyB));
    }

    /// <summary>
    /// min(1, 2·Σ_{k ≤ min(b,c)} C(n, k)/2ⁿ), n = b + c. Summed in log space term by term (the binomial
    /// coefficients overflow a double beyond n ≈ 1000): a dozen lines, exact to rounding, and no numerics
    /// library in the metrics' bottom layer for one sum.
    /// </summary>
    public static double TwoSidedP(int b, int c)
    {
        int n = b + c, k = Math.Min(b, c);
        if (n == 0) return 1.0;
        double logTerm = -n * Math.Log(2), sum = 0;   // log C(n, 0)/2ⁿ
        for (int j = 0; j <= k; j++)
        {
            sum += Math.Exp(logTerm);
            logTerm += Math.Log(n - j) - Math.Log(j + 1);   // C(n, j+1) = C(n, j)·(n − j)/(j + 1)
        }
        return Math.Min(1.0, 2 * sum);
    }
}
