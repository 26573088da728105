using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>The knobs of one training run (SPEC §10). Sizes are in examples; steps are optimizer steps.</summary>
public sealed record TrainerOptions
{
    public int Epochs { get; init; } = 1;
    /// <summary>Stop after this many optimizer steps (the schedule is laid out over min(epochs, max steps)).</summary>
    public long? MaxSteps { get; init; }
    public double LearningRate { get; init; } = 2e-5;
    public double WeightDecay { get; init; } = 0.0;
    public double WarmupRatio { get; init; } = 0.03;
    public int BatchSize { get; init; } = 8;
    /// <summary>Micro-batches per optimizer step (global batch = BatchSize × GradAccum).</summary>
    public int GradAccum { get; init; } = 1;
    public double ClipNorm { get; init; } = 1.0;
    public long Seed { get; init; } = 42;
    public int LogEvery { get; init; } = 10;
    public int EvalEvery { get; init; } = 0;
    public int CheckpointEvery { get; init; } = 200;
    /// <summary>Non-finite losses or gradient norms tolerated in a row before the run is declared diverged.</summary>
    public int MaxBadSteps { get; init; } = 5;
    /// <summary>
    /// What else defines the run (the stage, digests of the data files, the model it starts from), beside
    /// the options above that do: recorded in the checkpoint, and a resume with other values is refused.
    /// </summary>
    public IReadOnlyDictionary<string, string?> RunSettings { get; init; } = new Dictionary<string, string?>();
    /// <summary>The stage being trained (<see cref="TrainStages.Name"/>), recorded in the checkpoint; a resume of another stage is refused.</summary>
    public string? Stage { get; init; }
    /// <summary>The config of the model being trained (its config.json), recorded in the checkpoint; a resume from another model is refused.</summary>
    public JsonObject? ModelConfig { get; init; }
    /// <summary>Stops the run between optimizer steps (Ctrl-C); it then writes a checkpoint at the step reached.</summary>
    public CancellationToken Cancel { get; init; }

    public void Validate()
    {
        if (Epochs < 1) throw new GlanceException($"--epochs must be ≥ 1 (got {Epochs})");
        if (MaxSteps is < 1) throw new GlanceException($"--max-steps must be ≥ 1 (got {MaxSteps})");
        if (!(LearningRate > 0)) throw new GlanceException($"--lr must be > 0 (got {LearningRate})");
        if (BatchSize < 1) throw new GlanceException($"--batch must be ≥ 1 (got {BatchSize})");
        if (GradAccum < 1) throw new GlanceException($"--accum must be ≥ 1 (got {GradAccum})");
        if (WarmupRatio is < 0 or >= 1) throw new GlanceException($"warm-up ratio must be in [0, 1) (got {WarmupRatio})");
        if (LogEvery < 1) throw new GlanceException($"log interval must be ≥ 1 (got {LogEvery})");
    }
}

/// <summary>One micro-batch's loss and how many target tokens it covered (for tokens/s).</summary>
public readonly record struct BatchLoss(Tensor Loss, long Tokens);

/// <summary>What a stage trains: the model half the trainer does not know about.</summary>
public interface ITrainingTask<TExample>
{
    /// <summary>Switches the trained modules between train mode (dropout on) and eval mode.</summary>
    void SetTraining(bool training);

    /// <summary>The parameters this stage trains; everything else stays bit-identical.</summary>
    IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    /// <summary>
    /// A parameter's learning rate relative to the run's (its AdamW parameter group follows the same
    /// schedule, scaled), e.g. a shared LM that should move less than a new connector.
    /// </summary>
    double LearningRateScale(string name) => 1.0;

    /// <summary>
    /// Mean loss of one micro-batch, with the graph attached. <paramref name="epoch"/> lets per-epoch
    /// choices (which pseudo-initial caption to show) vary by epoch yet repeat exactly on resume.
    /// </summary>
    BatchLoss Loss(IReadOnlyList<TExample> batch, int epoch);

    /// <summary>Validation: mean loss and, optionally, a few sample captions for the log.</summary>
    (double Loss, string? Samples) Validate();

    /// <summary>
    /// A validation score where higher is better (captioners: CIDEr of greedy captions), run after
    /// <see cref="Validate"/> with no gradients; null when the task has none. Logged with the validation loss.
    /// </summary>
    (double Score, string Summary)? Score() => null;

    /// <summary>Writes the whole model (loadable for inference) into <paramref name="folder"/>.</summary>
    void SaveModel(string folder);

    /// <summary>What <see cref="BatchLoss.Tokens"/> counts, for the progress line ("tok/s", "images/s").</summary>
    string ThroughputUnit => "tok/s";
}

/// <summary>What a finished (or stopped) run reports.</summary>
public sealed record TrainingSummary(long Steps, int Epochs, double FirstLoss, double LastLoss, double? ValidationLoss,
    long SkippedSteps, bool Resumed, string OutDir, TimeSpan Elapsed);

/// <summary>
/// The training loop (shaped like nanoGPT's train.py): AdamW, cosine schedule with warm-up, gradient
/// accumulation, clipping, a NaN guard, periodic validation, and checkpoints that hold the trainable
/// weights, the optimizer, the RNG and the data position, written atomically. A run that finds a
/// checkpoint in its folder resumes exactly where it stopped.
/// </summary>
public sealed class Trainer<TExample>
{
    public const string CheckpointFolder = "checkpoint";
    private const string StateFile = "trainer_state.json";
    private const string WeightsFile = "trainable.safetensors";
    private const string OptimizerFile = "optimizer.bin";

    private readonly ITrainingTask<TExample> _task;
    private readonly IReadOnlyList<TExample> _data;
    private readonly TrainerOptions _o;
    private readonly string _outDir;
    private readonly string _title;

    public Trainer(ITrainingTask<TExample> task, IReadOnlyList<TExample> data, TrainerOptions options, string outDir, string title)
    {
        options.Validate();
        if (data.Count == 0) throw new GlanceException("training data is empty");
        _task = task; _data = data; _o = options; _outDir = outDir; _title = title;
    }

    public long MicroBatchesPerEpoch => (_data.Count + _o.BatchSize - 1) / _o.BatchSize;
    public long StepsPerEpoch => (MicroBatchesPerEpoch + _o.GradAccum - 1) / _o.GradAccum;
    public long TotalSteps => Math.Min(StepsPerEpoch * _o.Epochs, _o.MaxSteps ?? long.MaxValue);

    /// <summary>
    /// The order of examples in <paramref name="epoch"/>: a seeded shuffle, so the data position of a
    /// checkpoint is just (epoch, micro-batch). It depends on (seed, epoch, count) only, so two processes
    /// with the same seed, or a run resumed in a new process, see the same batches.
    /// </summary>
    public static int[] EpochOrder(int count, long seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        // Our own generator (xoshiro256**), not System.Random, whose shuffle .NET may change.
        Data.Synthetic.SynthRandom.ForItem(seed, 0x5eed, epoch).Shuffle(order);
        return order;
    }

    /// <summary>
    /// Runs until the schedule ends, or until <paramref name="stopAfterSteps"/> optimizer steps have been
    /// taken in this call (used by tests to simulate a killed run), or until cancelled.
    /// </summary>
    public TrainingSummary Run(IProgress<ProgressUpdate>? progress = null, long? stopAfterSteps = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(_outDir);
        // Partial checkpoints of killed runs (tens of MB each, and on a full disk the reason the next one fails).
        StaleTemp.Clean(_outDir, $".{CheckpointFolder}.");
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(cancel, _o.Cancel);
        var parameters = _task.TrainableParameters;
        if (parameters.Count == 0) throw new GlanceException("this stage has no trainable parameters");
        // One AdamW parameter group per learning-rate scale, in order of first appearance.
        var scaled = parameters.GroupBy(p => _task.LearningRateScale(p.Name)).ToList();
        var scales = scaled.Select(g => g.Key).ToArray();
        if (scales.Any(k => !(k > 0))) throw new GlanceException("a parameter's learning-rate scale must be > 0");
        using var optimizer = optim.AdamW(scaled.Select(g => new AdamW.ParamGroup(g.Select(p => p.Parameter), lr: _o.LearningRate * g.Key, weight_decay: _o.WeightDecay)),
            lr: _o.LearningRate, weight_decay: _o.WeightDecay);

        var state = new RunState { Seed = _o.Seed, TotalSteps = TotalSteps, Settings = Settings(), Stage = _o.Stage, ModelConfig = _o.ModelConfig };
        bool resumed = TryResume(state, optimizer);
        if (!resumed) random.manual_seed(_o.Seed);

        long stepsThisCall = 0, badInARow = 0;
        // The loss window of the log lines is part of the state, so a resumed run logs the same averages.
        double windowLoss = state.WindowLoss; int windowCount = state.WindowCount; long windowTokens = 0;
        var windowClock = Stopwatch.StartNew();
        double firstLoss = state.Train.Count > 0 ? state.Train[0].Loss : double.NaN;
        double? lastVal = state.Validation.Count > 0 ? state.Validation[^1].Loss : null;

        _task.SetTraining(true);
        int[] order = [];
        int orderEpoch = -1;
        while (state.Step < state.TotalSteps && !interrupted.IsCancellationRequested)
        {
            if (stopAfterSteps is { } stop && stepsThisCall >= stop) break;
            if (state.MicroBatch >= MicroBatchesPerEpoch) { state.Epoch++; state.MicroBatch = 0; continue; }
            if (orderEpoch != state.Epoch) (order, orderEpoch) = (EpochOrder(_data.Count, _o.Seed, state.Epoch), state.Epoch);

            double lr = LearningRate.Cosine(state.Step, state.TotalSteps, _o.LearningRate, _o.WarmupRatio);
            int g = 0;
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr * scales[g++];
            optimizer.zero_grad();

            // Accumulate up to GradAccum micro-batches, not crossing the epoch end.
            double stepLoss = 0; int micro = 0; long tokens = 0; bool finite = true;
            while (micro < _o.GradAccum && state.MicroBatch < MicroBatchesPerEpoch)
            {
                var batch = Enumerable.Range((int)(state.MicroBatch * _o.BatchSize), _o.BatchSize)
                    .TakeWhile(i => i < _data.Count).Select(i => _data[order[i]]).ToList();
                state.MicroBatch++;
                using var scope = NewDisposeScope();
                var (loss, n) = _task.Loss(batch, state.Epoch);
                double value = loss.item<float>();   // a sync point on GPU; cheap on CPU, and the NaN guard needs it
                if (!double.IsFinite(value)) { finite = false; continue; }
                (loss / _o.GradAccum).backward();
                stepLoss += value; micro++; tokens += n;
            }
            double gradNorm = finite && micro > 0
                ? nn.utils.clip_grad_norm_(parameters.Select(p => p.Parameter), _o.ClipNorm)
                : double.NaN;
            if (!finite || micro == 0 || !double.IsFinite(gradNorm))
            {
                // NaN guard: drop the update, keep going, give up if it keeps happening.
                optimizer.zero_grad();
                state.Skipped++;
                if (++badInARow >= _o.MaxBadSteps)
                    throw new GlanceException($"training diverged: {badInARow} steps in a row with a non-finite loss or gradient (step {state.Step}); try a lower --lr");
                continue;
            }
            badInARow = 0;
            optimizer.step();
            state.Step++; stepsThisCall++;
            double meanLoss = stepLoss / micro;
            if (double.IsNaN(firstLoss)) firstLoss = meanLoss;
            windowLoss += meanLoss; windowCount++; windowTokens += tokens;

            if (state.Step % _o.LogEvery == 0 || state.Step == state.TotalSteps)
            {
                double avg = windowLoss / windowCount;
                state.Train.Add(new LossPoint(state.Step, avg, lr));
                double tps = windowTokens / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds);
                progress?.Report(new ProgressUpdate(state.Step, state.TotalSteps, $"epoch {state.Epoch + 1} loss {avg:0.0000} lr {lr:0.0e0} {tps:0} {_task.ThroughputUnit}"));
                windowLoss = 0; windowCount = 0; windowTokens = 0; windowClock.Restart();
            }
            if (_o.EvalEvery > 0 && state.Step % _o.EvalEvery == 0)
                lastVal = RunValidation(state, progress);
            state.WindowLoss = windowLoss; state.WindowCount = windowCount;
            if (_o.CheckpointEvery > 0 && state.Step % _o.CheckpointEvery == 0 && state.Step < state.TotalSteps)
                SaveCheckpoint(state, optimizer);
        }

        bool finished = state.Step >= state.TotalSteps;
        if (finished && (_o.EvalEvery > 0 || state.Validation.Count > 0) && (state.Validation.Count == 0 || state.Validation[^1].Step != state.Step))
            lastVal = RunValidation(state, progress);
        SaveCheckpoint(state, optimizer);
        if (finished) _task.SaveModel(_outDir);
        _task.SetTraining(false);
        double lastLoss = state.Train.Count > 0 ? state.Train[^1].Loss : double.NaN;
        return new TrainingSummary(state.Step, state.Epoch + 1, firstLoss, lastLoss, lastVal, state.Skipped, resumed, _outDir, clock.Elapsed);
    }

    private double RunValidation(RunState state, IProgress<ProgressUpdate>? progress)
    {
        _task.SetTraining(false);
        double loss;
        string? samples;
        (double Score, string Summary)? score;
        using (no_grad())
        {
            (loss, samples) = _task.Validate();
            score = _task.Score();
        }
        _task.SetTraining(true);
        if (double.IsFinite(loss) || score is not null)
            state.Validation.Add(new LossPoint(state.Step, loss, 0, score?.Score));
        // A task whose validation is scored only (stage 2 without pre-captions) has no loss: say nothing, not NaN.
        string measured = double.IsNaN(loss) ? "validation" : $"validation loss {loss:0.0000}";
        progress?.Report(new ProgressUpdate(state.Step, state.TotalSteps,
            $"{measured}{(score is { } s ? " | " + s.Summary : "")}{(samples is null ? "" : " | " + samples)}", Milestone: true));
        return loss;
    }

    // ----- checkpoints ---------------------------------------------------------------------------

    private sealed class RunState
    {
        public long Seed { get; set; }
        public long TotalSteps { get; set; }
        public long Step { get; set; }
        public int Epoch { get; set; }
        public long MicroBatch { get; set; }
        public long Skipped { get; set; }
        /// <summary>What defines the run besides the seed and the steps; null in older checkpoints.</summary>
        public SortedDictionary<string, string?>? Settings { get; set; }
        /// <summary>The stage and the model's config (<see cref="TrainerOptions.Stage"/>, <see cref="TrainerOptions.ModelConfig"/>); null in older checkpoints.</summary>
        public string? Stage { get; set; }
        public JsonObject? ModelConfig { get; set; }
        public double WindowLoss { get; set; }
        public int WindowCount { get; set; }
        public string? TorchRng { get; set; }
        public List<LossPoint> Train { get; set; } = new();
        public List<LossPoint> Validation { get; set; } = new();
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The settings a resumed run must share with the checkpoint: the loop's own and the caller's <see cref="TrainerOptions.RunSettings"/>.</summary>
    private SortedDictionary<string, string?> Settings()
    {
        return new SortedDictionary<string, string?>(_o.RunSettings.ToDictionary(), StringComparer.Ordinal)
        {
            ["examples"] = Invariant(_data.Count), ["batch"] = Invariant(_o.BatchSize), ["accum"] = Invariant(_o.GradAccum),
            ["lr"] = Invariant(_o.LearningRate), ["warmup"] = Invariant(_o.WarmupRatio), ["weight-decay"] = Invariant(_o.WeightDecay),
            ["clip-norm"] = Invariant(_o.ClipNorm),
        };
    }

    private static string Invariant(IFormattable value) => value.ToString(null, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The first key whose value differs between two configs, as "key old → new" (nested keys dotted).</summary>
    private static string FirstDifference(JsonObject then, JsonObject now, string prefix = "")
    {
        foreach (var key in then.Select(kv => kv.Key).Union(now.Select(kv => kv.Key)).Order(StringComparer.Ordinal))
        {
            JsonNode? a = then[key], b = now[key];
            if (JsonNode.DeepEquals(a, b)) continue;
            if (a is JsonObject ao && b is JsonObject bo) return FirstDifference(ao, bo, prefix + key + ".");
            return $"{prefix}{key} {a?.ToJsonString() ?? "unset"} → {b?.ToJsonString() ?? "unset"}";
        }
        return "the same keys and values";
    }

    private void SaveCheckpoint(RunState state, AdamW optimizer)
    {
        using (var rng = random.get_rng_state()) state.TorchRng = Convert.ToBase64String(rng.bytes);
        // Build the whole checkpoint in a temporary folder, then swap it in: a kill at any moment leaves
        // either the old checkpoint or the new one, never a mix; a failure (a full disk) leaves no partial folder.
        string final = Path.Combine(_outDir, CheckpointFolder);
        string tmp = Path.Combine(_outDir, $".{CheckpointFolder}.{Environment.ProcessId}.tmp");
        try
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            Directory.CreateDirectory(tmp);
            SafeTensorsFile.Save(Path.Combine(tmp, WeightsFile), _task.TrainableParameters.Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter)));
            using (var fs = File.Create(Path.Combine(tmp, OptimizerFile)))
            using (var w = new BinaryWriter(fs))
                optimizer.save_state_dict(w);
            File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));
        }
        catch (Exception e)
        {
            try { Directory.Delete(tmp, true); } catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException) { }
            if (e is IOException or UnauthorizedAccessException)
                throw GlanceException.ForFile(final, $"cannot write the checkpoint at step {state.Step} ({e.Message}); the previous checkpoint is kept");
            throw;
        }
        string old = final + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(final)) Directory.Move(final, old);
        Directory.Move(tmp, final);
        if (Directory.Exists(old)) Directory.Delete(old, true);
        LossCurve.Write(Path.Combine(_outDir, "loss.png"), _title, state.Train, state.Validation);
    }

    private bool TryResume(RunState state, AdamW optimizer)
    {
        string folder = Path.Combine(_outDir, CheckpointFolder);
        if (!Directory.Exists(folder) && Directory.Exists(folder + ".old")) folder += ".old";   // killed mid-swap
        string statePath = Path.Combine(folder, StateFile);
        if (!File.Exists(statePath)) return false;
        RunState saved;
        try { saved = JsonSerializer.Deserialize<RunState>(File.ReadAllText(statePath), Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw GlanceException.ForFile(statePath, $"corrupt trainer state: {e.Message}"); }
        if (saved.Seed != _o.Seed || saved.TotalSteps != TotalSteps)
            throw GlanceException.ForFile(folder, $"a checkpoint of another run is here (seed {saved.Seed}, {saved.TotalSteps} steps; this run: seed {_o.Seed}, {TotalSteps} steps); use another --out or delete it");
        if (saved.Stage is { } stage && _o.Stage is { } nowStage && stage != nowStage)
            throw GlanceException.ForFile(folder, $"the checkpoint here is of stage {stage}, not {nowStage}; resume it with --stage {stage}, or use another --out");
        if (saved.ModelConfig is { } model && _o.ModelConfig is { } nowModel && !JsonNode.DeepEquals(model, nowModel))
            throw GlanceException.ForFile(folder, $"the checkpoint here was trained from another model ({FirstDifference(model, nowModel)}); resume it from the model it started from, or use another --out");
        if (saved.Settings is { } then)   // older checkpoints did not record them
        {
            var now = state.Settings!;
            var changed = then.Keys.Union(now.Keys).Order(StringComparer.Ordinal)
                .Where(k => then.GetValueOrDefault(k) != now.GetValueOrDefault(k))
                .Select(k => $"{k} {then.GetValueOrDefault(k) ?? "unset"} → {now.GetValueOrDefault(k) ?? "unset"}").ToList();
            if (changed.Count > 0)
                throw GlanceException.ForFile(folder, $"the checkpoint here is of a run with other settings ({string.Join(", ", changed)}); resume with the run's settings, or use another --out");
        }

        using (var ck = Checkpoint.Open(Path.Combine(folder, WeightsFile)))
        using (no_grad())
        {
            foreach (var (name, p) in _task.TrainableParameters)
            {
                using var v = ck.Load(name, p.dtype, p.device);
                if (!v.shape.SequenceEqual(p.shape)) throw GlanceException.ForFile(folder, $"checkpoint tensor '{name}' has another shape than the model's");
                p.copy_(v);
            }
        }
        using (var fs = File.OpenRead(Path.Combine(folder, OptimizerFile)))
        using (var r = new BinaryReader(fs))
            optimizer.load_state_dict(r);
        if (saved.TorchRng is { } rng)
        {
            var bytes = Convert.FromBase64String(rng);
            using var t = empty(bytes.Length, ScalarType.Byte);
            t.bytes = bytes;
            random.set_rng_state(t);
        }
        state.Step = saved.Step; state.Epoch = saved.Epoch; state.MicroBatch = saved.MicroBatch;
        state.Skipped = saved.Skipped; state.Train = saved.Train; state.Validation = saved.Validation;
        state.WindowLoss = saved.WindowLoss; state.WindowCount = saved.WindowCount;
        return true;
    }
}
