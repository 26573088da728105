using System.Diagnostics;
using SharpGlance.Evaluation.Meteor;

namespace SharpGlance.Evaluation;

/// <summary>What <see cref="CocoEvaluator"/> computes.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Any of "bleu", "meteor", "rouge", "cider" (coco-caption's scorers, SPICE aside).</summary>
    public IReadOnlyList<string> Metrics { get; init; } = ["bleu", "meteor", "rouge", "cider"];
    public MeteorOptions Meteor { get; init; } = new();

    public static readonly IReadOnlyList<string> Known = ["bleu", "meteor", "rouge", "cider"];

    /// <summary>"bleu,rouge" → the metric list, in coco-caption's order; unknown names are an error.</summary>
    public static IReadOnlyList<string> ParseMetrics(string list)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(n => n.ToLowerInvariant() switch { "rouge_l" or "rouge-l" => "rouge", "cider-d" or "ciderd" => "cider", var x => x })
            .ToList();
        var unknown = names.Where(n => !Known.Contains(n)).ToList();
        if (unknown.Count > 0) throw new GlanceException($"unknown metric{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Select(u => $"'{u}'"))} (known: {string.Join(", ", Known)})");
        if (names.Count == 0) throw new GlanceException("no metrics named");
        return Known.Where(names.Contains).ToList();
    }
}

/// <summary>Scores of one image under every computed metric, with its captions before and after tokenising.</summary>
public sealed record ImageScore(
    string ImageId,
    string Candidate,
    IReadOnlyList<string> References,
    string TokenizedCandidate,
    IReadOnlyList<string> TokenizedReferences,
    IReadOnlyDictionary<string, double> Scores,
    string? ImageFile);

/// <summary>
/// The corpus scores under coco-caption's names (<c>Bleu_1..4</c>, <c>METEOR</c>, <c>ROUGE_L</c>, <c>CIDEr</c>),
/// each image's scores in evaluation order, and whether METEOR matched paraphrases.
/// </summary>
public sealed record EvaluationResult(
    IReadOnlyDictionary<string, double> Corpus,
    IReadOnlyList<ImageScore> Images,
    bool? MeteorParaphrase,
    int ReferenceCaptions,
    TimeSpan Elapsed)
{
    /// <summary>
    /// Per metric, its corpus score over any multiset of the evaluated images (indices into
    /// <see cref="Images"/>, repeats allowed): what a bootstrap resample scores. BLEU and METEOR add up the
    /// images' counts as their corpus scores do; ROUGE-L and CIDEr-D average the per-image scores, which keep
    /// the document frequencies of the full reference set. Over every image once, in order, each gives
    /// <see cref="Corpus"/> exactly.
    /// </summary>
    public IReadOnlyDictionary<string, Func<IReadOnlyList<int>, double>> CorpusOf { get; init; } =
        new Dictionary<string, Func<IReadOnlyList<int>, double>>();
}

/// <summary>
/// coco-caption's <c>COCOEvalCap.evaluate</c>: tokenise all references in one PTB call and all candidates in
/// another (in evaluation order, as coco-caption does), then run the chosen scorers on the tokenised text.
/// Corpus numbers are each scorer's own corpus score — BLEU from corpus counts, METEOR from the jar's
/// aggregate statistics, ROUGE-L and CIDEr-D as means over images — not a mean of per-image BLEU/METEOR.
/// </summary>
public static class CocoEvaluator
{
    public const string Bleu1 = "Bleu_1", Bleu2 = "Bleu_2", Bleu3 = "Bleu_3", Bleu4 = "Bleu_4";
    public const string MeteorName = "METEOR", RougeName = "ROUGE_L", CiderName = "CIDEr";

    public static EvaluationResult Evaluate(IReadOnlyList<EvaluationItem> items, EvaluationOptions? options = null,
        IProgress<ProgressUpdate>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        options ??= new EvaluationOptions();
        if (items.Count == 0) throw new GlanceException("nothing to evaluate: no image has both a candidate and references");
        foreach (var item in items)
            if (item.References.Count == 0) throw new GlanceException($"image {item.ImageId} has no reference captions");
        var clock = Stopwatch.StartNew();
        var metrics = options.Metrics.Count == 0 ? EvaluationOptions.Known : options.Metrics;
        int steps = 2 + metrics.Count, step = 0;
        void Step(string what) => progress?.Report(new ProgressUpdate(step++, steps, what));

        Step("tokenizing references");
        var flatRefs = items.SelectMany(i => i.References).ToList();
        var tokenizedFlat = PtbTokenizer.Tokenize(flatRefs);
        var tokRefs = new IReadOnlyList<string>[items.Count];
        for (int i = 0, at = 0; i < items.Count; at += items[i].References.Count, i++)
            tokRefs[i] = new ArraySegment<string>(tokenizedFlat, at, items[i].References.Count);
        Step("tokenizing candidates");
        var tokCands = PtbTokenizer.Tokenize(items.Select(i => i.Candidate).ToList());

        var corpus = new Dictionary<string, double>(StringComparer.Ordinal);
        var perImage = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var corpusOf = new Dictionary<string, Func<IReadOnlyList<int>, double>>(StringComparer.Ordinal);
        Func<IReadOnlyList<int>, double> MeanOf(double[] scores) => images => Numpy.Mean(images.Select(i => scores[i]).ToArray());
        bool? paraphrase = null;
        foreach (var metric in metrics)
        {
            switch (metric)
            {
                case "bleu":
                {
                    Step("BLEU");
                    var bleu = Bleu.Score(tokCands, tokRefs);
                    string[] names = [Bleu1, Bleu2, Bleu3, Bleu4];
                    for (int k = 0; k < 4; k++)
                    {
                        int order = k;
                        corpus[names[k]] = bleu.Corpus[k];
                        perImage[names[k]] = bleu.PerImage[k];
                        corpusOf[names[k]] = images => Bleu.FromCounts(bleu.Counts, images)[order];
                    }
                    break;
                }
                case "meteor":
                {
                    Step("METEOR");
                    var scorer = MeteorScorer.Create(options.Meteor);
                    var segments = tokCands.Select((c, i) => new MeteorSegment(c, tokRefs[i])).ToList();
                    var meteor = scorer.Score(segments, progress is null ? null : new Forward(progress, "METEOR"));
                    corpus[MeteorName] = meteor.Corpus;
                    perImage[MeteorName] = meteor.PerSegment;
                    corpusOf[MeteorName] = meteor.FromStatistics;
                    paraphrase = meteor.ParaphraseEnabled;
                    break;
                }
                case "rouge":
                {
                    Step("ROUGE-L");
                    var (score, scores) = Rouge.Score(tokCands, tokRefs);
                    corpus[RougeName] = score;
                    perImage[RougeName] = scores;
                    corpusOf[RougeName] = MeanOf(scores);
                    break;
                }
                case "cider":
                {
                    Step("CIDEr-D");
                    var (score, scores) = Cider.Score(tokCands, tokRefs);
                    corpus[CiderName] = score;
                    perImage[CiderName] = scores;
                    corpusOf[CiderName] = MeanOf(scores);
                    break;
                }
                default:
                    throw new GlanceException($"unknown metric '{metric}' (known: {string.Join(", ", EvaluationOptions.Known)})");
            }
        }
        progress?.Report(new ProgressUpdate(steps, steps, "done"));

        var images = new ImageScore[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            var scores = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (name, values) in perImage) scores[name] = values[i];
            images[i] = new ImageScore(items[i].ImageId, items[i].Candidate, items[i].References, tokCands[i], tokRefs[i], scores, items[i].ImageFile);
        }
        return new EvaluationResult(corpus, images, paraphrase, flatRefs.Count, clock.Elapsed) { CorpusOf = corpusOf };
    }

    /// <summary>
    /// References and candidates keyed by image id: the images with a candidate are scored, in the
    /// references' order. Candidates without references are an error.
    /// </summary>
    public static EvaluationResult Evaluate(IReadOnlyDictionary<string, List<string>> references, IReadOnlyDictionary<string, string> candidates,
        EvaluationOptions? options = null, IProgress<ProgressUpdate>? progress = null)
    {
        var missing = candidates.Keys.Where(k => !references.ContainsKey(k)).ToList();
        if (missing.Count > 0) throw new GlanceException($"{missing.Count} candidate image id(s) without references, e.g. {missing[0]}");
        var items = references.Where(r => candidates.ContainsKey(r.Key))
            .Select(r => new EvaluationItem(r.Key, candidates[r.Key], r.Value)).ToList();
        return Evaluate(items, options, progress);
    }

    private sealed class Forward(IProgress<ProgressUpdate> inner, string what) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value) => inner.Report(value with { Detail = value.Detail ?? what });
    }
}
