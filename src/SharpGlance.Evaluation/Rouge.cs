namespace SharpGlance.Evaluation;

/// <summary>
/// coco-caption's ROUGE-L (pycocoevalcap/rouge/rouge.py): per image, the longest common subsequence with each
/// reference gives precision lcs/|candidate| and recall lcs/|reference|; the best precision and the best
/// recall are taken independently (they may come from different references), and
/// F = ((1 + β²)·P·R) / (R + β²·P) with β = 1.2 (0 when either is 0). The corpus score is numpy's mean
/// over images. Words are <c>split(" ")</c> pieces, exactly as rouge.py splits: an empty caption is one empty
/// word, so lengths are never 0.
/// </summary>
public static class Rouge
{
    private const double Beta = 1.2;

    public static (double Corpus, double[] PerImage) Score(IReadOnlyList<string> candidates, IReadOnlyList<IReadOnlyList<string>> references)
    {
        Metrics.CheckShapes(candidates, references);
        var scores = new double[candidates.Count];
        for (int i = 0; i < scores.Length; i++) scores[i] = ScoreOne(candidates[i], references[i]);
        return (Numpy.Mean(scores), scores);
    }

    /// <summary><c>Rouge.calc_score([candidate], refs)</c>.</summary>
    public static double ScoreOne(string candidate, IReadOnlyList<string> references)
    {
        var tokenC = candidate.Split(' ');
        double precMax = double.NegativeInfinity, recMax = double.NegativeInfinity;
        foreach (var reference in references)
        {
            var tokenR = reference.Split(' ');
            int lcs = Lcs(tokenR, tokenC);
            precMax = Math.Max(precMax, lcs / (double)tokenC.Length);
            recMax = Math.Max(recMax, lcs / (double)tokenR.Length);
        }
        double beta2 = Math.Pow(Beta, 2);   // Python's beta**2 is pow(1.2, 2.0)
        if (precMax != 0 && recMax != 0)
            return ((1 + beta2) * precMax * recMax) / (recMax + beta2 * precMax);
        return 0.0;
    }

    /// <summary>Length of the longest common subsequence of two word lists (rouge.py's my_lcs).</summary>
    internal static int Lcs(string[] a, string[] b)
    {
        if (a.Length < b.Length) (a, b) = (b, a);
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
                cur[j] = string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal) ? prev[j - 1] + 1 : Math.Max(prev[j], cur[j - 1]);
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
