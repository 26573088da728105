using System.Text.Json.Nodes;
using SharpGlance.Captioning;
using SharpGlance.Data;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Preprocessing;
using SharpGlance.Training;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Training;

/// <summary>
/// The training stages on data the test writes: four coloured scenes with exact captions and, for the
/// refine stage, corrupted "initial" captions that name the wrong colour or shape.
/// </summary>
public class CaptionerTrainingTests
{
    private static readonly (string Caption, SKColor Color, bool Circle, string[] Wrong)[] Scenes =
    [
        ("a red square", SKColors.Red, false, ["a blue square", "a red circle"]),
        ("a blue circle", SKColors.Blue, true, ["a red circle", "a blue square"]),
        ("a green square", SKColors.Green, false, ["a yellow square", "a green circle"]),
        ("a yellow circle", SKColors.Yellow, true, ["a green circle", "a yellow square"]),
    ];

    /// <summary>Writes images + train.json (LLaVA conversations with pre_captions); returns (json, images folder).</summary>
    internal static (string Json, string Images) WriteData()
    {
        var root = TempDir.Create("data");
        var images = Path.Combine(root, "images");
        Directory.CreateDirectory(images);
        var entries = new JsonArray();
        for (int i = 0; i < Scenes.Length; i++)
        {
            var (caption, color, circle, wrong) = Scenes[i];
            using var bitmap = new SKBitmap(56, 56);
            using (var canvas = new SKCanvas(bitmap))
            {
                canvas.Clear(SKColors.White);
                using var paint = new SKPaint { Color = color, IsAntialias = true };
                if (circle) canvas.DrawCircle(28, 28, 20, paint); else canvas.DrawRect(8, 8, 40, 40, paint);
            }
            using (var data = SKImage.FromBitmap(bitmap).Encode(SKEncodedImageFormat.Png, 100))
                File.WriteAllBytes(Path.Combine(images, $"{i}.png"), data.ToArray());
            entries.Add(new JsonObject
            {
                ["id"] = i, ["image"] = $"{i}.png",
                ["conversations"] = new JsonArray(
                    new JsonObject { ["from"] = "human", ["value"] = "<image>\nWhat is in the photo?" },
                    new JsonObject { ["from"] = "gpt", ["value"] = caption }),
                ["pre_captions"] = new JsonArray(wrong.Select(w => (JsonNode)w).ToArray()),
            });
        }
        var json = Path.Combine(root, "train.json");
        File.WriteAllText(json, entries.ToJsonString());
        return (json, images);
    }

    private static string Cache() => TempDir.Create("features");

    private static CaptionerTrainingRequest Request(TrainStage stage, (string Json, string Images) data, string? init, int steps, double lr) => new()
    {
        Stage = stage, Data = data.Json, Images = data.Images, Out = TempDir.Create("run"),
        Init = init, Vision = init is null ? TinyModels.ClipFolder : null, Lm = init is null ? TinyModels.OptFolder : null,
        DeepLens = stage == TrainStage.Refine ? TinyModels.DeepLens : null,
        Trainer = new TrainerOptions { MaxSteps = steps, Epochs = 1000, BatchSize = 4, LearningRate = lr, WarmupRatio = 0, LogEvery = 5, CheckpointEvery = 0, Seed = 7 },
        StageOptions = new CaptionerStageOptions { FeatureCacheRoot = Cache(), ValidationCaptions = 0 },
    };

    private static Dictionary<string, float[]> Weights(string folder)
    {
        using var ck = Checkpoint.Open(folder);
        return ck.Keys.ToDictionary(k => k, k => { using var t = ck.Load(k, ScalarType.Float32); return t.data<float>().ToArray(); });
    }

    private static IReadOnlyList<string> Captions(Captioner c, GenerationOptions g)
    {
        var images = Enumerable.Range(0, Scenes.Length).Select(i => RgbImage.FromFile(Path.Combine(_shared.Value.Images, $"{i}.png"))).ToList();
        return CaptionPipeline.CaptionImages(c, images, new CaptionRunOptions { Generation = g }).Select(r => r.Caption!).ToList();
    }

    private static readonly Lazy<(string Json, string Images)> _shared = new(WriteData);
    private static readonly Lazy<string> _finetuned = new(() =>
    {
        var r = Request(TrainStage.Finetune, _shared.Value, null, steps: 100, lr: 1e-2);
        var (summary, _) = CaptionerTrainer.Run(r);
        Assert.True(summary.LastLoss < 0.05, $"finetune loss {summary.FirstLoss:0.###} → {summary.LastLoss:0.####}");
        return r.Out;
    });

    [Fact]
    public void Finetuning_overfits_a_handful_of_pairs_and_gives_the_captions_back()
    {
        using var c = Captioner.Load(_finetuned.Value);
        Assert.Equal(Scenes.Select(s => s.Caption), Captions(c, new GenerationOptions { MaxNewTokens = 10 }));
        Assert.Equal(Scenes.Select(s => s.Caption), Captions(c, GenerationOptions.Paper with { MaxNewTokens = 10 }));
        Assert.True(File.Exists(Path.Combine(_finetuned.Value, "loss.png")));
    }

    [Fact]
    public void Each_stage_trains_exactly_its_parameters()
    {
        var data = _shared.Value;
        // Stage 0 from assembled parts: only the projector moves.
        var pre = Request(TrainStage.Pretrain, data, null, steps: 3, lr: 1e-2);
        CaptionerTrainer.Run(pre);
        var start = TempDir.Create("start");
        using (var c = Captioner.Assemble(TinyModels.ClipFolder, TinyModels.OptFolder, new AssembleOptions { Seed = 7, Aspect = AspectMode.Square }))
            c.Save(start);
        AssertMoved(Weights(start), Weights(pre.Out), k => k.StartsWith(Captioner.MlpConnectorPrefix));
        using (var c = Captioner.Load(pre.Out)) Assert.Equal("plain", c.Config.Template);

        // Stage 1: projector and LM move, the tower does not.
        var fine = Request(TrainStage.Finetune, data, pre.Out, steps: 3, lr: 1e-2);
        CaptionerTrainer.Run(fine);
        AssertMoved(Weights(pre.Out), Weights(fine.Out), k => !k.StartsWith(Captioner.VisionPrefix));

        // Stage 2: DeepLens (new) and the LM move; projector and tower do not.
        var refine = Request(TrainStage.Refine, data, fine.Out, steps: 3, lr: 1e-2);
        CaptionerTrainer.Run(refine);
        var before = Weights(fine.Out);
        var after = Weights(refine.Out);
        Assert.Contains(after.Keys, k => k.StartsWith(Captioner.DeepLensPrefix));
        AssertMoved(before, after.Where(kv => !kv.Key.StartsWith(Captioner.DeepLensPrefix)).ToDictionary(), k => k.StartsWith("model.decoder."));
    }

    [Fact]
    public void Stage_2_can_keep_training_the_first_glance_connector_and_scores_both_glances_on_held_out_images()
    {
        // --train-projector with first-glance and DeepLens single-glance examples: the MLP moves too (the
        // tower still does not); validation without pre_captions is scored by refining the model's own
        // first glance, and the CIDEr of both is logged.
        var r = Request(TrainStage.Refine, _shared.Value, _finetuned.Value, steps: 4, lr: 1e-2);
        r = r with
        {
            Validation = r.Data.Replace("train.json", "val.json"),
            Trainer = r.Trainer with { EvalEvery = 2 },
            StageOptions = r.StageOptions with { HalfPrecisionCache = false, MlpConnectorTrainsInRefine = true, FirstGlanceShare = 0.4, SingleGlanceShare = 0.3, LmLearningRateScale = 0.5, ValidationScoreImages = 4 },
        };
        var withoutPre = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(r.Data))!.AsArray();
        foreach (var e in withoutPre) e!.AsObject().Remove("pre_captions");
        File.WriteAllText(r.Validation!, withoutPre.ToJsonString());
        var milestones = new List<string>();
        CaptionerTrainer.Run(r, new Recorder(u => { if (u.Milestone) lock (milestones) milestones.Add(u.Detail ?? ""); }));
        // No loss can be computed without pre_captions: the log says the scores, not "validation loss NaN".
        Assert.Equal(2, milestones.Count(m => m.StartsWith("validation | val CIDEr first glance ", StringComparison.Ordinal)));
        Assert.DoesNotContain(milestones, m => m.Contains("NaN", StringComparison.Ordinal));
        var after = Weights(r.Out);
        AssertMoved(Weights(_finetuned.Value), after.Where(kv => !kv.Key.StartsWith(Captioner.DeepLensPrefix)).ToDictionary(),
            k => k.StartsWith("model.decoder.") || k.StartsWith(Captioner.MlpConnectorPrefix));
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(r.Out, "checkpoint", "trainer_state.json")))!;
        var scores = state["validation"]!.AsArray().Select(v => v!["score"]!.GetValue<double>()).ToList();
        Assert.Equal(2, scores.Count);
        // The last score is the CIDEr of the saved model's refined captions of the validation images.
        using var saved = Captioner.Load(r.Out);
        var images = Enumerable.Range(0, Scenes.Length).Select(i => RgbImage.FromFile(Path.Combine(_shared.Value.Images, $"{i}.png"))).ToList();
        var refined = CaptionPipeline.CaptionImages(saved, images, new CaptionRunOptions { Generation = new GenerationOptions { MaxNewTokens = 40 }, Rounds = 1 });
        var references = Enumerable.Range(0, Scenes.Length).ToDictionary(i => $"{i}", i => new List<string> { Scenes[i].Caption });
        var candidates = Enumerable.Range(0, Scenes.Length).ToDictionary(i => $"{i}", i => refined[i].Caption!);
        double expected = 100 * SharpGlance.Evaluation.CocoEvaluator.Evaluate(references, candidates, new SharpGlance.Evaluation.EvaluationOptions { Metrics = ["cider"] }).Corpus["CIDEr"];
        Assert.Equal(expected, scores[^1], 6);
    }

    [Fact]
    public void Stage_1_from_a_stage_0_model_validates_with_the_template_it_trains()
    {
        // Stage 0 saves a "plain" captioner; stage 1 trains the "opt" template, and its validation captions
        // must be written with it too (they once used "plain" until the model was saved, scoring ~0).
        var data = _shared.Value;
        var pre = Request(TrainStage.Pretrain, data, null, steps: 3, lr: 1e-2);
        CaptionerTrainer.Run(pre);
        var fine = Request(TrainStage.Finetune, data, pre.Out, steps: 100, lr: 1e-2);
        fine = fine with
        {
            Validation = data.Json, Trainer = fine.Trainer with { EvalEvery = 100 },
            StageOptions = fine.StageOptions with { HalfPrecisionCache = false, ValidationScoreImages = 4 },
        };
        CaptionerTrainer.Run(fine);
        using var c = Captioner.Load(fine.Out);
        Assert.Equal("opt", c.Config.Template);
        Assert.Equal(Scenes.Select(s => s.Caption), Captions(c, new GenerationOptions { MaxNewTokens = 10 }));
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(fine.Out, "checkpoint", "trainer_state.json")))!;
        double score = state["validation"]!.AsArray()[^1]!["score"]!.GetValue<double>();
        var exact = Enumerable.Range(0, Scenes.Length).ToDictionary(i => $"{i}", i => Scenes[i].Caption);
        var references = exact.ToDictionary(kv => kv.Key, kv => new List<string> { kv.Value });
        double expected = 100 * SharpGlance.Evaluation.CocoEvaluator.Evaluate(references, exact, new SharpGlance.Evaluation.EvaluationOptions { Metrics = ["cider"] }).Corpus["CIDEr"];
        Assert.True(expected > 100, $"CIDEr of exact captions {expected}");
        Assert.Equal(expected, score, 6);
    }

    [Fact]
    public void Stage_2_options_out_of_range_are_clear_errors()
    {
        var r = Request(TrainStage.Refine, _shared.Value, _finetuned.Value, steps: 1, lr: 1e-2);
        var e = Assert.Throws<GlanceException>(() => CaptionerTrainer.Run(r with { StageOptions = r.StageOptions with { FirstGlanceShare = 0.6, SingleGlanceShare = 0.6 } }));
        Assert.Contains("--single-glance-share", e.Message);
        e = Assert.Throws<GlanceException>(() => CaptionerTrainer.Run(r with { StageOptions = r.StageOptions with { LmLearningRateScale = 0 } }));
        Assert.Contains("--lm-lr-scale", e.Message);
    }

    private sealed class Recorder(Action<ProgressUpdate> report) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value) => report(value);
    }

    /// <summary>Keys where <paramref name="moves"/> is true changed (most tensors); all others are bit-identical.</summary>
    private static void AssertMoved(Dictionary<string, float[]> before, Dictionary<string, float[]> after, Func<string, bool> moves)
    {
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        var changed = before.Keys.Where(k => !before[k].SequenceEqual(after[k])).ToHashSet();
        var frozenButChanged = changed.Where(k => !moves(k)).ToList();
        Assert.True(frozenButChanged.Count == 0, "frozen tensors changed: " + string.Join(", ", frozenButChanged.Take(5)));
        var trainable = before.Keys.Where(moves).ToList();
        Assert.NotEmpty(trainable);
        // Every trained weight matrix moves (a LayerNorm bias can stay put for a step or two).
        var stuck = trainable.Where(k => k.EndsWith(".weight") && !k.Contains("layer_norm") && !k.Contains("layernorm") && !changed.Contains(k)).ToList();
        Assert.True(stuck.Count == 0, "trainable tensors did not change: " + string.Join(", ", stuck.Take(5)));
    }

    [Fact]
    public void The_feature_cache_is_hit_after_the_first_encoding()
    {
        var r = Request(TrainStage.Finetune, _shared.Value, null, steps: 2, lr: 1e-3) with { };
        var (summary, cache) = CaptionerTrainer.Run(r);
        // One batch of 4 = one epoch per step: 2 epochs. The tower ran once per image (4 misses), and
        // every epoch read the cache.
        Assert.Equal(2, summary.Steps);
        Assert.Equal(4, cache.Misses);
        Assert.True(cache.Hits >= 8, $"hits {cache.Hits}");
        // A second run over the same images with the same tower computes nothing.
        var (_, again) = CaptionerTrainer.Run(r with { Out = TempDir.Create("run"), StageOptions = r.StageOptions });
        Assert.Equal(0, again.Misses);
    }

    [Fact]
    public void An_interrupted_refine_run_resumes_to_the_same_weights()
    {
        // The refine stage has dropout (DeepLens 0.1) and per-epoch pseudo-caption choices: both must replay.
        var data = _shared.Value;
        var full = Request(TrainStage.Refine, data, _finetuned.Value, steps: 6, lr: 3e-3);
        full = full with { Trainer = full.Trainer with { CheckpointEvery = 2 } };
        CaptionerTrainer.Run(full);

        var split = full with { Out = TempDir.Create("run") };
        RunUntil(split, 3);
        Assert.False(File.Exists(Path.Combine(split.Out, "model.safetensors")));
        CaptionerTrainer.Run(split);
        var a = Weights(full.Out);
        var b = Weights(split.Out);
        Assert.All(a.Keys, k => Assert.True(a[k].SequenceEqual(b[k]), $"{k} differs after resume"));
    }

    /// <summary>Runs <paramref name="r"/> for <paramref name="steps"/> optimizer steps, as a run killed after its checkpoint.</summary>
    private static void RunUntil(CaptionerTrainingRequest r, int steps)
    {
        var examples = LlavaDataset.Load(r.Data, r.Images);
        using var c = Captioner.Load(r.Init!);
        c.AttachDeepLens(r.DeepLens!, r.Trainer.Seed);
        if (r.DeepLensLevelsFromMlpConnector) c.InitDeepLensLevelsFromMlpConnector();   // as CaptionerTrainer starts it
        var options = r.StageOptions;
        var features = new CachedTower(c, options.FeatureCacheRoot, options.HalfPrecisionCache);
        var task = new CaptionerTrainingTask(c, r.Stage, options, features, examples, r.Trainer.Seed);
        new Trainer<CaptionExample>(task, examples, r.Trainer, r.Out, "t").Run(stopAfterSteps: steps);
    }

    [Fact]
    public void A_refiner_trained_on_corrupted_captions_repairs_them()
    {
        var r = Request(TrainStage.Refine, _shared.Value, _finetuned.Value, steps: 100, lr: 1e-2);
        r = r with { StageOptions = r.StageOptions with { InitialCaptionInText = 1.0 } };
        var (summary, _) = CaptionerTrainer.Run(r);
        Assert.True(summary.LastLoss < 0.05, $"refine loss {summary.FirstLoss:0.###} → {summary.LastLoss:0.####}");
        using var c = Captioner.Load(r.Out);
        var images = Enumerable.Range(0, Scenes.Length).Select(i => RgbImage.FromFile(Path.Combine(_shared.Value.Images, $"{i}.png"))).ToList();
        using var pixels = c.Pixels(images);
        using var features = c.Encode(pixels);
        // Each image's first wrong caption (wrong colour) is repaired to the truth.
        var repaired = Refinement.Refine(c, features, Scenes.Select(s => s.Wrong[0]).ToList(), new GenerationOptions { MaxNewTokens = 10 });
        Assert.Equal(Scenes.Select(s => s.Caption), repaired);
    }

    [Fact]
    public void Closed_vocabulary_training_learns_the_captions_and_restricts_generation()
    {
        var r = Request(TrainStage.Finetune, _shared.Value, null, steps: 100, lr: 1e-2);
        r = r with { StageOptions = r.StageOptions with { ClosedVocabulary = true } };
        var (summary, _) = CaptionerTrainer.Run(r);
        Assert.True(summary.LastLoss < 0.05, $"loss {summary.FirstLoss:0.###} → {summary.LastLoss:0.####}");
        using var c = Captioner.Load(r.Out);
        var subset = c.Config.VocabularySubset!;
        // Exactly the tokens the targets use: " a", " red", " square", ..., "</s>", and "\n" (plain's stop).
        var expected = Scenes.SelectMany(s => c.Tokenizer.Encode(" " + s.Caption + "</s>", addBos: false)).Append(50118).Distinct().Order();
        Assert.Equal(expected, subset);
        // The untrained start token of a greedy caption would have been anything; now only subset ids appear.
        Assert.Equal(Scenes.Select(s => s.Caption), Captions(c, new GenerationOptions { MaxNewTokens = 10 }));
        using var features = c.Encode(c.Pixels([RgbImage.FromFile(Path.Combine(_shared.Value.Images, "0.png"))]));
        var sampled = FirstGlance.Caption(c, features, new GenerationOptions { MaxNewTokens = 12, DoSample = true, Temperature = 5.0, Seed = 1 });
        var ids = c.Tokenizer.Encode(" " + sampled[0], addBos: false);
        Assert.All(ids, id => Assert.Contains(id, subset));
    }

    [Fact]
    public void The_closed_vocabulary_loss_over_every_token_equals_the_full_loss()
    {
        using var c = Captioner.Assemble(TinyModels.ClipFolder, TinyModels.OptFolder, new AssembleOptions { Seed = 7 });
        var (p, t) = PromptTemplate.Opt.Encode(c.Tokenizer, "two red cats on a mat");
        using var visual = randn(1, 16, 32);
        using var batch = PromptBatch.Build(c.Lm, [p], [t], visual, padLeft: false);
        using var full = CaptionerTrainingTask.SupervisedLoss(c.Lm, batch);
        var all = new ClosedVocabularyIndex(Enumerable.Range(0, c.Lm.Config.VocabSize).ToList(), c.Lm.Config.VocabSize, c.Device);
        using var closed = CaptionerTrainingTask.SupervisedLoss(c.Lm, batch, "mean", all);
        Assert.Equal(full.item<float>(), closed.item<float>(), 4);
        // A vocabulary without one of the targets is refused rather than silently mis-scored.
        var some = new ClosedVocabularyIndex([2, 4], c.Lm.Config.VocabSize, c.Device);
        Assert.Equal([-1L, -1, 0, -1, 1], some.Rows.narrow(0, 0, 5).data<long>().ToArray());
        Assert.Throws<GlanceException>(() => CaptionerTrainingTask.SupervisedLoss(c.Lm, batch, "mean", some));
    }
}
