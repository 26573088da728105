using System.Security.Cryptography;
using SharpGlance.Captioning;
using SharpGlance.Data;
using SharpGlance.Generation;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>The paper's training stages (SPEC §10).</summary>
public enum TrainStage
{
    /// <summary>Stage 0, projector pretraining: <c>plain</c> template, only the MLP connector trains.</summary>
    Pretrain,
    /// <summary>Stage 1, finetuning: <c>opt</c> template, connector + LM train.</summary>
    Finetune,
    /// <summary>Stage 2, Sharp-Eyed Refinement: DeepLens + LM train on (image, pseudo-initial, GT) triples.</summary>
    Refine,
}

/// <summary>Stage-specific knobs of a captioner run.</summary>
public sealed record CaptionerStageOptions
{
    public TrainStage Stage { get; init; }
    /// <summary>Where the frozen tower's features are cached (shared across runs and stages).</summary>
    public string FeatureCacheRoot { get; init; } = DefaultFeatureCache;
    public bool HalfPrecisionCache { get; init; } = true;
    /// <summary>How often the initial caption is also written into the refinement prompt (the paper's code: 0.8).</summary>
    public double InitialCaptionInText { get; init; } = 0.8;
    /// <summary>
    /// Stage 2 only: the share of examples trained as first glances (the stage-1 task) instead of
    /// refinements. One model serves both glances at inference (SPEC §8: "the same LM"), and stage 2 trains
    /// that LM; without some first-glance examples its first glance drifts. Our decision; the paper is silent.
    /// </summary>
    public double FirstGlanceShare { get; init; } = 0.25;
    /// <summary>
    /// Stage 2 only: the share of examples trained as DeepLens single glances — the refinement prompt and
    /// DeepLens with no initial caption (DeepLens sees a bare BOS) — so that DeepLens learns to see rather
    /// than leave the work to the caption it is given ("eyes first"). Our decision; the paper is silent.
    /// </summary>
    public double SingleGlanceShare { get; init; }
    /// <summary>
    /// Stage 2 only: the LM's learning rate relative to DeepLens's. The LM serves both glances; a lower
    /// rate keeps its first glance while the new connector learns.
    /// </summary>
    public double LmLearningRateScale { get; init; } = 1.0;
    /// <summary>
    /// Stage 2 only: the MLP connector keeps training on the first-glance examples (else it is frozen, as
    /// in the paper's stage 2).
    /// </summary>
    public bool ProjectorTrainsInRefine { get; init; }
    /// <summary>
    /// Closed-vocabulary training: the softmax runs over the token ids the targets actually use (plus
    /// any the starting model already had), which become the model's <c>vocabulary_subset</c>. The loss is
    /// then the exact likelihood of a model over that vocabulary, and the 50272-wide head, the dominant
    /// cost of a tiny LM, shrinks to a few hundred rows. Off by default: real captioners keep every token.
    /// </summary>
    public bool ClosedVocabulary { get; init; }
    /// <summary>Images per forward pass of the tower while filling the cache.</summary>
    public int EncodeBatch { get; init; } = 16;
    /// <summary>Examples the periodic validation reads (its loss), and captions it writes into the log.</summary>
    public int ValidationExamples { get; init; } = 64;
    public int ValidationCaptions { get; init; } = 2;
    /// <summary>
    /// Validation images captioned greedily for the validation score: CIDEr ×100 of the first glance
    /// (stage 0/1) or of the refined caption of the model's own first glance (stage 2, both logged). 0 = off.
    /// </summary>
    public int ValidationScoreImages { get; init; }

    public static string DefaultFeatureCache =>
        Environment.GetEnvironmentVariable("SHARPGLANCE_CACHE") is { Length: > 0 } c ? Path.Combine(c, "features")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sharpglance", "features");

    public void Validate()
    {
        if (FirstGlanceShare is < 0 or > 1) throw new GlanceException($"--first-glance-share must be in [0, 1] (got {FirstGlanceShare})");
        if (SingleGlanceShare < 0 || FirstGlanceShare + SingleGlanceShare > 1)
            throw new GlanceException($"--single-glance-share must be ≥ 0 and, with --first-glance-share, at most 1 (got {SingleGlanceShare} + {FirstGlanceShare})");
        if (!(LmLearningRateScale > 0)) throw new GlanceException($"--lm-lr-scale must be > 0 (got {LmLearningRateScale})");
        if (ValidationScoreImages < 0) throw new GlanceException($"--val-score-images must be ≥ 0 (got {ValidationScoreImages})");
    }

    /// <summary>The stage's template: plain for stage 0, the captioner's own for stage 1, refine for stage 2.</summary>
    public PromptTemplate TemplateFor(Captioner captioner) => Stage switch
    {
        TrainStage.Pretrain => PromptTemplate.Plain,
        TrainStage.Refine => PromptTemplate.Refine,
        _ => captioner.Template.Name == "plain" ? PromptTemplate.Opt : captioner.Template,
    };
}

/// <summary>
/// The frozen tower's tapped hidden states for training images, through the on-disk
/// <see cref="FeatureCache"/>: filled once (batched, with progress), then read back every epoch.
/// </summary>
public sealed class TowerFeatures
{
    private readonly Captioner _captioner;
    private readonly FeatureCache _cache;
    private readonly Dictionary<string, string> _digests = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<int> _layers;

    public TowerFeatures(Captioner captioner, string cacheRoot, bool half)
    {
        _captioner = captioner;
        _layers = captioner.TappedLayers;
        // The key covers everything the features depend on: the tower's weights, the layers and the
        // image processing (size, crop, mean/std, aspect mode).
        string towerDigest = DigestModule(captioner.Vision);
        string processing = System.Text.Json.JsonSerializer.Serialize(captioner.ImageProcessor.Config with { Aspect = captioner.Config.Aspect });
        _cache = new FeatureCache(cacheRoot, FeatureCache.KeyOf(towerDigest, string.Join(",", _layers), processing), half);
    }

    public FeatureCache Cache => _cache;

    private string DigestOf(string path)
    {
        lock (_digests)
        {
            if (_digests.TryGetValue(path, out var d)) return d;
            if (!File.Exists(path)) throw GlanceException.ForFile(path, "image not found");
            return _digests[path] = FeatureCache.DigestFile(path);
        }
    }

    /// <summary>Computes and stores the features of every image not yet cached.</summary>
    public void Fill(IEnumerable<string> imagePaths, int batchSize, IProgress<ProgressUpdate>? progress = null)
    {
        var missing = imagePaths.Distinct().Where(p => !_cache.Contains(DigestOf(p))).ToList();
        int done = 0;
        foreach (var chunk in missing.Chunk(Math.Max(1, batchSize)))
        {
            using var scope = NewDisposeScope();
            var images = chunk.Select(p => RgbImage.FromFile(p)).ToList();
            using var pixels = _captioner.Pixels(images);
            using var features = _captioner.Encode(pixels);
            for (int i = 0; i < chunk.Length; i++)
                _cache.Store(DigestOf(chunk[i]), features.Layers.ToDictionary(kv => $"layer_{kv.Key}", kv => kv.Value[i]));
            done += chunk.Length;
            progress?.Report(new ProgressUpdate(done, missing.Count, "encoding images with the frozen tower"));
        }
    }

    /// <summary>The features of a batch of images, stacked: hidden_states index → [B, N+1, Dv].</summary>
    public VisionFeatures Get(IReadOnlyList<string> imagePaths)
    {
        var rows = new List<Dictionary<string, Tensor>>(imagePaths.Count);
        try
        {
            foreach (var path in imagePaths)
                rows.Add(_cache.GetOrCompute(DigestOf(path), () => Compute(path)));
            return new VisionFeatures(_layers.ToDictionary(l => l, l => stack(rows.Select(r => r[$"layer_{l}"]).ToList()).to(_captioner.Device)));
        }
        finally
        {
            foreach (var r in rows) foreach (var t in r.Values) t.Dispose();
        }
    }

    private Dictionary<string, Tensor> Compute(string path)
    {
        using var pixels = _captioner.Pixels([RgbImage.FromFile(path)]);
        using var features = _captioner.Encode(pixels);
        return features.Layers.ToDictionary(kv => $"layer_{kv.Key}", kv => kv.Value[0].cpu());
    }

    private static string DigestModule(nn.Module module)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, t) in module.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var c = t.detach().cpu().contiguous();
            sha.AppendData(c.bytes);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..24];
    }
}

/// <summary>
/// One stage of captioner training as an <see cref="ITrainingTask{TExample}"/>: which parameters train,
/// how a batch becomes a loss (template, splicing, supervised positions only), validation, and saving.
/// </summary>
public sealed class CaptionerTrainingTask : ITrainingTask<CaptionExample>
{
    private readonly Captioner _c;
    private readonly CaptionerStageOptions _o;
    private readonly TowerFeatures _features;
    private readonly IReadOnlyList<CaptionExample> _validation;
    private readonly PromptTemplate _template;
    private readonly long _seed;
    private readonly List<(string, Parameter)> _trainable;
    private readonly List<nn.Module> _trainedModules;
    private readonly ClosedVocabularyIndex? _closed;

    public CaptionerTrainingTask(Captioner captioner, CaptionerStageOptions options, TowerFeatures features,
        IReadOnlyList<CaptionExample> validation, long seed)
    {
        _c = captioner; _o = options; _features = features; _validation = validation; _seed = seed;
        _template = options.TemplateFor(captioner);
        // Stages 0 and 1 teach the captioner their template: it speaks it from the first step on, so that
        // validation captions (and the saved model) use the prompt the weights are trained for.
        if (options.Stage != TrainStage.Refine) captioner.SetTemplate(_template.Name);
        if (options.Stage == TrainStage.Refine && captioner.DeepLens is null)
            throw new GlanceException("the refine stage needs a DeepLens (attach one first)");

        // Which modules train in which stage (SPEC §10); everything else is frozen and stays bit-identical.
        _trainedModules = options.Stage switch
        {
            TrainStage.Pretrain => [captioner.Projector],
            // "Single glance with ②" (Tab. 3): DeepLens replaces the MLP as the one connector.
            TrainStage.Finetune when captioner.Config.FirstGlance == FirstGlanceConnector.DeepLens => [captioner.DeepLens!, captioner.Lm],
            TrainStage.Finetune => [captioner.Projector, captioner.Lm],
            _ when options.ProjectorTrainsInRefine => [captioner.DeepLens!, captioner.Lm, captioner.Projector],
            _ => [captioner.DeepLens!, captioner.Lm],
        };
        var all = new (string Prefix, nn.Module Module)[]
        {
            (Captioner.ProjectorPrefix, captioner.Projector), ("", captioner.Lm), (Captioner.VisionPrefix, captioner.Vision),
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
        _o.Stage == TrainStage.Refine && !name.StartsWith(Captioner.DeepLensPrefix, StringComparison.Ordinal)
            && !name.StartsWith(Captioner.ProjectorPrefix, StringComparison.Ordinal) ? _o.LmLearningRateScale : 1.0;

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
        if (_o.Stage != TrainStage.Refine)
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
        var template = _o.Stage == TrainStage.Refine ? _c.Template : _template;
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
        var scored = _o.Stage == TrainStage.Refine ? examples.Where(e => e.PreCaptions.Count > 0).ToList() : examples;
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
            if (_o.Stage == TrainStage.Refine)
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
            var second = _o.Stage == TrainStage.Refine ? Refinement.Refine(_c, features, captions, greedy) : null;
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
