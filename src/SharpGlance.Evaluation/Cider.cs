namespace SharpGlance.Evaluation;

/// <summary>
/// coco-caption's CIDEr, which is CIDEr-D (pycocoevalcap/cider/cider_scorer.py of coco-caption master; its
/// <c>Cider</c> class is this scorer), with its exact arithmetic:
/// <list type="bullet">
/// <item>document frequency df(g) = number of evaluated images whose reference set contains g (the
///   references of this run only); N = number of images; tf-idf = tf · (log N − log max(1, df));</item>
/// <item>per n (1..4) a clipped cosine Σ min(v_cand, v_ref)·v_ref / (‖cand‖·‖ref‖) (skipped when a norm is 0),
///   times the Gaussian length penalty e^(−δ²/(2·6²)), δ = difference of the captions' "lengths" as the
///   scorer counts them — their bigram counts (words − 1, or 0);</item>
/// <item>per image: the mean over n of the sum over references, ÷ number of references, × 10; corpus: numpy's
///   mean over images. Sums run in Python 3's dict order (n-grams by first appearance).</item>
/// </list>
/// Words are Python <c>str.split()</c> pieces of the tokenised captions.
/// </summary>
public static class Cider
{
    private const int N = 4;
    private const double Sigma = 6.0;

    public static (double Corpus, double[] PerImage) Score(IReadOnlyList<string> candidates, IReadOnlyList<IReadOnlyList<string>> references,
        IProgress<ProgressUpdate>? progress = null)
    {
        Metrics.CheckShapes(candidates, references);
        var vocab = new Vocabulary();
        int images = candidates.Count;
        var tests = new (NGram Gram, int Count)[images][];
        var refs = new (NGram Gram, int Count)[images][][];
        for (int i = 0; i < images; i++)
        {
            tests[i] = NGrams.Precook(vocab.Ids(PtbTokenizer.PythonSplit(candidates[i])), N);
            refs[i] = references[i].Select(r => NGrams.Precook(vocab.Ids(PtbTokenizer.PythonSplit(r)), N)).ToArray();
        }

        // compute_doc_freq: each image's references count once per n-gram.
        var df = new Dictionary<NGram, double>();
        var seen = new HashSet<NGram>();
        foreach (var imageRefs in refs)
        {
            seen.Clear();
            foreach (var r in imageRefs)
                foreach (var (gram, _) in r)
                    if (seen.Add(gram)) df[gram] = df.GetValueOrDefault(gram) + 1;
        }

        double refLen = Math.Log((double)images);
        var scores = new double[images];
        for (int i = 0; i < images; i++)
        {
            var (vec, norm, length) = CountsToVector(tests[i], df, refLen);
            var score = new double[N];
            foreach (var r in refs[i])
            {
                var (vecRef, normRef, lengthRef) = CountsToVector(r, df, refLen);
                var val = Similarity(vec, Lookup(vecRef), norm, normRef, length, lengthRef);
                for (int n = 0; n < N; n++) score[n] += val[n];
            }
            double scoreAvg = Numpy.Mean(score);   // change by vrama91 - mean of ngram scores, instead of sum
            scoreAvg /= refs[i].Length;
            scoreAvg *= 10.0;
            scores[i] = scoreAvg;
            if (progress is not null && (i % 500 == 499 || i == images - 1)) progress.Report(new ProgressUpdate(i + 1, images, "CIDEr-D"));
        }
        return (Numpy.Mean(scores), scores);
    }

    /// <summary>counts2vec: tf-idf per n-gram (kept in first-appearance order), the norm per n, and the bigram count.</summary>
    private static ((NGram Gram, double Value)[][] Vec, double[] Norm, int Length) CountsToVector(
        (NGram Gram, int Count)[] counts, Dictionary<NGram, double> df, double refLen)
    {
        var lists = new List<(NGram, double)>[N];
        for (int n = 0; n < N; n++) lists[n] = [];
        var norm = new double[N];
        int length = 0;
        foreach (var (gram, termFreq) in counts)
        {
            double logDf = Math.Log(Math.Max(1.0, df.GetValueOrDefault(gram)));   // unseen n-grams count as df 1
            int n = gram.Length - 1;
            double value = termFreq * (refLen - logDf);
            lists[n].Add((gram, value));
            norm[n] += Math.Pow(value, 2);   // Python's pow(x, 2)
            if (n == 1) length += termFreq;  // "length" is the number of bigrams, as the scorer counts it
        }
        for (int n = 0; n < N; n++) norm[n] = Math.Sqrt(norm[n]);
        return (lists.Select(l => l.ToArray()).ToArray(), norm, length);
    }

    private static double[] Similarity((NGram Gram, double Value)[][] vecHyp, Dictionary<NGram, double> refValues,
        double[] normHyp, double[] normRef, int lengthHyp, int lengthRef)
    {
        double delta = lengthHyp - lengthRef;
        var val = new double[N];
        for (int n = 0; n < N; n++)
        {
            foreach (var (gram, hyp) in vecHyp[n])
                if (refValues.TryGetValue(gram, out double rv))   // a missing n-gram adds min(h, 0)·0 = 0
                    val[n] += Math.Min(hyp, rv) * rv;             // vrama91: added clipping
            if (normHyp[n] != 0 && normRef[n] != 0) val[n] /= normHyp[n] * normRef[n];
            // vrama91: added a length based gaussian penalty; np.e**x is pow(e, x), not exp(x)
            val[n] *= Math.Pow(Math.E, -Math.Pow(delta, 2) / (2 * Math.Pow(Sigma, 2)));
        }
        return val;
    }

    /// <summary>A reference's tf-idf values by n-gram (n-grams carry their length, so one map serves every n).</summary>
    private static Dictionary<NGram, double> Lookup((NGram Gram, double Value)[][] vec)
    {
        var map = new Dictionary<NGram, double>(vec.Sum(v => v.Length));
        foreach (var list in vec) foreach (var (gram, v) in list) map[gram] = v;
        return map;
    }
}
