using SharpGlance.Captioning;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>
/// The five training stages (SPEC §10, plus the synthetic world's two): one place for each stage's
/// <c>--stage</c> name, its learning rates, its template and what it trains, read by <c>glance train</c>, by
/// the demo (<see cref="Demo.MiniaturePaper"/>) and by the captioner's training task alike (see
/// <see cref="TrainStages"/>). A checkpoint records its stage; a resume of another stage is refused.
/// </summary>
public enum TrainStage
{
    /// <summary>Stage 0, projector pretraining: <c>plain</c> template, only the MLP connector trains.</summary>
    Pretrain,
    /// <summary>Stage 1, finetuning: <c>opt</c> template, connector + LM train.</summary>
    Finetune,
    /// <summary>Stage 2, Sharp-Eyed Refinement: DeepLens + LM train on (image, pseudo-initial, GT) triples.</summary>
    Refine,
    /// <summary>Text-only LM pretraining on captions (the synthetic world's OPT; not in the paper).</summary>
    Lm,
    /// <summary>Contrastive CLIP from scratch (the synthetic world's tower; not in the paper).</summary>
    Clip,
}

/// <summary>Each <see cref="TrainStage"/>'s defaults.</summary>
public static class TrainStages
{
    /// <summary>The <c>--stage</c> names, in the order <c>glance train --help</c> lists them.</summary>
    public static IReadOnlyList<TrainStage> All { get; } = [TrainStage.Clip, TrainStage.Lm, TrainStage.Pretrain, TrainStage.Finetune, TrainStage.Refine];

    /// <summary>The <c>--stage</c> name: clip, lm, pretrain, finetune, refine.</summary>
    public static string Name(this TrainStage stage) => stage.ToString().ToLowerInvariant();

    /// <summary>The stage a <c>--stage</c> name names.</summary>
    public static TrainStage Parse(string name)
    {
        foreach (var stage in All)
            if (stage.Name() == name) return stage;
        throw new GlanceException($"--stage '{name}' is not one of {string.Join(", ", All.Select(s => s.Name()))}");
    }

    /// <summary>Whether the stage trains a captioner (stages 0–2) rather than a tower or an LM alone.</summary>
    public static bool TrainsCaptioner(this TrainStage stage) => stage is TrainStage.Pretrain or TrainStage.Finetune or TrainStage.Refine;

    /// <summary>
    /// The peak learning rate <c>glance train</c> uses by default: the paper's for stages 0–2 (SPEC §10);
    /// 1e-3 for a tower or an LM trained from scratch.
    /// </summary>
    public static double LearningRate(this TrainStage stage) => stage switch
    {
        TrainStage.Clip or TrainStage.Lm => 1e-3,
        TrainStage.Pretrain => 1e-4,
        _ => 2e-5,
    };

    /// <summary>
    /// The demo's learning rate: its models are tiny (a 2-layer OPT 128 wide), and they learn at rates the
    /// paper's 125M-parameter OPT would not survive.
    /// </summary>
    public static double MiniatureLearningRate(this TrainStage stage) => stage switch
    {
        TrainStage.Clip or TrainStage.Refine => 5e-4,
        _ => 1e-3,
    };

    /// <summary>What trains, in words (everything else is frozen and stays bit-identical).</summary>
    public static string Trains(this TrainStage stage) => stage switch
    {
        TrainStage.Clip => "both CLIP towers",
        TrainStage.Lm => "the whole LM",
        TrainStage.Pretrain => "the MLP connector",
        TrainStage.Finetune => "the MLP connector (or a single-glance DeepLens) and the LM",
        _ => "DeepLens and the LM (and the MLP connector, if asked)",
    };

    /// <summary>The stage's template: plain for stage 0, the captioner's own for stage 1, refine for stage 2.</summary>
    public static PromptTemplate TemplateFor(this TrainStage stage, Captioner captioner) => stage switch
    {
        TrainStage.Pretrain => PromptTemplate.Plain,
        TrainStage.Refine => PromptTemplate.Refine,
        TrainStage.Finetune => captioner.Template.Name == "plain" ? PromptTemplate.Opt : captioner.Template,
        _ => throw new GlanceException($"--stage {stage.Name()} does not train a captioner"),
    };

    /// <summary>The captioner's modules that train in a captioner stage (SPEC §10).</summary>
    public static List<nn.Module> TrainedModules(this TrainStage stage, Captioner captioner, CaptionerStageOptions options) => stage switch
    {
        TrainStage.Pretrain => [captioner.MlpConnector],
        // "Single glance with ②" (Tab. 3): DeepLens replaces the MLP as the one connector.
        TrainStage.Finetune when captioner.Config.FirstGlance == FirstGlanceConnector.DeepLens => [captioner.DeepLens!, captioner.Lm],
        TrainStage.Finetune => [captioner.MlpConnector, captioner.Lm],
        TrainStage.Refine when options.MlpConnectorTrainsInRefine => [captioner.DeepLens!, captioner.Lm, captioner.MlpConnector],
        TrainStage.Refine => [captioner.DeepLens!, captioner.Lm],
        _ => throw new GlanceException($"--stage {stage.Name()} does not train a captioner"),
    };
}

/// <summary>Stage-specific knobs of a captioner run (the stage itself is <see cref="CaptionerTrainingRequest.Stage"/>).</summary>
public sealed record CaptionerStageOptions
{
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
    public bool MlpConnectorTrainsInRefine { get; init; }
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
}
