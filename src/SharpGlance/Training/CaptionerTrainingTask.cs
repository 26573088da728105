using SharpGlance.Captioning;
using SharpGlance.Data;
using SharpGlance.Generation;
using SharpGlance.Language;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>
/// One stage of captioner training as an <see cref="ITrainingTask{TExample}"/>: which parameters train,
/// how a batch becomes a loss (template, splicing, supervised positions only), validation, and saving.
/// </summary>
public sealed class CaptionerTrainingTask : ITrainingTask<CaptionExample>
{
    private readonly Captioner _c;
    private readonly TrainStage _stage;
    private readonly CaptionerStageOptions _o;
    private readonly CachedTower _features;
    private readonly IReadOnlyList<CaptionExample> _validation;
    private readonly PromptTemplate _template;
    private readonly long _seed;
    private readonly List<(string, Parameter)> _trainable;
    private readonly List<nn.Module> _trainedModules;
    private readonly ClosedVocabularyIndex? _closed;

    public CaptionerTrainingTask(Captioner captioner, TrainStage stage, CaptionerStageOptions options, CachedTower features,
        IReadOnlyList<CaptionExample> validation, long seed)
    {
        if (!stage.TrainsCaptioner()) throw new GlanceException($"--stage {stage.Name()} does not train a captioner");
        _c = captioner; _stage = stage; _o = options; _features = features; _validation = validation; _seed = seed;
        _template = stage.TemplateFor(captioner);
        // Stages 0 and 1 teach the captioner their template: it speaks it from the first step on, so that
        // validation captions (and the saved model) use the prompt the weights are trained for.
        if (stage != TrainStage.Refine) captioner.SetTemplate(_template.Name);
        if (stage == TrainStage.Refine && captioner.DeepLens is null)
            throw new GlanceException("the refine stage needs a DeepLens (attach one first)");

        // Which modules train in which stage (SPEC §10); everything else is frozen and stays bit-identical.
        _trainedModules = stage.TrainedModules(captioner, options);
        var all = new (string Prefix, nn.Module Module)[]
        {
            (Captioner.MlpConnectorPrefix, captioner.MlpConnector), ("", captioner.Lm), (Captioner.VisionPrefix, captioner.Vision),
        }.Concat(captioner.DeepLens is null ? [] : [(Captioner.DeepLensPrefix, (nn.Module)captioner.DeepLens)]);
        if (captioner.Config.VocabularySubset is { } subset) _closed = new ClosedVocabularyIndex(subset, captioner.Lm.Config.VocabSize, captioner.Device);
        _trainable = new();
        foreach (var (prefix, module) in all)
        {
            bool trains = _trainedModules.Contains(module);
            foreach (var (name, p) in module.named_parameters())
            {
                p.requires_grad = trains;
                if (trains) _trainable.Add((prefix + name, p));
            }
        }
    }

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters => _trainable;

    public double LearningRateScale(string name) =>
        _stage == TrainStage.Refine && !name.StartsWith(Captioner.DeepLensPrefix, StringComparison.Ordinal)
            && !name.StartsWith(Captioner.MlpConnectorPrefix, StringComparison.Ordinal) ? _o.LmLearningRateScale : 1.0;

    public void SetTraining(bool training)
    {
        // Frozen modules stay in eval mode (no dropout): they are fixed functions in this stage.
        foreach (var m in _trainedModules) m.train(training);
    }

    public BatchLoss Loss(IReadOnlyList<CaptionExample> batch, int epoch)
    {
        var (sum, tokens) = SumLoss(batch, epoch);
        return new BatchLoss(sum / Math.Max(1, tokens), tokens);
    }

    /// <summary>
    /// Summed cross-entropy and supervised-token count of a batch. A stage-2 batch splits into its
    /// refinement examples and its first-glance examples (different connectors, different visual token
    /// counts), each spliced and run on its own; the sums add up to the batch's token-weighted mean.
    /// </summary>
    private (Tensor Sum, long Tokens) SumLoss(IReadOnlyList<CaptionExample> batch, int epoch)
    {
        using var features = _features.Get(batch.Select(e => e.ImagePath).ToList());
        if (_stage != TrainStage.Refine)
            return Part(FirstGlanceInputs(batch, features));
        var roles = batch.Select(e => Role(e, epoch)).ToList();
        var refine = Enumerable.Range(0, batch.Count).Where(i => !roles[i].FirstGlance).ToArray();
        var first = Enumerable.Range(0, batch.Count).Where(i => roles[i].FirstGlance).ToArray();
        Tensor? total = null;
        long tokens = 0;
        foreach (var (rows, isFirst) in new[] { (refine, false), (first, true) })
        {
            if (rows.Length == 0) continue;
            using var sub = features.Select(rows.Select(i => (long)i).ToArray());
            var examples = rows.Select(i => batch[i]).ToList();
            var (sum, n) = Part(isFirst ? FirstGlanceInputs(examples, sub) : RefineInputs(examples, sub, rows.Select(i => roles[i]).ToList()));
            total = total is null ? sum : total + sum;
            tokens += n;
        }
        return (total!, tokens);
    }

    private (Tensor Sum, long Tokens) Part((List<int[]> Prompts, List<int[]> Targets, Tensor Visual) inputs)
    {
        var (prompts, targets, visual) = inputs;
        using (visual)
        {
            using var spliced = PromptBatch.Build(_c.Lm, prompts, targets, visual, padLeft: false);
            return (SupervisedLoss(_c.Lm, spliced, reduction: "sum", _closed), targets.Sum(t => t.Length));
        }
    }

    /// <summary>
    /// Per example and epoch: first glance or refinement, which pseudo-initial caption, and whether the
    /// prompt shows it. A DeepLens single glance is a refinement of the empty caption, not shown.
    /// </summary>
    private (bool FirstGlance, string Initial, bool InText) Role(CaptionExample e, int epoch)
    {
        if (e.PreCaptions.Count == 0)
            throw new GlanceException($"example {e.Id} has no pre_captions: make them with `glance pseudo` first");
        var rng = new Random(Seeds.Mix(_seed, e.Index, epoch));
        string pre = e.PreCaptions[rng.Next(e.PreCaptions.Count)];
        bool inText = rng.NextDouble() < _o.InitialCaptionInText;
        bool first = rng.NextDouble() < _o.FirstGlanceShare;
        if (!first && _o.SingleGlanceShare > 0 && rng.NextDouble() * (1 - _o.FirstGlanceShare) < _o.SingleGlanceShare)
            return (false, "", false);
        return (first, pre, inText);
    }

    private (List<int[]>, List<int[]>, Tensor) FirstGlanceInputs(IReadOnlyList<CaptionExample> batch, VisionFeatures features)
    {
        // Stage 2's first-glance examples use the captioner's own template (stage 1's task).
        var template = _stage == TrainStage.Refine ? _c.Template : _template;
        var prompts = new List<int[]>(batch.Count);
        var targets = new List<int[]>(batch.Count);
        foreach (var e in batch)
        {
            var (p, t) = template.Encode(_c.Tokenizer, e.Caption, e.Question);
            prompts.Add(p); targets.Add(t);
        }
        return (prompts, targets, _c.FirstGlanceEmbeds(features));
    }

    /// <summary>
    /// Stage 2: the pseudo-initial caption is always given to DeepLens, and written into the prompt with
    /// probability InitialCaptionInText (SPEC §8).
    /// </summary>
    private (List<int[]>, List<int[]>, Tensor) RefineInputs(IReadOnlyList<CaptionExample> batch, VisionFeatures features,
        IReadOnlyList<(bool FirstGlance, string Initial, bool InText)> roles)
    {
        var prompts = new List<int[]>(batch.Count);
        var targets = new List<int[]>(batch.Count);
        for (int i = 0; i < batch.Count; i++)
        {
            var (p, t) = _template.Encode(_c.Tokenizer, batch[i].Caption, null, roles[i].InText ? roles[i].Initial : null);
            prompts.Add(p); targets.Add(t);
        }
        Tensor? ids = null, mask = null;
        if (_c.DeepLens!.Config.CaptionInput) (ids, mask) = _c.CaptionIds(roles.Select(r => r.Initial).ToList());
        using (ids) using (mask)
            return (prompts, targets, _c.SecondGlanceEmbeds(features, ids, mask));
    }

    /// <summary>
    /// Mean cross-entropy over the supervised positions, with the vocabulary-wide head applied to those
    /// positions only: the same number as OPT's labels loss, without a [B, T, 50272] logits tensor.
    /// </summary>
    internal static Tensor SupervisedLoss(OptForCausalLM lm, PromptBatch.Batch batch, string reduction = "mean",
        ClosedVocabularyIndex? closed = null)
    {
        using var scope = NewDisposeScope();
        var labels = batch.Labels ?? throw new ArgumentException("training batch without labels");
        var h = lm.model.decoder.Run(batch.InputsEmbeds, batch.AttentionMask, null);   // [B, T, E]
        long t = h.shape[1];
        var next = labels.narrow(1, 1, t - 1).reshape(-1);                            // position i predicts i+1
        var rows = nonzero(next.ne(PromptBatch.IgnoreIndex)).squeeze(1);
        var hs = h.narrow(1, 0, t - 1).reshape(-1, h.shape[2]).index_select(0, rows);
        var targets = next.index_select(0, rows);
        Tensor logits;
        if (closed is null) logits = lm.lm_head.forward(hs);
        else
        {
            // The tied head's rows of the closed vocabulary only (OPT's head has no bias).
            logits = matmul(hs, lm.lm_head.weight.index_select(0, closed.Ids).t());
            targets = closed.Rows.index_select(0, targets);
            if (targets.lt(0).any().item<bool>())
                throw new GlanceException("closed-vocabulary training: a target token is outside the model's vocabulary_subset");
        }
        var r = reduction == "sum" ? nn.Reduction.Sum : nn.Reduction.Mean;
        return nn.functional.cross_entropy(logits.to_type(ScalarType.Float32), targets, reduction: r).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Every token id a stage's targets use, for closed-vocabulary training: the captions as each template
    /// writes them (stage 2 also trains first glances), the stop tokens.
    /// </summary>
    public static IEnumerable<int> TargetTokens(Captioner c, TrainStage stage, IEnumerable<CaptionExample> examples)
    {
        var templates = stage switch
        {
            TrainStage.Pretrain => new[] { PromptTemplate.Plain },
            TrainStage.Refine => new[] { PromptTemplate.Refine, c.Template.Name == "plain" ? PromptTemplate.Opt : c.Template },
            _ => new[] { c.Template.Name == "plain" ? PromptTemplate.Opt : c.Template },
        };
        var ids = new HashSet<int> { c.Tokenizer.EosId, PromptTemplate.Plain.StopTokenId(c.Tokenizer) };
        foreach (var e in examples)
            foreach (var t in templates)
                ids.UnionWith(c.Tokenizer.Encode(t.Target(e.Caption), addBos: false));
        return ids;
    }

    public (double Loss, string? Samples) Validate()
    {
        if (_validation.Count == 0) return (double.NaN, null);
        var examples = _validation.Take(_o.ValidationExamples).ToList();
        // Stage 2's loss needs pseudo-initial captions; a validation file without them (the usual held-out
        // split) is still scored by Score(), which refines the model's own first glance.
        var scored = _stage == TrainStage.Refine ? examples.Where(e => e.PreCaptions.Count > 0).ToList() : examples;
        double total = 0; long tokens = 0;
        foreach (var chunk in scored.Chunk(16))
        {
            using var scope = NewDisposeScope();
            var (sum, n) = SumLoss(chunk, epoch: 0);
            total += sum.item<float>();
            tokens += n;
        }
        string? samples = null;
        if (_o.ValidationCaptions > 0)
        {
            var few = examples.Take(_o.ValidationCaptions).ToList();
            using var features = _features.Get(few.Select(e => e.ImagePath).ToList());
            var greedy = new GenerationOptions { MaxNewTokens = 40 };
            IReadOnlyList<string> written = FirstGlance.Caption(_c, features, greedy);
            if (_stage == TrainStage.Refine)
                written = Refinement.Refine(_c, features, few.Select((e, i) => e.PreCaptions.FirstOrDefault() ?? written[i]).ToList(), greedy);
            samples = string.Join(" | ", written.Select(w => $"\"{w}\""));
        }
        return (tokens == 0 ? double.NaN : total / tokens, samples);
    }

    public (double Score, string Summary)? Score()
    {
        if (_o.ValidationScoreImages <= 0 || _validation.Count == 0) return null;
        // References: every validation caption of an image; candidates: one greedy caption per image.
        var references = _validation.GroupBy(e => e.ImagePath).Take(_o.ValidationScoreImages)
            .ToDictionary(g => g.Key, g => g.Select(e => e.Caption).ToList());
        var greedy = new GenerationOptions { MaxNewTokens = 40 };
        var first = new Dictionary<string, string>();
        var refined = new Dictionary<string, string>();
        foreach (var chunk in references.Keys.Chunk(32))
        {
            using var scope = NewDisposeScope();
            using var features = _features.Get(chunk);
            var captions = FirstGlance.Caption(_c, features, greedy);
            var second = _stage == TrainStage.Refine ? Refinement.Refine(_c, features, captions, greedy) : null;
            for (int i = 0; i < chunk.Length; i++)
            {
                first[chunk[i]] = captions[i];
                if (second is not null) refined[chunk[i]] = second[i];
            }
        }
        double Cider(Dictionary<string, string> candidates) =>
            100 * Evaluation.CocoEvaluator.Evaluate(references, candidates, new Evaluation.EvaluationOptions { Metrics = ["cider"] }).Corpus[Evaluation.CocoEvaluator.CiderName];
        double firstScore = Cider(first);
        if (refined.Count == 0) return (firstScore, $"val CIDEr {firstScore:0.0} ({first.Count} images)");
        double refinedScore = Cider(refined);
        return (refinedScore, $"val CIDEr first glance {firstScore:0.0}, refined {refinedScore:0.0} ({first.Count} images)");
    }

    /// <summary>Saves the captioner with the template it was trained with (stage 0 models speak "plain").</summary>
    public void SaveModel(string folder) => _c.Save(folder);
}

/// <summary>
/// A closed vocabulary (<c>vocabulary_subset</c>) on the training device: its token ids [S], the rows of the
/// head the loss keeps, and for every token id of the full vocabulary its row among them, or −1 [V].
/// </summary>
internal sealed class ClosedVocabularyIndex
{
    public Tensor Ids { get; }
    public Tensor Rows { get; }

    public ClosedVocabularyIndex(IReadOnlyList<int> subset, int vocabSize, Device device)
    {
        var rows = Enumerable.Repeat(-1L, vocabSize).ToArray();
        for (int i = 0; i < subset.Count; i++) rows[subset[i]] = i;
        Ids = tensor(subset.Select(x => (long)x).ToArray(), device: device).DetachFromDisposeScope();
        Rows = tensor(rows, device: device).DetachFromDisposeScope();
    }
}
