using System.CommandLine;
using System.Text.Json;
using SharpGlance.Connectors;
using SharpGlance.IO;
using SharpGlance.Runtime;
using SharpGlance.Training;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance train --stage clip|lm|pretrain|finetune|refine</c>: the paper's training stages (SPEC §10) plus
/// the synthetic world's CLIP and text-only LM pretraining. A run resumes from its --out folder's checkpoint.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var stage = new Option<string>("--stage") { Description = "clip (contrastive tower), lm (text-only LM pretraining), pretrain (stage 0), finetune (stage 1), refine (stage 2: DeepLens)", Required = true };
        stage.AcceptOnlyFromAmong([.. TrainStages.All.Select(s => s.Name())]);
        var data = new Option<string>("--data") { Description = "LLaVA conversation JSON (refine: with pre_captions from `glance pseudo`)", Required = true };
        var images = new Option<string?>("--images") { Description = "Folder the JSON's image paths are relative to (every stage but lm)" };
        var output = new Option<string>("--out") { Description = "Run folder: checkpoint, loss.png, and the trained model when done", Required = true };
        var init = new Option<string?>("--init") { Description = "Model folder or hub name org/name to start from (a captioner; or a CLIP folder for --stage clip)" };
        var vision = new Option<string?>("--vision") { Description = "CLIP folder or hub name (e.g. openai/clip-vit-large-patch14-336): the frozen tower, when assembling a fresh captioner with --lm" };
        var lm = new Option<string?>("--lm") { Description = "OPT folder or hub name (e.g. facebook/opt-125m), when assembling a fresh captioner with --vision; for --stage lm, without it a fresh OPT of --lm-width and --lm-layers" };
        var lmWidth = new Option<int>("--lm-width") { Description = "lm without --lm: the fresh OPT's width (heads of 32 dimensions; the demo's LM is 128 wide)", DefaultValueFactory = _ => 128 };
        var lmLayers = new Option<int>("--lm-layers") { Description = "lm without --lm: the fresh OPT's layers", DefaultValueFactory = _ => 2 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with vocab.json + merges.txt (default: the LM folder, for a fresh lm the embedded model's OPT vocabulary; for clip: required)" };
        var val = new Option<string?>("--val") { Description = "Validation LLaVA JSON (same --images folder), used every --eval-every steps" };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 1 };
        var lr = new Option<double?>("--lr") { Description = $"Peak learning rate (defaults per stage: {string.Join(", ", TrainStages.All.Select(s => $"{s.Name()} {s.LearningRate():0e0}"))})" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 16 };
        var accum = new Option<int>("--accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var maxSteps = new Option<long?>("--max-steps");
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate on --val every N steps and at the end (0 = never: --val alone does not validate)", DefaultValueFactory = _ => 0 };
        var checkpointEvery = new Option<int>("--checkpoint-every") { DefaultValueFactory = _ => 200 };
        var warmup = new Option<double>("--warmup") { Description = "Warm-up fraction of the steps", DefaultValueFactory = _ => 0.03 };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.0 };
        var projector = new Option<string>("--projector") { Description = "mm_projector_type when assembling", DefaultValueFactory = _ => "mlp2x_gelu" };
        var deeplens = new Option<string?>("--deeplens-config") { Description = "DeepLens config JSON for the refine stage (default: SPEC §8 scaled to the tower)" };
        var noCaption = new Option<bool>("--no-caption-input") { Description = "Ablation ①: DeepLens without the initial caption" };
        var singleLevel = new Option<bool>("--single-level") { Description = "Ablation ②: DeepLens on the base layer only" };
        var singleGlance = new Option<bool>("--single-glance-deeplens") { Description = "Train DeepLens as the only connector of a single pass (Tab. 3)" };
        var featureCache = new Option<string?>("--feature-cache") { Description = $"Cache of the frozen tower's features (default {CaptionerStageOptions.DefaultFeatureCache})" };
        var closed = new Option<bool>("--closed-vocabulary") { Description = "Softmax over the tokens the captions use only (the model's vocabulary_subset); for small synthetic worlds" };
        var imageSize = new Option<int>("--image-size") { Description = "clip: input size of a fresh tower", DefaultValueFactory = _ => 96 };
        var patchSize = new Option<int?>("--patch-size") { Description = "clip: patch size of a fresh tower (default image size / 8: an 8×8 grid)" };
        var towerLayers = new Option<int>("--tower-layers") { Description = "clip: blocks of a fresh tower", DefaultValueFactory = _ => 6 };
        var towerWidth = new Option<int>("--tower-width") { Description = "clip: width of a fresh tower", DefaultValueFactory = _ => 128 };
        var hardNegatives = new Option<bool>("--hard-negatives") { Description = "clip: each caption with one word swapped (entity, colour, count, size, relation) joins the batch as a negative of its image" };
        var sceneLoss = new Option<double>("--scene-loss") { Description = "clip: weight of an auxiliary loss on the scene graph (per patch: entity, colour, count, size; per image: the relation); needs SPLIT.scenes.json beside --data", DefaultValueFactory = _ => 0.0 };
        var sceneLayer = new Option<int>("--scene-layer") { Description = "clip: the hidden state the scene-graph loss reads (negative: from the end)", DefaultValueFactory = _ => -2 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "cpu" };
        var json = new Option<bool>("--json") { Description = "Print the run summary as JSON" };
        var firstShare = new Option<double>("--first-glance-share") { Description = "refine: share of examples trained as first glances (MLP), so the shared LM keeps its first glance", DefaultValueFactory = _ => 0.25 };
        var singleShare = new Option<double>("--single-glance-share") { Description = "refine: share of examples trained as DeepLens single glances (no initial caption), so DeepLens learns to see", DefaultValueFactory = _ => 0.0 };
        var lmScale = new Option<double>("--lm-lr-scale") { Description = "refine: the LM's learning rate relative to DeepLens's", DefaultValueFactory = _ => 1.0 };
        var trainProjector = new Option<bool>("--train-projector") { Description = "refine: the MLP connector keeps training on the first-glance examples" };
        var autocast = new Option<string>("--autocast") { Description = "off (fp32), or bf16: every Linear's product in bf16 (inputs and weights rounded, fp32 master weights and optimizer; CPU); auto = bf16 where the CPU has bf16 hardware", DefaultValueFactory = _ => "off" };
        var valScore = new Option<int>("--val-score-images") { Description = "Validation images captioned greedily for a CIDEr score at each validation (refine: the refined caption of the model's own first glance); 0 = off", DefaultValueFactory = _ => 0 };

        var command = new Command("train", "Train a stage: clip, lm, pretrain (stage 0), finetune (stage 1) or refine (stage 2, Sharp-Eyed Refinement).")
        {
            stage, data, images, output, init, vision, lm, lmWidth, lmLayers, tokenizer, val, epochs, lr, batch, accum, maxSteps, seed, evalEvery, checkpointEvery,
            warmup, weightDecay, projector, deeplens, noCaption, singleLevel, singleGlance, featureCache, closed, imageSize, device, json,
            firstShare, singleShare, lmScale, trainProjector, valScore, autocast, patchSize, towerLayers, towerWidth, hardNegatives, sceneLoss, sceneLayer,
        };
        command.SetAction(parseResult =>
        {
            string stageName = parseResult.GetValue(stage)!;
            var stageKind = TrainStages.Parse(stageName);
            string outDir = parseResult.GetValue(output)!;
            if (File.Exists(outDir)) throw GlanceException.ForFile(outDir, "is a file; --out must be a run folder");
            // Folders or hub names (org/name[@revision], found in the hub cache).
            var folders = new[] { init, vision, lm, tokenizer }.ToDictionary(o => o, o => HubCache.ResolveOptional(parseResult.GetValue(o)));
            foreach (var source in new[] { init, vision, lm })
                if (folders[source] is { } folder && SameFolder(folder, outDir))
                    throw GlanceException.ForFile(outDir, $"--out is the {source.Name} folder; the trained model would overwrite the one it starts from; choose another --out");
            bool freshLm = stageKind == TrainStage.Lm && folders[lm] is null && folders[init] is null;
            using var interrupts = Interrupts.Listen();
            string? Digest(string? file) => file is not null && File.Exists(file) ? FeatureCache.DigestFile(file) : null;
            string? Full(string? folder) => folder is null ? null : Path.GetFullPath(folder);
            string? Text(object? value) => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
            // What defines the run besides the trainer's own options: a resume with other values is refused.
            var settings = new Dictionary<string, string?>
            {
                ["stage"] = stageName, ["data"] = Digest(parseResult.GetValue(data)), ["val"] = Digest(parseResult.GetValue(val)),
                ["init"] = Full(folders[init]), ["vision"] = Full(folders[vision]), ["lm"] = Full(folders[lm]),
                ["tokenizer"] = Full(folders[tokenizer]), ["projector"] = parseResult.GetValue(projector),
                ["deeplens-config"] = Digest(parseResult.GetValue(deeplens)), ["no-caption-input"] = Text(parseResult.GetValue(noCaption)),
                ["single-level"] = Text(parseResult.GetValue(singleLevel)), ["single-glance-deeplens"] = Text(parseResult.GetValue(singleGlance)),
                ["closed-vocabulary"] = Text(parseResult.GetValue(closed)), ["image-size"] = Text(parseResult.GetValue(imageSize)),
                ["first-glance-share"] = Text(parseResult.GetValue(firstShare)), ["single-glance-share"] = Text(parseResult.GetValue(singleShare)),
                ["lm-lr-scale"] = Text(parseResult.GetValue(lmScale)), ["train-projector"] = Text(parseResult.GetValue(trainProjector)),
            };
            CpuGemm.TrainingAutocast = parseResult.GetValue(autocast)?.ToLowerInvariant() switch
            {
                "off" or "fp32" => false,
                "bf16" => true,
                "auto" => Precisions.HasBf16Hardware(CpuFeatures.Current),
                var other => throw new GlanceException($"--autocast {other}: use off, bf16 or auto"),
            };
            if (CpuGemm.TrainingAutocast) settings["autocast"] = "bf16";   // a resume must train as the run began
            if (freshLm)
                (settings["lm-width"], settings["lm-layers"]) = (Text(parseResult.GetValue(lmWidth)), Text(parseResult.GetValue(lmLayers)));
            var trainer = new TrainerOptions
            {
                Epochs = parseResult.GetValue(epochs),
                MaxSteps = parseResult.GetValue(maxSteps),
                LearningRate = parseResult.GetValue(lr) ?? stageKind.LearningRate(),
                BatchSize = parseResult.GetValue(batch),
                GradAccum = parseResult.GetValue(accum),
                Seed = parseResult.GetValue(seed),
                EvalEvery = parseResult.GetValue(evalEvery),
                CheckpointEvery = parseResult.GetValue(checkpointEvery),
                WarmupRatio = parseResult.GetValue(warmup),
                WeightDecay = parseResult.GetValue(weightDecay),
                LogEvery = 10,
                RunSettings = settings,
                Cancel = interrupts.Token,
            };
            var dev = Devices.Parse(parseResult.GetValue(device));
            TrainingSummary summary;
            string Images() => parseResult.GetValue(images) ?? throw new GlanceException($"--stage {stageName} needs --images DIR");
            if (stageKind == TrainStage.Lm)
            {
                var request = new LanguagePretrainingRequest
                {
                    Data = parseResult.GetValue(data)!, Validation = parseResult.GetValue(val), Out = outDir,
                    Lm = folders[lm] ?? folders[init],
                    FreshLm = freshLm ? LanguagePretrainer.FreshConfig(parseResult.GetValue(lmWidth), parseResult.GetValue(lmLayers)) : null,
                    Tokenizer = folders[tokenizer] ?? (freshLm ? DefaultModel.TokenizerFolder() ?? throw new GlanceException("a fresh --stage lm needs the OPT vocabulary (vocab.json + merges.txt), and this build has no embedded model to take it from; pass --tokenizer DIR") : null), ClosedVocabulary = parseResult.GetValue(closed), Device = dev, Trainer = trainer,
                };
                summary = CliProgress.Run("train lm", p => LanguagePretrainer.Run(request, p));
            }
            else if (stageKind == TrainStage.Clip)
            {
                var tok = folders[tokenizer] ?? throw new GlanceException("--stage clip needs --tokenizer DIR (vocab.json + merges.txt)");
                var request = new ClipTrainingRequest
                {
                    Data = parseResult.GetValue(data)!, Images = Images(), Out = outDir,
                    Tokenizer = tok, Validation = parseResult.GetValue(val), Init = folders[init],
                    Config = SyntheticClip.Config(parseResult.GetValue(imageSize), parseResult.GetValue(towerWidth), parseResult.GetValue(towerLayers), parseResult.GetValue(patchSize)),
                    Auxiliary = new ClipAuxiliaryOptions
                    {
                        HardNegatives = parseResult.GetValue(hardNegatives), SceneLoss = parseResult.GetValue(sceneLoss), SceneLayer = parseResult.GetValue(sceneLayer),
                    },
                    Device = dev, Trainer = trainer,
                };
                summary = CliProgress.Run("train clip", p => ClipTrainer.Run(request, p));
            }
            else
            {
                DeepLensConfig? lens = parseResult.GetValue(deeplens) is { } path
                    ? DeepLensConfig.FromJson(File.Exists(path) ? File.ReadAllText(path) : throw GlanceException.ForFile(path, "file not found"), path)
                    : null;
                var request = new CaptionerTrainingRequest
                {
                    Stage = stageKind,
                    Data = parseResult.GetValue(data)!, Images = Images(), Out = outDir,
                    Init = folders[init], Vision = folders[vision], Lm = folders[lm],
                    Tokenizer = folders[tokenizer], Validation = parseResult.GetValue(val),
                    ProjectorType = parseResult.GetValue(projector)!,
                    DeepLens = lens,
                    DeepLensAblation = (parseResult.GetValue(noCaption), parseResult.GetValue(singleLevel)),
                    SingleGlanceDeepLens = parseResult.GetValue(singleGlance),
                    Device = dev,
                    Trainer = trainer,
                    StageOptions = new CaptionerStageOptions
                    {
                        FeatureCacheRoot = parseResult.GetValue(featureCache) ?? CaptionerStageOptions.DefaultFeatureCache,
                        ClosedVocabulary = parseResult.GetValue(closed),
                        FirstGlanceShare = parseResult.GetValue(firstShare),
                        SingleGlanceShare = parseResult.GetValue(singleShare),
                        LmLearningRateScale = parseResult.GetValue(lmScale),
                        MlpConnectorTrainsInRefine = parseResult.GetValue(trainProjector),
                        ValidationScoreImages = parseResult.GetValue(valScore),
                    },
                };
                summary = CliProgress.Run($"train {stageName}", p => CaptionerTrainer.Run(request, p).Summary);
            }
            if (interrupts.Requested)
                return interrupts.Report(parseResult.InvocationConfiguration.Error,
                    $"checkpoint written at step {summary.Steps} in {Path.Combine(summary.OutDir, Trainer<object>.CheckpointFolder)}; run the same command to resume");
            var output2 = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(json))
                output2.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            else
                output2.WriteLine($"{stageName}: {summary.Steps} steps{(summary.Resumed ? " (resumed)" : "")}, loss {summary.FirstLoss:0.####} → {summary.LastLoss:0.####}"
                    + (summary.ValidationLoss is { } v ? $", validation {v:0.####}" : "")
                    + (summary.SkippedSteps > 0 ? $", {summary.SkippedSteps} non-finite steps skipped" : "")
                    + $", {summary.Elapsed.TotalMinutes:0.0} min → {summary.OutDir}");
            return 0;
        });
        return command;
    }

    private static bool SameFolder(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal);
}
