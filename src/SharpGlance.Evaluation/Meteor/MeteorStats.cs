using System.Globalization;
using System.Text;

namespace SharpGlance.Evaluation.Meteor;

/// <summary>METEOR's scoring parameters: α (precision/recall balance), β and γ (fragmentation penalty
/// shape and maximum), δ (content vs function word weight) and one weight per module.</summary>
internal sealed record MeteorParameters(double Alpha, double Beta, double Gamma, double Delta, double[] ModuleWeights)
{
    /// <summary>Meteor 1.5, English, task "rank" (what <c>-l en</c> without <c>-t</c> selects): α 0.85,
    /// β 0.2, γ 0.6, δ 0.75; exact 1.0, stem 0.6, synonym 0.8, paraphrase 0.6 (Constants.PARAM_RANK /
    /// WEIGHT_RANK, SPEC §12). The weights list is cut to the modules in use, as MeteorConfiguration does.</summary>
    public static MeteorParameters EnglishRank(int moduleCount) =>
        new(0.85, 0.20, 0.60, 0.75, new[] { 1.0, 0.6, 0.8, 0.6 }[..moduleCount]);
}

/// <summary>
/// Meteor's sufficient statistics for one segment or a sum of segments (<c>MeteorStats</c>), and the
/// score computed from them (<c>MeteorScorer.computeMetrics</c>), with Java's order of operations.
/// </summary>
internal sealed class MeteorStats
{
    public const int MaxModules = 4;

    public double TestLength, ReferenceLength, TestFunctionWords, ReferenceFunctionWords;
    public double TestTotalMatches, ReferenceTotalMatches;
    public readonly double[] TestContent = new double[MaxModules], ReferenceContent = new double[MaxModules];
    public readonly double[] TestFunction = new double[MaxModules], ReferenceFunction = new double[MaxModules];
    public double Chunks, TestWordMatches, ReferenceWordMatches;

    // Computed by Compute().
    public double Precision, Recall, FMean, FragPenalty, Score;

    public static MeteorStats FromAlignment(MeteorAlignment a)
    {
        var s = new MeteorStats
        {
            TestLength = a.Words1.Length,
            ReferenceLength = a.Words2.Length,
            TestFunctionWords = a.FunctionWords1,
            ReferenceFunctionWords = a.FunctionWords2,
            Chunks = a.Chunks,
        };
        for (int i = 0; i < a.ContentMatches1.Length; i++)
        {
            s.TestContent[i] = a.ContentMatches1[i];
            s.ReferenceContent[i] = a.ContentMatches2[i];
            s.TestFunction[i] = a.FunctionMatches1[i];
            s.ReferenceFunction[i] = a.FunctionMatches2[i];
        }
        for (int i = 0; i < a.ContentMatches1.Length; i++)
        {
            s.TestTotalMatches += s.TestContent[i];
            s.TestTotalMatches += s.TestFunction[i];
            s.ReferenceTotalMatches += s.ReferenceContent[i];
            s.ReferenceTotalMatches += s.ReferenceFunction[i];
            s.TestWordMatches += a.ContentMatches1[i];
            s.TestWordMatches += a.FunctionMatches1[i];
            s.ReferenceWordMatches += a.ContentMatches2[i];
            s.ReferenceWordMatches += a.FunctionMatches2[i];
        }
        return s;
    }

    /// <summary>
    /// <c>MeteorStats.addStats</c>: sums everything, except that a segment matched perfectly in one chunk
    /// adds no chunks (its own score has no fragmentation penalty, so neither does its share of the sum).
    /// </summary>
    public void Add(MeteorStats ss)
    {
        TestLength += ss.TestLength;
        ReferenceLength += ss.ReferenceLength;
        TestFunctionWords += ss.TestFunctionWords;
        ReferenceFunctionWords += ss.ReferenceFunctionWords;
        TestTotalMatches += ss.TestTotalMatches;
        ReferenceTotalMatches += ss.ReferenceTotalMatches;
        for (int i = 0; i < MaxModules; i++)
        {
            TestContent[i] += ss.TestContent[i];
            ReferenceContent[i] += ss.ReferenceContent[i];
            TestFunction[i] += ss.TestFunction[i];
            ReferenceFunction[i] += ss.ReferenceFunction[i];
        }
        if (!(ss.TestTotalMatches == ss.TestLength && ss.ReferenceTotalMatches == ss.ReferenceLength && ss.Chunks == 1.0))
            Chunks += ss.Chunks;
        TestWordMatches += ss.TestWordMatches;
        ReferenceWordMatches += ss.ReferenceWordMatches;
    }

    /// <summary><c>computeMetrics</c>: weighted P and R, Fmean = P·R / (α·P + (1−α)·R) written as Meteor
    /// writes it, penalty γ·(chunks / mean matches)^β (0 for a perfect one-chunk match), score
    /// Fmean·(1 − penalty), NaN → 0, clipped at 0.</summary>
    public double Compute(MeteorParameters p)
    {
        double delta = p.Delta;
        var w = p.ModuleWeights;
        double testWeightedLength = (delta * (TestLength - TestFunctionWords)) + ((1.0 - delta) * TestFunctionWords);
        double referenceWeightedLength = (delta * (ReferenceLength - ReferenceFunctionWords)) + ((1.0 - delta) * ReferenceFunctionWords);

        double testWeightedMatches = 0, referenceWeightedMatches = 0;
        for (int i = 0; i < w.Length; i++) testWeightedMatches += TestContent[i] * w[i] * delta;
        for (int i = 0; i < w.Length; i++) referenceWeightedMatches += ReferenceContent[i] * w[i] * delta;
        for (int i = 0; i < w.Length; i++) testWeightedMatches += TestFunction[i] * w[i] * (1.0 - delta);
        for (int i = 0; i < w.Length; i++) referenceWeightedMatches += ReferenceFunction[i] * w[i] * (1.0 - delta);

        Precision = testWeightedMatches / testWeightedLength;
        Recall = referenceWeightedMatches / referenceWeightedLength;
        FMean = 1.0 / (((1.0 - p.Alpha) / Precision) + (p.Alpha / Recall));
        double frag = TestTotalMatches == TestLength && ReferenceTotalMatches == ReferenceLength && Chunks == 1
            ? 0
            : Chunks / ((TestWordMatches + ReferenceWordMatches) / 2);
        FragPenalty = p.Gamma * Math.Pow(frag, p.Beta);
        double score = FMean * (1.0 - FragPenalty);
        Score = double.IsNaN(score) ? 0 : Math.Max(score, 0.0);
        return Score;
    }

    /// <summary>The 23 numbers the jar prints for a SCORE line (<c>MeteorStats.toString</c>, Java number format).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        void Put(double v) => sb.Append(JavaDouble(v)).Append(' ');
        Put(TestLength);
        Put(ReferenceLength);
        Put(TestFunctionWords);
        Put(ReferenceFunctionWords);
        for (int i = 0; i < MaxModules; i++)
        {
            Put(TestContent[i]);
            Put(ReferenceContent[i]);
            Put(TestFunction[i]);
            Put(ReferenceFunction[i]);
        }
        Put(Chunks);
        Put(TestWordMatches);
        Put(ReferenceWordMatches);
        return sb.ToString().TrimEnd();
    }

    // Word-level statistics are whole numbers: Java prints them as "13.0".
    private static string JavaDouble(double v) =>
        v == Math.Floor(v) && Math.Abs(v) < 1e7 ? v.ToString("0.0", CultureInfo.InvariantCulture) : v.ToString("R", CultureInfo.InvariantCulture);
}
