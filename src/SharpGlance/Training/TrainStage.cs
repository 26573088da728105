using SharpGlance.Captioning;

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
