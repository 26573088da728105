using SharpGlance.Evaluation;

namespace SharpGlance.Tests.Evaluation;

/// <summary>
/// BLEU, ROUGE-L and CIDEr-D on small cases worked out by hand (the arithmetic is in the comments), plus the
/// degenerate inputs coco-caption meets: empty and one-word candidates, one reference, identical captions,
/// a one-image set. Inputs are already tokenised (space-separated words).
/// </summary>
public class MetricTests
{
    private const double Small = 1e-9, Tiny = 1e-15;

    private static IReadOnlyList<IReadOnlyList<string>> Refs(params string[][] refs) => refs;

    // ------------------------------------------------------------------ BLEU

    [Fact]
    public void Bleu_one_image_by_hand()
    {
        // cand "the cat sat on the mat" vs ref "the cat is on the mat" (both 6 words):
        //   1-grams: the×2 cat on mat match, sat does not → 5/6
        //   2-grams: the cat, on the, the mat of 5 → 3/5;  3-grams: on the mat of 4 → 1/4;  4-grams: 0/3
        //   ratio (6+1e-15)/(6+1e-9) < 1, so the brevity penalty exp(1 − 1/ratio) ≈ 1 − 1.7e-10 applies.
        var r = Bleu.Score(["the cat sat on the mat"], Refs(["the cat is on the mat"]));
        double p1 = (5 + Tiny) / (6 + Small), p2 = (3 + Tiny) / (5 + Small), p3 = (1 + Tiny) / (4 + Small), p4 = (0 + Tiny) / (3 + Small);
        double bp = Math.Exp(1 - 1 / ((6 + Tiny) / (6 + Small)));
        Assert.Equal(p1 * bp, r.Corpus[0], 15);
        Assert.Equal(Math.Pow(p1 * p2, 1.0 / 2) * bp, r.Corpus[1], 15);
        Assert.Equal(Math.Pow(p1 * p2 * p3, 1.0 / 3) * bp, r.Corpus[2], 15);
        Assert.Equal(Math.Pow(p1 * p2 * p3 * p4, 1.0 / 4) * bp, r.Corpus[3], 15);
        // The readable values: 5/6, √(1/2), ∛(1/8) = 0.5, and a smoothed (not zero) BLEU-4.
        Assert.Equal(0.833333333, r.Corpus[0], 8);
        Assert.Equal(0.707106781, r.Corpus[1], 8);
        Assert.Equal(0.5, r.Corpus[2], 8);
        Assert.Equal(8.0343e-5, r.Corpus[3], 8);
        Assert.Equal(r.Corpus[3], r.PerImage[3][0]);   // one image: corpus = per image
    }

    [Fact]
    public void Bleu_corpus_sums_counts_and_ties_take_the_shorter_reference()
    {
        // Image 2: "a dog" against refs of 3 and 1 words; both are 1 word away, the tie goes to the shorter (1),
        // so its own ratio is 2/1 and it has no brevity penalty (the longer would give exp(1 − 3/2)).
        var r = Bleu.Score(["the cat sat on the mat", "a dog"], Refs(["the cat is on the mat"], ["a dog runs", "dogs"]));
        Assert.Equal((2 + Tiny) / (2 + Small), r.PerImage[0][1], 15);
        Assert.Equal(Math.Sqrt((2 + Tiny) / (2 + Small) * ((1 + Tiny) / (1 + Small))), r.PerImage[1][1], 15);
        // Corpus: correct/guess summed = 1-grams (5+2)/(6+2), 2-grams (3+1)/(5+1); lengths 8 vs 6+1 = 7, no penalty.
        Assert.Equal((7 + Tiny) / (8 + Small), r.Corpus[0], 15);
        Assert.Equal(Math.Sqrt((7 + Tiny) / (8 + Small) * ((4 + Tiny) / (6 + Small))), r.Corpus[1], 15);
        Assert.NotEqual(Numpy.Mean(r.PerImage[0]), r.Corpus[0]);   // not a mean of per-image scores
    }

    [Fact]
    public void Bleu_degenerate_candidates()
    {
        // Empty candidate: no words, ratio 1e-15/(L+1e-9) ≈ 0, penalty exp(1 − 1/ratio) = 0.
        var empty = Bleu.Score([""], Refs(["a dog runs"]));
        Assert.All(empty.Corpus, v => Assert.Equal(0.0, v));
        // One word that matches: p1 = 1, higher orders guess 0 → (1e-15)/(1e-9) = 1e-6 per order;
        // ratio 1/3 → penalty exp(1 − 3) = e^-2.
        var one = Bleu.Score(["dog"], Refs(["a dog runs"]));
        Assert.Equal((1 + Tiny) / (1 + Small) * Math.Exp(1 - 1 / ((1 + Tiny) / (3 + Small))), one.Corpus[0], 15);
        Assert.Equal(Math.Pow((1 + Tiny) / (1 + Small) * (Tiny / Small), 0.5) * Math.Exp(1 - 1 / ((1 + Tiny) / (3 + Small))), one.Corpus[1], 15);
        // Identical candidate and reference: every precision (m+1e-15)/(m+1e-9), so BLEU-4 = 1 to 1e-9.
        var same = Bleu.Score(["a man rides a horse"], Refs(["a man rides a horse"]));
        Assert.All(same.Corpus, v => Assert.InRange(1.0 - v, 0.0, 1e-9));
        Assert.True(same.Corpus[3] < 1.0);
    }

    // ------------------------------------------------------------------ ROUGE-L

    [Fact]
    public void Rouge_takes_best_precision_and_best_recall_independently()
    {
        // cand "a b c d": ref 1 "a b c d e f g h" → LCS 4, P = 1, R = 0.5; ref 2 "a b" → LCS 2, P = 0.5, R = 1.
        // Best P = 1 (ref 1) and best R = 1 (ref 2) → F = (1+1.44)·1·1/(1 + 1.44·1) = 1,
        // though neither reference alone scores 1 (0.629 and 0.709).
        Assert.Equal(1.0, Rouge.ScoreOne("a b c d", ["a b c d e f g h", "a b"]), 15);
        Assert.Equal(2.44 * 1 * 0.5 / (0.5 + 1.44 * 1), Rouge.ScoreOne("a b c d", ["a b c d e f g h"]), 12);
    }

    [Fact]
    public void Rouge_by_hand_and_degenerate()
    {
        double b2 = Math.Pow(1.2, 2);
        // One word "dog" vs "a dog runs": LCS 1, P = 1, R = 1/3 → F = 2.44·(1/3)/(1/3 + 1.44) = 0.458647…
        Assert.Equal((1 + b2) * 1.0 * (1.0 / 3) / (1.0 / 3 + b2 * 1.0), Rouge.ScoreOne("dog", ["a dog runs"]), 15);
        Assert.Equal(0.45864661654, Rouge.ScoreOne("dog", ["a dog runs"]), 10);
        Assert.Equal(0.0, Rouge.ScoreOne("", ["a dog runs"]));             // [''] shares nothing with the reference
        Assert.Equal(1.0, Rouge.ScoreOne("a dog runs", ["a dog runs"]), 15);
        Assert.Equal(3, Rouge.Lcs("a x b y c".Split(' '), "a b c".Split(' ')));
        Assert.Equal(2, Rouge.Lcs("a b c d".Split(' '), "b d x".Split(' ')));
        var (corpus, per) = Rouge.Score(["a dog runs", "dog"], Refs(["a dog runs"], ["a dog runs"]));
        Assert.Equal((per[0] + per[1]) / 2, corpus, 15);
    }

    // ------------------------------------------------------------------ CIDEr-D

    [Fact]
    public void Cider_two_images_by_hand()
    {
        // N = 2, l = log 2. df: "a" is in both images' references (df 2 → weight 0); every other n-gram df 1 → weight l.
        // Image A, cand = ref = "a dog runs": n = 1..3 cosines are 1 (the zero-weight "a" drops out of both),
        //   no 4-grams (norm 0 → 0); equal bigram counts → penalty 1. Mean of [1,1,1,0] = 0.75, ×10 = 7.5.
        // Image B, cand "a cat" vs ref "a cat sleeps": unigram cosine l²/(l·√2·l) = 1/√2, bigram the same,
        //   no trigram in the candidate → 0. Bigram counts 1 vs 2 → δ = −1, penalty e^(−1/72).
        //   Mean [1/√2, 1/√2, 0, 0] = √2/4, ×10 ×e^(−1/72) = 3.5355339 × 0.9862071 = 3.4867687…
        var (corpus, per) = Cider.Score(["a dog runs", "a cat"], Refs(["a dog runs"], ["a cat sleeps"]));
        Assert.Equal(7.5, per[0], 12);
        Assert.Equal(10 * Math.Sqrt(2) / 4 * Math.Exp(-1.0 / 72), per[1], 12);
        Assert.Equal(3.4867687, per[1], 6);
        Assert.Equal((per[0] + per[1]) / 2, corpus, 15);
    }

    [Fact]
    public void Cider_clips_repeated_words_and_matches_an_independent_calculation()
    {
        string[] cands = ["dog dog dog", "a man on a horse", "two birds", ""];
        var refs = Refs(["a dog", "the dog sleeps"], ["a man riding a horse", "a person on a horse", "man horse"], ["two small birds", "birds"], ["a cat"]);
        var (corpus, per) = Cider.Score(cands, refs);
        var expected = ReferenceCider(cands, refs);
        for (int i = 0; i < cands.Length; i++) Assert.Equal(expected[i], per[i], 12);
        Assert.Equal(expected.Average(), corpus, 12);
        Assert.Equal(0.0, per[3]);   // empty candidate
    }

    [Fact]
    public void Cider_of_a_one_image_set_is_zero()
    {
        // log N = log 1 = 0 and every df is 1, so every tf-idf weight is 0 — even for a perfect caption.
        var (corpus, per) = Cider.Score(["a dog runs"], Refs(["a dog runs"]));
        Assert.Equal(0.0, corpus);
        Assert.Equal(0.0, per[0]);
    }

    /// <summary>
    /// CIDEr-D straight from the definition (Vedantam et al. + coco-caption's clipping, penalty and ×10),
    /// with string n-grams and LINQ — no code shared with <see cref="Cider"/>.
    /// </summary>
    private static double[] ReferenceCider(string[] cands, IReadOnlyList<IReadOnlyList<string>> refs)
    {
        static Dictionary<string, int> Grams(string s)
        {
            var w = s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var d = new Dictionary<string, int>();
            for (int n = 1; n <= 4; n++)
                for (int i = 0; i + n <= w.Length; i++) { var g = n + ":" + string.Join(' ', w[i..(i + n)]); d[g] = d.GetValueOrDefault(g) + 1; }
            return d;
        }
        int N = cands.Length;
        var df = refs.SelectMany(rs => rs.SelectMany(r => Grams(r).Keys).Distinct()).GroupBy(g => g).ToDictionary(g => g.Key, g => g.Count());
        double W(string g, int tf) => tf * (Math.Log(N) - Math.Log(Math.Max(1, df.GetValueOrDefault(g))));
        int Bigrams(string s) => Math.Max(0, s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length - 1);
        var scores = new double[N];
        for (int i = 0; i < N; i++)
        {
            var c = Grams(cands[i]);
            double sum = 0;
            foreach (var r in refs[i])
            {
                var rg = Grams(r);
                double delta = Bigrams(cands[i]) - Bigrams(r);
                for (int n = 1; n <= 4; n++)
                {
                    var cn = c.Where(kv => kv.Key.StartsWith(n + ":")).ToDictionary(kv => kv.Key, kv => W(kv.Key, kv.Value));
                    var rn = rg.Where(kv => kv.Key.StartsWith(n + ":")).ToDictionary(kv => kv.Key, kv => W(kv.Key, kv.Value));
                    double dot = cn.Sum(kv => Math.Min(kv.Value, rn.GetValueOrDefault(kv.Key)) * rn.GetValueOrDefault(kv.Key));
                    double nc = Math.Sqrt(cn.Values.Sum(v => v * v)), nr = Math.Sqrt(rn.Values.Sum(v => v * v));
                    double val = nc != 0 && nr != 0 ? dot / (nc * nr) : dot;
                    sum += val * Math.Exp(-delta * delta / (2 * 36.0)) / 4;
                }
            }
            scores[i] = sum / refs[i].Count * 10;
        }
        return scores;
    }

    // ------------------------------------------------------------------ numpy's mean

    [Fact]
    public void Numpy_mean_uses_pairwise_summation()
    {
        // Below 8 values: a plain left-to-right sum.
        Assert.Equal((0.1 + 0.2 + 0.3) / 3, Numpy.Mean([0.1, 0.2, 0.3]));
        // 8..128 values: eight running sums. 1e16 + 1 + 1 ... differs from a naive loop, like numpy.
        var values = new double[16];
        values[0] = 1e16;
        for (int i = 1; i < 16; i++) values[i] = 1.0;
        double naive = 0;
        foreach (var v in values) naive += v;
        Assert.Equal(1e16, naive);                                  // every +1 is lost left to right
        // numpy: r0 = 1e16 (+1 lost twice), r1..r7 = 2 each, ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) = 1e16 + 14,
        // which is what np.array([1e16] + [1.0] * 15).sum() prints.
        Assert.Equal(1e16 + 14, Numpy.PairwiseSum(values));
    }
}
