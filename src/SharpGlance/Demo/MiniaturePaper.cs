using System.Diagnostics;
using System.Text.Json;
using SharpGlance.Captioning;
using SharpGlance.Connectors;
using SharpGlance.Data.Pseudo;
using SharpGlance.Data.Synthetic;
using SharpGlance.Evaluation;
using SharpGlance.Generation;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Demo;

/// <summary>
/// How big the miniature paper is and its stage-2 recipe (docs/demo/README.md says why each knob is
/// where it is). <see cref="Full"/> fits 45 minutes on 2 cores (without the ablations), <see cref="QuickRun"/> 3.
/// </summary>
public sealed record DemoOptions
{
    public required string Out { get; init; }
    /// <summary>Folder with vocab.json + merges.txt (the real OPT vocabulary).</summary>
    public required string Tokenizer { get; init; }
    public long Seed { get; init; }
    public bool Quick { get; init; }
    public int Train { get; init; } = 4000;
    public int Val { get; init; } = 200;
    public int Test { get; init; } = 500;
    public int ImageSize { get; init; } = 96;
    public int ClipEpochs { get; init; } = 5;
    /// <summary>Epochs of text-only language pretraining of the tiny OPT over the training captions.</summary>
    public int LmEpochs { get; init; } = 8;
    public int PretrainSteps { get; init; } = 150;
    /// <summary>Stage 1, trained to a plateau of the validation CIDEr (logged every <see cref="ValidateEvery"/> steps).</summary>
    public int FinetuneSteps { get; init; } = 4000;
    /// <summary>Stage 2's steps; the control row trains stage 1 for as many more.</summary>
    public int RefineSteps { get; init; } = 1500;
    public int Batch { get; init; } = 32;
    public int ValidateEvery { get; init; } = 400;
    /// <summary>Validation images captioned for the validation CIDEr.</summary>
    public int ValidationImages { get; init; } = 200;
    /// <summary>The tiny OPT that plays OPT-125M: width, layers (real OPT vocabulary, 50272 rows).</summary>
    public int LmWidth { get; init; } = 128;
    public int LmLayers { get; init; } = 2;
    /// <summary>Beams for the evaluation captions (1 = greedy).</summary>
    public int EvalBeams { get; init; } = 1;
    /// <summary>Data1: sampled captions (temperature 0.7) of each training image besides the greedy one.</summary>
    public int SampledCaptions { get; init; } = 1;
    /// <summary>Stage 2: DeepLens's learning rate; the LM's is <see cref="LmLearningRateScale"/> of it.</summary>
    public double RefineLearningRate { get; init; } = TrainStage.Refine.MiniatureLearningRate();
    public double LmLearningRateScale { get; init; } = 1.0;
    public double FirstGlanceShare { get; init; } = 0.3;
    public double SingleGlanceShare { get; init; } = 0.3;
    /// <summary>The second glance also reads the first glance's visual tokens (<see cref="DeepLensConfig.KeepFirstGlance"/>).</summary>
    public bool KeepFirstGlance { get; init; } = true;
    /// <summary>
    /// Also train Tab. 3's ablations (① only, ② only, DeepLens as the single glance), each with stage 2's
    /// budget: about 25 more minutes on 2 cores for the full run, so off unless asked (`--ablations`).
    /// </summary>
    public bool Ablations { get; init; }

    public static DemoOptions Full(string output, string tokenizer, long seed) => new() { Out = output, Tokenizer = tokenizer, Seed = seed };

    public static DemoOptions QuickRun(string output, string tokenizer, long seed) => new()
    {
        Out = output, Tokenizer = tokenizer, Seed = seed, Quick = true,
        Train = 600, Val = 50, Test = 100, ClipEpochs = 2, LmEpochs = 4, PretrainSteps = 30, FinetuneSteps = 100, RefineSteps = 50,
        ValidateEvery = 50, ValidationImages = 50, Ablations = true,
    };
}

/// <summary>Runs one named step with progress; the CLI shows it as a bar or log lines.</summary>
public interface IStepRunner
{
    T Step<T>(string title, Func<IProgress<ProgressUpdate>, T> work);
    void Log(string line);
}

/// <summary>One row of the results table (Tab. 3 of the paper, in miniature).</summary>
public sealed record DemoRow(string Name, string Description, IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, long> Errors, long CaptionsWithErrors, int Images);

/// <summary>One test image as the report shows it.</summary>
public sealed record DemoExample(string ImageId, string ImageFile, IReadOnlyList<string> References, string Initial, string Refined,
    CaptionErrors InitialErrors, CaptionErrors RefinedErrors);

public sealed record DemoResult(DemoOptions Options, IReadOnlyList<DemoRow> Rows, IReadOnlyList<DemoExample> Examples,
    IReadOnlyDictionary<string, double> StepSeconds, IReadOnlyDictionary<string, string> Notes, string DefaultModel)
{
    /// <summary>Each training step run this time: its first and last logged loss.</summary>
    public IReadOnlyDictionary<string, TrainingLoss> Losses { get; init; } = new Dictionary<string, TrainingLoss>();
    /// <summary>What SeR's second glance did to its first glance on the test split.</summary>
    public GlanceChange? SecondGlance { get; init; }
    /// <summary>Validation CIDEr by step of each training run that logged it (stage 1's shows its plateau).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<ValidationPoint>> Validation { get; init; } = new Dictionary<string, IReadOnlyList<ValidationPoint>>();
}

/// <summary>A validation CIDEr (×100, greedy, on the validation images) at an optimizer step.</summary>
public sealed record ValidationPoint(long Step, double Cider);

public sealed record TrainingLoss(double First, double Last, long Steps);

/// <summary>
/// The paper in miniature (SPEC §11, the synthetic-world issue): generate the world, pretrain a tiny
/// CLIP and freeze it, train the specialist (stage 0, stage 1), make pseudo-initial captions, train
/// Sharp-Eyed Refinement (stage 2) with the ablations of Tab. 3, and evaluate everything on the held-out
/// test split with coco-caption metrics and a scene-graph error breakdown. Each step leaves its output
/// in its own folder and is skipped when that output exists, so an interrupted demo picks up where it
/// stopped (training steps resume from their checkpoints).
/// </summary>
public static class MiniaturePaper
{
    public static DemoResult Run(DemoOptions o, IStepRunner run)
    {
        Directory.CreateDirectory(o.Out);
        var times = new Dictionary<string, double>();
        var notes = new Dictionary<string, string>();
        var losses = new Dictionary<string, TrainingLoss>();
        var validation = new Dictionary<string, IReadOnlyList<ValidationPoint>>();
        string Dir(string name) => Path.Combine(o.Out, name);
        T Timed<T>(string key, string title, Func<IProgress<ProgressUpdate>, T> work)
        {
            var clock = Stopwatch.StartNew();
            var value = run.Step(title, work);
            times[key] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            if (value is TrainingSummary summary) losses[key] = new TrainingLoss(summary.FirstLoss, summary.LastLoss, summary.Steps);
            return value;
        }
        bool Done(string folder) => File.Exists(Path.Combine(folder, "model.safetensors")) && File.Exists(Path.Combine(folder, "config.json"));

        // 1. The world.
        string world = Dir("world");
        if (!File.Exists(Path.Combine(world, "world.json")))
            Timed("synth", "1/9 synthetic world", p => SyntheticWorld.Generate(world, new SynthOptions
            {
                Train = o.Train, Val = o.Val, Test = o.Test, Seed = o.Seed, ImageSize = o.ImageSize, Vocab = SynthVocab.Mini,
            }, p));
        string images = Path.Combine(world, "images");
        string trainJson = Path.Combine(world, "train.llava.json"), valJson = Path.Combine(world, "val.llava.json");

        // 2. The tiny OPT: randomly initialised, then pretrained on the world's caption text alone (the
        //    stand-in for OPT's web-text pretraining; it learns the language and to copy from context).
        string lmInit = Dir("opt-init"), lm = Dir("opt-pretrained");
        if (!Done(lmInit))
        {
            using var model = new OptForCausalLM(LanguagePretrainer.FreshConfig(o.LmWidth, o.LmLayers), generator: new Generator((ulong)(o.Seed + 1)));
            model.Save(lmInit);
            foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(o.Tokenizer, f), Path.Combine(lmInit, f), true);
        }
        if (!Done(lm))
            Timed("lm", "2/9 tiny OPT: language pretraining on caption text", p => LanguagePretrainer.Run(new LanguagePretrainingRequest
            {
                Data = trainJson, Validation = valJson, Lm = lmInit, Out = lm, ClosedVocabulary = true,
                Trainer = new TrainerOptions { Epochs = o.LmEpochs, BatchSize = 64, LearningRate = TrainStage.Lm.MiniatureLearningRate(), WarmupRatio = 0.05, Seed = o.Seed, CheckpointEvery = 100, LogEvery = 10 },
            }, p));

        // 3. CLIP, contrastive, then frozen.
        string clip = Dir("clip");
        if (!Done(clip))
            Timed("clip", "3/9 tiny CLIP (contrastive)", p => ClipTrainer.Run(new ClipTrainingRequest
            {
                Data = trainJson, Validation = valJson, Images = images, Out = clip, Tokenizer = o.Tokenizer,
                Config = SyntheticClip.Config(o.ImageSize),
                Trainer = new TrainerOptions { Epochs = o.ClipEpochs, BatchSize = 64, LearningRate = TrainStage.Clip.MiniatureLearningRate(), WarmupRatio = 0.1, Seed = o.Seed, EvalEvery = 0, CheckpointEvery = 100, LogEvery = 10 },
            }, p));

        var cache = Path.Combine(o.Out, "feature-cache");
        CaptionerTrainingRequest Stage(TrainStage stage, string output, string? init, int steps, double lr, int validateEvery = 0) => new()
        {
            Stage = stage, Data = trainJson, Validation = valJson, Images = images, Out = output,
            Init = init, Vision = init is null ? clip : null, Lm = init is null ? lm : null,
            Trainer = new TrainerOptions
            {
                MaxSteps = steps, Epochs = 1000, BatchSize = o.Batch, LearningRate = lr, WarmupRatio = 0.03, Seed = o.Seed,
                CheckpointEvery = 100, LogEvery = 10, EvalEvery = validateEvery,
            },
            StageOptions = new CaptionerStageOptions
            {
                FeatureCacheRoot = cache, ValidationCaptions = 0, ClosedVocabulary = true,
                ValidationScoreImages = validateEvery > 0 ? o.ValidationImages : 0,
            },
        };

        // 4–5. The specialist: stage 0 (projector), stage 1 (projector + LM) trained to a plateau of its
        //      validation CIDEr.
        string stage0 = Dir("stage0-pretrain"), stage1 = Dir("stage1-finetune");
        if (!Done(stage0)) Timed("stage0", "4/9 stage 0: projector pretraining", p => CaptionerTrainer.Run(Stage(TrainStage.Pretrain, stage0, null, o.PretrainSteps, TrainStage.Pretrain.MiniatureLearningRate()), p).Summary);
        if (!Done(stage1)) Timed("stage1", "5/9 stage 1: finetuning", p => CaptionerTrainer.Run(Stage(TrainStage.Finetune, stage1, stage0, o.FinetuneSteps, TrainStage.Finetune.MiniatureLearningRate(), o.ValidateEvery), p).Summary);

        // 6. Pseudo-initial captions (SPEC §9): the paper's Data1 — the stage-1 model's own captions of the
        //    training images, greedy and sampled, each paired with the reference it is a small edit of —
        //    with the ground truth as one variant (Data4) and rule edits of it (Data3) for the rest.
        string stage1Captions = Path.Combine(o.Out, "stage1-train-captions.jsonl");
        if (!File.Exists(stage1Captions))
            Timed("data1", "6/9 stage-1 captions of the training images", p => { CaptionTrainingImages(stage1, images, trainJson, stage1Captions, o.SampledCaptions, o.Seed, p); return 0; });
        string serJson = Path.Combine(o.Out, "train-ser.json");
        if (!File.Exists(serJson))
            Timed("pseudo", "6/9 pseudo-initial captions", p => PseudoCaptionGenerator.Run(trainJson, serJson,
                new PseudoOptions { Variants = 3, MaxEdits = 3, Seed = (int)o.Seed, Strategy = PseudoStrategy.Model, CaptionsPath = stage1Captions, IncludeGroundTruth = true },
                Lexicon.ForDataset(trainJson), p));

        // 7. Stage 2 and the ablations, all from stage 1 with the same budget, and the control: stage 1
        //    trained for as many more steps.
        DeepLensConfig lens;
        using (var s1 = Captioner.Load(stage1)) lens = CaptionerTrainer.DefaultDeepLens(s1) with { DecoderLayers = 2, NumQueries = 32, KeepFirstGlance = o.KeepFirstGlance };
        CaptionerTrainingRequest Refine(string folder, DeepLensConfig config)
        {
            var r = Stage(TrainStage.Refine, folder, stage1, o.RefineSteps, o.RefineLearningRate, o.ValidateEvery);
            return r with
            {
                Data = serJson, DeepLens = config,
                StageOptions = r.StageOptions with
                {
                    FirstGlanceShare = o.FirstGlanceShare, SingleGlanceShare = o.SingleGlanceShare,
                    LmLearningRateScale = o.LmLearningRateScale, MlpConnectorTrainsInRefine = true,
                },
            };
        }
        var runs = new List<(string Key, string Folder, Func<CaptionerTrainingRequest> Request)>
        {
            ("more", Dir("stage1-more"), () => Stage(TrainStage.Finetune, Dir("stage1-more"), stage1, o.RefineSteps, TrainStage.Finetune.MiniatureLearningRate(), o.ValidateEvery)),
            ("both", Dir("stage2-refine"), () => Refine(Dir("stage2-refine"), lens)),
        };
        if (o.Ablations)
            runs.AddRange(
            [
                ("caption", Dir("stage2-caption-only"), () => Refine(Dir("stage2-caption-only"), lens with { MultiLevel = false })),
                ("multi", Dir("stage2-multilevel-only"), () => Refine(Dir("stage2-multilevel-only"), lens with { CaptionInput = false })),
                ("single", Dir("single-glance-multilevel"), () => Stage(TrainStage.Finetune, Dir("single-glance-multilevel"), stage1, o.RefineSteps, o.RefineLearningRate, o.ValidateEvery)
                    with { DeepLens = lens with { CaptionInput = false, KeepFirstGlance = false }, SingleGlanceDeepLens = true }),
            ]);
        int k = 0;
        foreach (var (key, folder, request) in runs)
        {
            k++;
            if (Done(folder)) continue;
            Timed($"stage2-{key}", $"7/9 stage 2 ({k}/{runs.Count}): {Describe(key)}", p => CaptionerTrainer.Run(request(), p).Summary);
        }

        // 8. Evaluation on the held-out test split.
        var evalResult = Timed("eval", "8/9 evaluation on the test split", p => Evaluate(o, world, stage1, runs.ToDictionary(v => v.Key, v => v.Folder), p));
        foreach (var (key, folder) in new[] { ("stage1", stage1) }.Concat(runs.Select(r => (r.Key, r.Folder))))
            if (ValidationCurve(folder) is { Count: > 0 } curve) validation[key] = curve;

        // The embedded default: the full SeR model, stored in float16.
        string export = Dir("default-model");
        using (var best = Captioner.Load(Dir("stage2-refine"))) best.Save(export, embedVision: true, storeAs: ScalarType.Float16);
        notes["default_model_bytes"] = Directory.EnumerateFiles(export).Sum(f => new FileInfo(f).Length).ToString();

        var result = new DemoResult(o, evalResult.Rows, evalResult.Examples, times, notes, export)
        {
            Losses = losses, SecondGlance = evalResult.Change, Validation = validation,
        };
        run.Step("9/9 report", _ => { DemoReport.Write(o.Out, result); return 0; });
        return result;
    }

    /// <summary>The validation CIDEr a run logged, by step (empty when it logged none).</summary>
    private static List<ValidationPoint> ValidationCurve(string runFolder)
    {
        var state = Path.Combine(runFolder, Trainer<int>.CheckpointFolder, "trainer_state.json");
        if (!File.Exists(state)) return [];
        using var doc = JsonDocument.Parse(File.ReadAllText(state));
        return doc.RootElement.GetProperty("validation").EnumerateArray()
            .Where(v => v.TryGetProperty("score", out var s) && s.ValueKind == JsonValueKind.Number)
            .Select(v => new ValidationPoint(v.GetProperty("step").GetInt64(), v.GetProperty("score").GetDouble()))
            .ToList();
    }

    /// <summary>
    /// The stage-1 model's captions of every training image, as JSON lines {"image", "caption"}: the greedy
    /// caption, then <paramref name="sampled"/> sampled ones (temperature 0.7), which show the refiner more of
    /// the mistakes a first glance makes.
    /// </summary>
    private static void CaptionTrainingImages(string captioner, string imagesRoot, string trainJson, string output, int sampled, long seed, IProgress<ProgressUpdate> progress)
    {
        var relative = Data.LlavaDataset.Load(trainJson, imagesRoot).Select(e => e.ImagePath).Distinct().ToList();
        using var c = Captioner.Load(captioner);
        var lines = new List<string>();
        for (int pass = 0; pass <= sampled; pass++)
        {
            var generation = pass == 0 ? new GenerationOptions { MaxNewTokens = 40 }
                : new GenerationOptions { MaxNewTokens = 40, DoSample = true, Temperature = 0.7, Seed = seed * 1000 + pass };
            var options = new CaptionRunOptions { Generation = generation, BatchSize = 64 };
            var forward = new Progress(progress, pass * relative.Count, (sampled + 1) * relative.Count);
            lines.AddRange(CaptionPipeline.Run(c, relative, options, forward)
                .Select(r => r.Ok
                    ? JsonSerializer.Serialize(new { image = Path.GetRelativePath(imagesRoot, r.Image).Replace('\\', '/'), caption = r.Caption })
                    : throw new GlanceException(r.Error!)));
        }
        AtomicFile.WriteAllText(output, string.Join("\n", lines) + "\n");
    }

    /// <summary>Reports pass-local progress as a share of the whole.</summary>
    private sealed class Progress(IProgress<ProgressUpdate> inner, long offset, long total) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value) => inner.Report(value with { Done = offset + value.Done, Total = total });
    }

    public static string Describe(string key) => key switch
    {
        "single-pass" => "single pass (the specialist after stage 1)",
        "more" => "single pass + the same extra steps (stage 1 continued for stage 2's budget)",
        "both" => "SeR with ① caption input and ② multi-level features",
        "caption" => "SeR with ① only (initial caption, base level)",
        "multi" => "SeR with ② only (multi-level, no caption input)",
        "single" => "single glance with ② (DeepLens as the only connector)",
        _ => key,
    };

    private sealed record EvalOutput(IReadOnlyList<DemoRow> Rows, IReadOnlyList<DemoExample> Examples, GlanceChange Change);

    private static EvalOutput Evaluate(DemoOptions o, string world, string stage1, IReadOnlyDictionary<string, string> runs, IProgress<ProgressUpdate> progress)
    {
        var split = WorldSplit.Load(world);
        var generation = GenerationOptions.Paper with { NumBeams = o.EvalBeams, MaxNewTokens = 40 };
        var passes = new List<(string Key, string Folder, int Rounds)> { ("single-pass", stage1, 0), ("more", runs["more"], 0), ("both", runs["both"], 3) };
        foreach (var key in new[] { "caption", "multi", "single" })
            if (runs.TryGetValue(key, out var folder)) passes.Add((key, folder, key == "single" ? 0 : 1));
        var captions = new Dictionary<string, GlanceCaptions>();
        int done = 0;
        foreach (var (key, folder, rounds) in passes)
        {
            captions[key] = DemoEvaluation.Caption(split, folder, rounds, generation);
            progress.Report(new ProgressUpdate(++done, passes.Count + 1, Describe(key)));
        }

        DemoRow Row(string name, string key, IReadOnlyDictionary<string, string> c) => DemoEvaluation.Score(split, name, Describe(key), c);
        var rows = new List<DemoRow>
        {
            Row("Single pass", "single-pass", captions["single-pass"].First),
            Row("Single pass + the same extra steps", "more", captions["more"].First),
        };
        if (captions.TryGetValue("single", out var glance)) rows.Add(Row("Single glance w/ ②", "single", glance.First));
        if (captions.TryGetValue("caption", out var caption)) rows.Add(Row("SeR w/ ①", "caption", caption.Rounds[0]));
        if (captions.TryGetValue("multi", out var multi)) rows.Add(Row("SeR w/ ②", "multi", multi.Rounds[0]));
        var ser = captions["both"];
        rows.Add(Row("SeR w/ ①+②", "both", ser.Rounds[0]));
        rows.Add(DemoEvaluation.Score(split, "SeR w/ ①+②, 2 rounds", "the second glance applied twice", ser.Rounds[1]));
        rows.Add(DemoEvaluation.Score(split, "SeR w/ ①+②, 3 rounds", "the second glance applied three times", ser.Rounds[2]));
        rows.Add(DemoEvaluation.Score(split, "(SeR model's own first glance)", "the first glance of the stage-2 model, before refining", ser.First));
        progress.Report(new ProgressUpdate(++done, passes.Count + 1, "scores"));

        // Examples for the report: images whose caption the second glance changed, fixes first.
        var examples = split.Ids.Where(id => ser.First[id] != ser.Rounds[0][id])
            .Select(id => new DemoExample(id, split.Files[id], split.References.Captions[id], ser.First[id], ser.Rounds[0][id],
                split.Errors(id, ser.First[id]), split.Errors(id, ser.Rounds[0][id])))
            .OrderBy(e => e.RefinedErrors.Total - e.InitialErrors.Total)
            .ToList();
        var chosen = examples.Take(12).Concat(examples.Where(e => e.RefinedErrors.Total > e.InitialErrors.Total).TakeLast(4)).Distinct().ToList();
        return new EvalOutput(rows, chosen, DemoEvaluation.Compare(split, ser.First, ser.Rounds[0]));
    }
}
