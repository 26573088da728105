namespace SharpGlance.Evaluation;

/// <summary>An n-gram (n ≤ 4) of word ids; unused slots are -1.</summary>
internal readonly record struct NGram(int A, int B, int C, int D)
{
    public int Length => B < 0 ? 1 : C < 0 ? 2 : D < 0 ? 3 : 4;
}

/// <summary>Word ids for one scoring run, so n-grams compare as integers instead of strings.</summary>
internal sealed class Vocabulary
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    public int[] Ids(string[] words)
    {
        var ids = new int[words.Length];
        for (int i = 0; i < words.Length; i++)
        {
            if (!_ids.TryGetValue(words[i], out int id)) _ids[words[i]] = id = _ids.Count;
            ids[i] = id;
        }
        return ids;
    }
}

internal static class NGrams
{
    /// <summary>
    /// coco-caption's <c>precook</c>: counts of every 1..n-gram, in the order Python 3's dict keeps them —
    /// all unigrams by first appearance, then bigrams, … — which is the order CIDEr-D sums in.
    /// </summary>
    public static (NGram Gram, int Count)[] Precook(int[] words, int n = 4)
    {
        var index = new Dictionary<NGram, int>();
        var list = new List<(NGram Gram, int Count)>();
        for (int k = 1; k <= n; k++)
        {
            for (int i = 0; i + k <= words.Length; i++)
            {
                var gram = new NGram(words[i], k > 1 ? words[i + 1] : -1, k > 2 ? words[i + 2] : -1, k > 3 ? words[i + 3] : -1);
                if (index.TryGetValue(gram, out int at)) list[at] = (gram, list[at].Count + 1);
                else { index[gram] = list.Count; list.Add((gram, 1)); }
            }
        }
        return list.ToArray();
    }
}

/// <summary>numpy's arithmetic where coco-caption uses it, so means agree to the last bit.</summary>
internal static class Numpy
{
    /// <summary><c>np.mean</c> of a 1-D float64 array: numpy's pairwise sum (add.reduce), then ÷ n.</summary>
    public static double Mean(ReadOnlySpan<double> values) =>
        values.Length == 0 ? double.NaN : (0.0 + PairwiseSum(values)) / values.Length;

    /// <summary>
    /// numpy's <c>pairwise_sum</c> (loops_utils.h): under 8 values a plain loop; up to 128, eight running
    /// sums combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) plus the tail; above, halves split at a
    /// multiple of 8.
    /// </summary>
    public static double PairwiseSum(ReadOnlySpan<double> a)
    {
        int n = a.Length;
        if (n < 8)
        {
            double res = 0.0;
            for (int i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= 128)
        {
            double r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
            int i;
            for (i = 8; i < n - (n % 8); i += 8)
            {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3];
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7];
            }
            double res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) res += a[i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a[..n2]) + PairwiseSum(a[n2..]);
    }
}
