using SharpGlance.Captioning;
using SharpGlance.Connectors;
using SharpGlance.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>Everything one <c>glance train --stage pretrain|finetune|refine</c> run needs.</summary>
public sealed record CaptionerTrainingRequest
{
    public required TrainStage Stage { get; init; }
    /// <summary>LLaVA conversation JSON (with <c>pre_captions</c> for the refine stage).</summary>
    public required string Data { get; init; }
    /// <summary>The folder image paths in <see cref="Data"/> are relative to.</summary>
    public required string Images { get; init; }
    public required string Out { get; init; }
    /// <summary>A captioner folder to start from; or assemble from <see cref="Vision"/> + <see cref="Lm"/>.</summary>
    public string? Init { get; init; }
    public string? Vision { get; init; }
    public string? Lm { get; init; }
    /// <summary>Tokenizer folder when assembling and the LM folder has no vocab.json/merges.txt.</summary>
    public string? Tokenizer { get; init; }
    public string? Validation { get; init; }
    public string ProjectorType { get; init; } = "mlp2x_gelu";
    public IReadOnlyList<int> SelectLayers { get; init; } = [-2];
    /// <summary>
    /// DeepLens to attach for the refine stage. When the starting model has one already (e.g. trained as a
    /// single glance), the new one keeps its weights wherever names and shapes agree.
    /// </summary>
    public DeepLensConfig? DeepLens { get; init; }
    /// <summary>Ablations applied to the DeepLens (given or default): ① caption input off, ② multi-level off.</summary>
    public (bool NoCaptionInput, bool SingleLevel) DeepLensAblation { get; init; }
    /// <summary>Train DeepLens as the only connector of a single pass (Tab. 3's "single glance with ②").</summary>
    public bool SingleGlanceDeepLens { get; init; }
    /// <summary>A freshly attached DeepLens starts its level projections from the trained MLP connector when shapes agree (<see cref="CaptionerSetup.InitDeepLensLevelsFromMlpConnector"/>).</summary>
    public bool DeepLensLevelsFromMlpConnector { get; init; } = true;
    public Device? Device { get; init; }
    public TrainerOptions Trainer { get; init; } = new();
    public CaptionerStageOptions StageOptions { get; init; } = new();
}

/// <summary>Runs one captioner training stage end to end: data, model, feature cache, loop, save.</summary>
public static class CaptionerTrainer
{
    public static (TrainingSummary Summary, FeatureCache Cache) Run(CaptionerTrainingRequest r, IProgress<ProgressUpdate>? progress = null)
    {
        r.Trainer.Validate();
        r.StageOptions.Validate();
        if (!r.Stage.TrainsCaptioner()) throw new GlanceException($"--stage {r.Stage.Name()} does not train a captioner");
        var data = LlavaDataset.Load(r.Data, r.Images);
        var validation = r.Validation is null ? data.Take(64).ToList() : LlavaDataset.Load(r.Validation, r.Images);
        if (r.Stage == TrainStage.Refine && data.All(e => e.PreCaptions.Count == 0))
            throw GlanceException.ForFile(r.Data, "no entry has pre_captions: the refine stage trains on (image, pseudo-initial, GT); run `glance pseudo` first");

        using var captioner = Start(r);
        var stageOptions = r.StageOptions;
        if (stageOptions.ClosedVocabulary)
            captioner.SetVocabularySubset(CaptionerTrainingTask.TargetTokens(captioner, r.Stage, data.Concat(validation))
                .Concat(captioner.Config.VocabularySubset ?? []).ToList());
        var features = new CachedTower(captioner, stageOptions.FeatureCacheRoot, stageOptions.HalfPrecisionCache);
        features.Fill(data.Concat(validation).Select(e => e.ImagePath), stageOptions.EncodeBatch, progress);
        var task = new CaptionerTrainingTask(captioner, r.Stage, stageOptions, features, validation, r.Trainer.Seed);
        // The checkpoint records the stage and the model as it trains (template and vocabulary set): a resume
        // of another stage, or from another model, is refused.
        var options = r.Trainer with { Stage = r.Stage.Name(), ModelConfig = captioner.Config.ToJson() };
        var trainer = new Trainer<CaptionExample>(task, data, options, r.Out, $"SharpGlance {r.Stage.Name()}");
        var summary = trainer.Run(progress);
        return (summary, features.Cache);
    }

    private static Captioner Start(CaptionerTrainingRequest r)
    {
        Captioner c;
        if (r.Init is not null)
            c = Captioner.Load(r.Init, new CaptionerLoadOptions { Device = r.Device, VisionFolder = r.Vision });
        else if (r.Vision is not null && r.Lm is not null)
            c = Captioner.Assemble(r.Vision, r.Lm, new AssembleOptions
            {
                ProjectorType = r.ProjectorType, SelectLayers = r.SelectLayers, Seed = r.Trainer.Seed, Device = r.Device,
                Aspect = r.Stage == TrainStage.Pretrain ? Preprocessing.AspectMode.Square : Preprocessing.AspectMode.Pad,
            }, r.Tokenizer);
        else
            throw new GlanceException("give --init CAPTIONER, or --vision CLIP and --lm OPT to assemble a fresh captioner");
        try
        {
            if (r.Stage == TrainStage.Refine || r.SingleGlanceDeepLens)
            {
                if (c.DeepLens is null || r.DeepLens is not null || r.DeepLensAblation != default)
                {
                    var lens = r.DeepLens ?? c.DeepLens?.Config ?? DefaultDeepLens(c);
                    if (r.DeepLensAblation.NoCaptionInput) lens = lens with { CaptionInput = false };
                    if (r.DeepLensAblation.SingleLevel) lens = lens with { MultiLevel = false };
                    if (c.DeepLens is not null) c.ReattachDeepLens(lens, r.Trainer.Seed);   // a trained DeepLens keeps what still fits
                    else
                    {
                        c.AttachDeepLens(lens, r.Trainer.Seed);
                        if (r.DeepLensLevelsFromMlpConnector) c.InitDeepLensLevelsFromMlpConnector();
                    }
                }
                c.UseDeepLensForFirstGlance(r.SingleGlanceDeepLens);
            }
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    /// <summary>
    /// SPEC §8's DeepLens scaled to the tower: taps the layer the MLP reads (LLaVA's −2) plus two
    /// middle-to-late layers (ViT-L: 23, 13, 18), D = the vision width.
    /// </summary>
    public static DeepLensConfig DefaultDeepLens(Captioner c)
    {
        int n = c.Vision.Config.NumHiddenLayers;
        int Clamp(int k) => Math.Clamp(k, 1, n);
        var layers = n == 24 ? new[] { 23, 13, 18 } : new[] { Clamp(n - 1), Clamp((int)Math.Round(n * 13 / 24.0)), Clamp((int)Math.Round(n * 18 / 24.0)) };
        return new DeepLensConfig
        {
            TappedLayers = layers.Distinct().ToList(),
            VisionWidth = c.Vision.Config.HiddenSize,
            DModel = c.Vision.Config.HiddenSize,
            DecoderAttentionHeads = c.Vision.Config.NumAttentionHeads,
            DecoderFfnDim = c.Vision.Config.IntermediateSize,
            LmHidden = c.Lm.Config.EmbeddingDim,
        };
    }
}
