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

/// <summary>How big the miniature paper is. <see cref="Full"/> fits 15 minutes on 2 cores, <see cref="Quick"/> 3.</summary>
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
    public int FinetuneSteps { get; init; } = 800;
    public int RefineSteps { get; init; } = 200;
    public int Batch { get; init; } = 32;
    /// <summary>The tiny OPT that plays OPT-125M: width, layers (real OPT vocabulary, 50272 rows).</summary>
    public int LmWidth { get; init; } = 128;
    public int LmLayers { get; init; } = 2;
    /// <summary>Beams for the evaluation captions (1 = greedy, which keeps the full run within 15 minutes).</summary>
    public int EvalBeams { get; init; } = 1;

    public static DemoOptions Full(string output, string tokenizer, long seed) => new() { Out = output, Tokenizer = tokenizer, Seed = seed };

    public static DemoOptions QuickRun(string output, string tokenizer, long seed) => new()
    {
        Out = output, Tokenizer = tokenizer, Seed = seed, Quick = true,
        Train = 600, Val = 50, Test = 100, ClipEpochs = 2, LmEpochs = 4, PretrainSteps = 30, FinetuneSteps = 100, RefineSteps = 50,
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
}

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
            var config = OptConfig.Tiny with
            {
                VocabSize = 50272, HiddenSize = o.LmWidth, WordEmbedProjDim = o.LmWidth, FfnDim = 4 * o.LmWidth,
                NumHiddenLayers = o.LmLayers, NumAttentionHeads = Math.Max(1, o.LmWidth / 32), MaxPositionEmbeddings = 256, Dropout = 0.1,
            };
            using var model = new OptForCausalLM(config, generator: new Generator((ulong)(o.Seed + 1)));
            model.Save(lmInit);
            foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(o.Tokenizer, f), Path.Combine(lmInit, f), true);
        }
        if (!Done(lm))
            Timed("lm", "2/9 tiny OPT: language pretraining on caption text", p => LanguagePretrainer.Run(new LanguagePretrainingRequest
            {
                Data = trainJson, Validation = valJson, Lm = lmInit, Out = lm, ClosedVocabulary = true,
                Trainer = new TrainerOptions { Epochs = o.LmEpochs, BatchSize = 64, LearningRate = 1e-3, WarmupRatio = 0.05, Seed = o.Seed, CheckpointEvery = 100, LogEvery = 10 },
            }, p));

        // 3. CLIP, contrastive, then frozen.
        string clip = Dir("clip");
        if (!Done(clip))
            Timed("clip", "3/9 tiny CLIP (contrastive)", p => ClipTrainer.Run(new ClipTrainingRequest
            {
                Data = trainJson, Validation = valJson, Images = images, Out = clip, Tokenizer = o.Tokenizer,
                Config = SyntheticClip.Config(o.ImageSize),
                Trainer = new TrainerOptions { Epochs = o.ClipEpochs, BatchSize = 64, LearningRate = 5e-4, WarmupRatio = 0.1, Seed = o.Seed, EvalEvery = 0, CheckpointEvery = 100, LogEvery = 10 },
            }, p));

        var cache = Path.Combine(o.Out, "feature-cache");
        CaptionerTrainingRequest Stage(TrainStage stage, string output, string? init, int steps, double lr) => new()
        {
            Stage = stage, Data = trainJson, Validation = valJson, Images = images, Out = output,
            Init = init, Vision = init is null ? clip : null, Lm = init is null ? lm : null,
            Trainer = new TrainerOptions { MaxSteps = steps, Epochs = 1000, BatchSize = o.Batch, LearningRate = lr, WarmupRatio = 0.03, Seed = o.Seed, CheckpointEvery = 100, LogEvery = 10 },
            StageOptions = new CaptionerStageOptions { FeatureCacheRoot = cache, ValidationCaptions = 0, ClosedVocabulary = true },
        };

        // 4–5. The specialist: stage 0 (projector), stage 1 (projector + LM).
        string stage0 = Dir("stage0-pretrain"), stage1 = Dir("stage1-finetune");
        if (!Done(stage0)) Timed("stage0", "4/9 stage 0: projector pretraining", p => CaptionerTrainer.Run(Stage(TrainStage.Pretrain, stage0, null, o.PretrainSteps, 1e-3), p).Summary);
        if (!Done(stage1)) Timed("stage1", "5/9 stage 1: finetuning", p => CaptionerTrainer.Run(Stage(TrainStage.Finetune, stage1, stage0, o.FinetuneSteps, 1e-3), p).Summary);

        // 6. Pseudo-initial captions (SPEC §9): the paper's Data1 (the stage-1 model's own captions of the
        //    training images) mixed with rule edits of the ground truth (its Data3), per variant. The
        //    refiner then sees, in training, the kind of first glance it will be given at inference.
        string stage1Captions = Path.Combine(world, "stage1-train-captions.jsonl");
        if (!File.Exists(stage1Captions))
            Timed("data1", "6/9 stage-1 captions of the training images", p => { CaptionTrainingImages(stage1, images, trainJson, stage1Captions, p); return 0; });
        string serJson = Path.Combine(world, "train-ser.json");
        if (!File.Exists(serJson))
            Timed("pseudo", "6/9 pseudo-initial captions", p => PseudoCaptionGenerator.Run(trainJson, serJson,
                new PseudoOptions { Variants = 3, MaxEdits = 3, Seed = (int)o.Seed, Strategy = PseudoStrategy.Mixed, CaptionsPath = stage1Captions },
                Lexicon.ForDataset(trainJson), p));

        // 7. Stage 2 and the ablations, all from stage 1 with the same budget.
        DeepLensConfig Lens(Captioner c) => CaptionerTrainer.DefaultDeepLens(c) with
        {
            DecoderLayers = 2, NumQueries = 32,
        };
        DeepLensConfig lens;
        using (var s1 = Captioner.Load(stage1)) lens = Lens(s1);
        var variants = new (string Key, string Folder, DeepLensConfig Config, bool SingleGlance)[]
        {
            ("both", Dir("stage2-refine"), lens, false),
            ("caption", Dir("stage2-caption-only"), lens with { MultiLevel = false }, false),
            ("multi", Dir("stage2-multilevel-only"), lens with { CaptionInput = false }, false),
            ("single", Dir("single-glance-multilevel"), lens with { CaptionInput = false }, true),
        };
        int k = 0;
        foreach (var (key, folder, config, single) in variants)
        {
            k++;
            if (Done(folder)) continue;
            var request = (single ? Stage(TrainStage.Finetune, folder, stage1, o.RefineSteps, 5e-4) with { SingleGlanceDeepLens = true }
                : Stage(TrainStage.Refine, folder, stage1, o.RefineSteps, 5e-4) with { Data = serJson }) with { DeepLens = config };
            Timed($"stage2-{key}", $"7/9 stage 2 ({k}/{variants.Length}): {Describe(key)}", p => CaptionerTrainer.Run(request, p).Summary);
        }

        // 8. Evaluation on the held-out test split.
        var evalResult = Timed("eval", "8/9 evaluation on the test split", p => Evaluate(o, world, stage1, variants.ToDictionary(v => v.Key, v => v.Folder), p));

        // The embedded default: the full SeR model, stored in float16.
        string export = Dir("default-model");
        using (var best = Captioner.Load(variants[0].Folder)) best.Save(export, embedVision: true, storeAs: ScalarType.Float16);
        notes["default_model_bytes"] = Directory.EnumerateFiles(export).Sum(f => new FileInfo(f).Length).ToString();

        var result = new DemoResult(o, evalResult.Rows, evalResult.Examples, times, notes, export) { Losses = losses };
        run.Step("9/9 report", _ => { DemoReport.Write(o.Out, result); return 0; });
        return result;
    }

    /// <summary>Greedy first-glance captions of every training image, as JSON lines {"image", "caption"}.</summary>
    private static void CaptionTrainingImages(string captioner, string imagesRoot, string trainJson, string output, IProgress<ProgressUpdate> progress)
    {
        var relative = Data.LlavaDataset.Load(trainJson, imagesRoot).Select(e => e.ImagePath).Distinct().ToList();
        using var c = Captioner.Load(captioner);
        var options = new CaptionRunOptions { Generation = new GenerationOptions { MaxNewTokens = 40 }, BatchSize = 64 };
        var lines = CaptionPipeline.Run(c, relative, options, progress)
            .Select(r => r.Ok
                ? JsonSerializer.Serialize(new { image = Path.GetRelativePath(imagesRoot, r.Image).Replace('\\', '/'), caption = r.Caption })
                : throw new GlanceException(r.Error!))
            .ToList();
        IO.AtomicFile.WriteAllText(output, string.Join("\n", lines) + "\n");
    }

    public static string Describe(string key) => key switch
    {
        "single-pass" => "single pass (the specialist after stage 1)",
        "both" => "SeR with ① caption input and ② multi-level features",
        "caption" => "SeR with ① only (initial caption, base level)",
        "multi" => "SeR with ② only (multi-level, no caption input)",
        "single" => "single glance with ② (DeepLens as the only connector)",
        _ => key,
    };

    private sealed record EvalOutput(IReadOnlyList<DemoRow> Rows, IReadOnlyList<DemoExample> Examples);

    private static EvalOutput Evaluate(DemoOptions o, string world, string stage1, IReadOnlyDictionary<string, string> variants, IProgress<ProgressUpdate> progress)
    {
        var references = CaptionData.LoadReferences(Path.Combine(world, "test.coco.json"));
        var scenes = SceneJson.LoadScenes(Path.Combine(world, "test.scenes.json"));
        var analyzer = new SceneErrorAnalyzer(WorldLexicon.Load(Path.Combine(world, "lexicon.json")));
        var ids = references.Captions.Keys.ToList();
        var files = ids.ToDictionary(id => id, id => Path.Combine(world, "images", references.ImageFiles[id]));
        var generation = GenerationOptions.Paper with { NumBeams = o.EvalBeams, MaxNewTokens = 40 };
        var rows = new List<DemoRow>();
        int passes = 1 + 3 + 1 + 1 + 1, done = 0;
        void Tick(string what) => progress.Report(new ProgressUpdate(++done, passes, what));

        DemoRow Score(string name, string description, IReadOnlyDictionary<string, string> captions)
        {
            var metrics = CocoEvaluator.Evaluate(references.Captions, captions).Corpus;
            var errors = analyzer.Analyze(captions.Select(kv => (kv.Value, scenes[int.Parse(kv.Key)])));
            return new DemoRow(name, description, metrics.ToDictionary(kv => kv.Key, kv => kv.Value),
                ErrorBreakdown.Kinds.ToDictionary(kind => kind, errors.Errors), errors.CaptionsWithAny, captions.Count);
        }

        // Captions for every test image with one captioner: the first glance and `rounds` second glances.
        (Dictionary<string, string> First, List<Dictionary<string, string>> Rounds) Caption(string folder, int rounds)
        {
            using var c = Captioner.Load(folder);
            var first = new Dictionary<string, string>();
            var all = Enumerable.Range(0, rounds).Select(_ => new Dictionary<string, string>()).ToList();
            foreach (var chunk in ids.Chunk(32))
            {
                using var scope = NewDisposeScope();
                var results = CaptionPipeline.CaptionImages(c, chunk.Select(id => RgbImage.FromFile(files[id])).ToList(),
                    new CaptionRunOptions { Generation = generation, Rounds = rounds });
                for (int i = 0; i < chunk.Length; i++)
                {
                    first[chunk[i]] = results[i].Initial ?? results[i].Caption!;
                    for (int r = 0; r < rounds; r++) all[r][chunk[i]] = results[i].Rounds[r];
                }
            }
            return (first, all);
        }

        var single = Caption(stage1, 0).First;
        Tick("single pass");
        rows.Add(Score("Single pass", Describe("single-pass"), single));

        var (serFirst, serRounds) = Caption(variants["both"], 3);
        Tick("SeR ①+②, 3 rounds");
        var caption = Caption(variants["caption"], 1).Rounds[0];
        Tick("SeR ①");
        var multi = Caption(variants["multi"], 1).Rounds[0];
        Tick("SeR ②");
        var glance = Caption(variants["single"], 0).First;
        Tick("single glance ②");

        rows.Add(Score("Single glance w/ ②", Describe("single"), glance));
        rows.Add(Score("SeR w/ ①", Describe("caption"), caption));
        rows.Add(Score("SeR w/ ②", Describe("multi"), multi));
        rows.Add(Score("SeR w/ ①+②", Describe("both"), serRounds[0]));
        rows.Add(Score("SeR w/ ①+②, 2 rounds", "the second glance applied twice", serRounds[1]));
        rows.Add(Score("SeR w/ ①+②, 3 rounds", "the second glance applied three times", serRounds[2]));
        rows.Add(Score("(SeR model's own first glance)", "the first glance of the stage-2 model, before refining", serFirst));
        Tick("scores");

        // Examples for the report: images whose caption the second glance changed, fixes first.
        var examples = ids.Where(id => serFirst[id] != serRounds[0][id])
            .Select(id =>
            {
                var scene = scenes[int.Parse(id)];
                return new DemoExample(id, files[id], references.Captions[id], serFirst[id], serRounds[0][id],
                    analyzer.Analyze(serFirst[id], scene), analyzer.Analyze(serRounds[0][id], scene));
            })
            .OrderBy(e => e.RefinedErrors.Total - e.InitialErrors.Total)
            .ToList();
        var chosen = examples.Take(12).Concat(examples.Where(e => e.RefinedErrors.Total > e.InitialErrors.Total).TakeLast(4)).Distinct().ToList();
        return new EvalOutput(rows, chosen);
    }
}
