namespace SharpGlance.Evaluation;

/// <summary>BLEU-1..n: <c>Corpus[k]</c> is BLEU-(k+1) over the set; <c>PerImage[k][i]</c> that of image i.</summary>
public sealed record BleuResult(double[] Corpus, double[][] PerImage)
{
    /// <summary>Each image's counts, from which any multiset of the images has a corpus BLEU (<see cref="Bleu.FromCounts"/>).</summary>
    public IReadOnlyList<BleuCounts> Counts { get; init; } = [];
}

/// <summary>One image's share of corpus BLEU: its length, its closest reference length, and per n its n-grams and clipped matches.</summary>
public sealed record BleuCounts(long TestLength, long ReferenceLength, long[] Guess, long[] Correct);

/// <summary>
/// coco-caption's BLEU (pycocoevalcap/bleu/bleu_scorer.py, <c>compute_score(option='closest')</c>), with its
/// exact arithmetic:
/// <list type="bullet">
/// <item>words are Python <c>str.split()</c> pieces of the tokenised caption;</item>
/// <item>matches are clipped by the maximum count over the references; per image the reference length is
///   the closest to the candidate length, ties going to the shorter (<c>min((abs(l - testlen), l))</c>);</item>
/// <item>corpus precision k = (Σ correct + 1e-15) / (Σ guess + 1e-9), multiplied up k by k, BLEU-k being the
///   k-th root of the running product; the brevity penalty exp(1 − 1/ratio) applies when
///   ratio = (Σ testlen + 1e-15) / (Σ reflen + 1e-9) &lt; 1;</item>
/// <item>per-image scores use the same formula on that image's counts.</item>
/// </list>
/// Inputs are PTB-tokenised (see <see cref="PtbTokenizer"/>).
/// </summary>
public static class Bleu
{
    private const double Small = 1e-9;
    private const double Tiny = 1e-15;

    public static BleuResult Score(IReadOnlyList<string> candidates, IReadOnlyList<IReadOnlyList<string>> references, int n = 4)
    {
        Metrics.CheckShapes(candidates, references);
        var vocab = new Vocabulary();
        var perImage = new double[n][];
        for (int k = 0; k < n; k++) perImage[k] = new double[candidates.Count];
        long totalTest = 0, totalRef = 0;
        var totalGuess = new long[n];
        var totalCorrect = new long[n];
        var counts = new BleuCounts[candidates.Count];

        for (int i = 0; i < candidates.Count; i++)
        {
            // cook_refs: every reference length, and the largest count of each n-gram in any reference.
            var refLens = new int[references[i].Count];
            var maxCounts = new Dictionary<NGram, int>();
            for (int r = 0; r < references[i].Count; r++)
            {
                var words = vocab.Ids(PtbTokenizer.PythonSplit(references[i][r]));
                refLens[r] = words.Length;
                foreach (var (gram, count) in NGrams.Precook(words, n))
                    if (!maxCounts.TryGetValue(gram, out int m) || count > m) maxCounts[gram] = count;
            }

            // cook_test
            var test = vocab.Ids(PtbTokenizer.PythonSplit(candidates[i]));
            int testLen = test.Length;
            var guess = new long[n];
            var correct = new long[n];
            for (int k = 0; k < n; k++) guess[k] = Math.Max(0, testLen - k);
            foreach (var (gram, count) in NGrams.Precook(test, n))
                correct[gram.Length - 1] += Math.Min(maxCounts.GetValueOrDefault(gram), count);

            int refLen = ClosestReferenceLength(refLens, testLen);
            counts[i] = new BleuCounts(testLen, refLen, guess, correct);
            totalTest += testLen;
            totalRef += refLen;
            for (int k = 0; k < n; k++) { totalGuess[k] += guess[k]; totalCorrect[k] += correct[k]; }

            var scores = Combine(correct, guess, testLen, refLen, n);
            for (int k = 0; k < n; k++) perImage[k][i] = scores[k];
        }

        return new BleuResult(Combine(totalCorrect, totalGuess, totalTest, totalRef, n), perImage) { Counts = counts };
    }

    /// <summary>
    /// Corpus BLEU-1..n of the images <paramref name="images"/> (indices into <paramref name="counts"/>, repeats
    /// allowed: a bootstrap resample): their counts summed in the given order, then coco-caption's formula.
    /// Over every image once, in order, it is <see cref="BleuResult.Corpus"/> exactly.
    /// </summary>
    public static double[] FromCounts(IReadOnlyList<BleuCounts> counts, IReadOnlyList<int> images, int n = 4)
    {
        long test = 0, reference = 0;
        var guess = new long[n];
        var correct = new long[n];
        foreach (int i in images)
        {
            var c = counts[i];
            test += c.TestLength;
            reference += c.ReferenceLength;
            for (int k = 0; k < n; k++) { guess[k] += c.Guess[k]; correct[k] += c.Correct[k]; }
        }
        return Combine(correct, guess, test, reference, n);
    }

    /// <summary><c>min((abs(l - testlen), l) for l in reflens)[1]</c>: the closest length, the shorter on a tie.</summary>
    internal static int ClosestReferenceLength(int[] refLens, int testLen)
    {
        int best = refLens[0];
        foreach (int l in refLens)
        {
            int d = Math.Abs(l - testLen), bd = Math.Abs(best - testLen);
            if (d < bd || (d == bd && l < best)) best = l;
        }
        return best;
    }

    /// <summary>The geometric means of the smoothed precisions and the brevity penalty, in coco-caption's order.</summary>
    private static double[] Combine(long[] correct, long[] guess, long testLen, long refLen, int n)
    {
        var bleus = new double[n];
        double bleu = 1.0;
        for (int k = 0; k < n; k++)
        {
            bleu *= ((double)correct[k] + Tiny) / ((double)guess[k] + Small);
            bleus[k] = Math.Pow(bleu, 1.0 / (k + 1));
        }
        double ratio = ((double)testLen + Tiny) / ((double)refLen + Small);   // N.B. avoids a zero division
        if (ratio < 1)
            for (int k = 0; k < n; k++) bleus[k] *= Math.Exp(1 - 1 / ratio);
        return bleus;
    }
}

/// <summary>Argument checks shared by the metrics.</summary>
internal static class Metrics
{
    public static void CheckShapes(IReadOnlyList<string> candidates, IReadOnlyList<IReadOnlyList<string>> references)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(references);
        if (candidates.Count != references.Count)
            throw new ArgumentException($"{candidates.Count} candidates but {references.Count} reference lists");
        for (int i = 0; i < references.Count; i++)
            if (references[i] is null || references[i].Count == 0)
                throw new ArgumentException($"image {i} has no references (coco-caption asserts len(ref) > 0)");
    }
}
