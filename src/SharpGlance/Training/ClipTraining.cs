using SharpGlance.Captioning;
using SharpGlance.Data;
using SharpGlance.IO;
using SharpGlance.Preprocessing;
using SharpGlance.Tokenization;
using SharpGlance.Vision;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>One image with all its captions (the CLIP stage samples one caption per image per epoch).</summary>
public sealed record ClipExample(int Index, string ImagePath, IReadOnlyList<string> Captions);

/// <summary>Everything one <c>glance train --stage clip</c> run needs.</summary>
public sealed record ClipTrainingRequest
{
    public required string Data { get; init; }
    public required string Images { get; init; }
    public required string Out { get; init; }
    /// <summary>Folder with vocab.json + merges.txt: the text tower reads OPT token ids.</summary>
    public required string Tokenizer { get; init; }
    public string? Validation { get; init; }
    /// <summary>A CLIP folder to continue from; else a fresh model of <see cref="Config"/>.</summary>
    public string? Init { get; init; }
    public ClipConfig Config { get; init; } = SyntheticClip.Config(96);
    public int TextLength { get; init; } = 40;
    /// <summary>Hard negatives and the scene-graph loss (off by default: plain CLIP).</summary>
    public ClipAuxiliaryOptions Auxiliary { get; init; } = new();
    public Device? Device { get; init; }
    public TrainerOptions Trainer { get; init; } = new();
}

/// <summary>
/// The tiny CLIP that plays CLIP ViT-L in the synthetic world (SPEC §11): the real CLIP architecture at
/// small size, a text tower over OPT token ids, trained contrastively on our scenes, then frozen.
/// </summary>
public static class SyntheticClip
{
    /// <summary>
    /// The text tower pools at the first <c>eos_token_id</c>. OPT's <c>&lt;/s&gt;</c> is 2, which HF reads as
    /// the legacy "pool at the highest id" rule (see the fixtures' README), so texts end with "\n" (50118)
    /// instead, and HF reads our checkpoints the same way.
    /// </summary>
    public const int TextEndId = 50118;

    /// <summary>
    /// ViT: patch 12 on 96 px (8×8 grid), width 128, 6 layers, so LLaVA's select layer −2 is
    /// hidden_states[5] and DeepLens taps 5, 3, 4 (ViT-L's 23, 13, 18 scaled to 6 layers).
    /// </summary>
    public static ClipConfig Config(int imageSize, int width = 128, int layers = 6, int? patchSize = null) => new()
    {
        VisionConfig = new ClipVisionConfig
        {
            HiddenSize = width, IntermediateSize = 4 * width, ProjectionDim = width, NumHiddenLayers = layers,
            NumAttentionHeads = Math.Max(1, width / 32), ImageSize = imageSize, PatchSize = patchSize ?? imageSize / 8,
        },
        TextConfig = new ClipTextConfig
        {
            VocabSize = 50272, HiddenSize = width, IntermediateSize = 4 * width, ProjectionDim = width,
            NumHiddenLayers = 3, NumAttentionHeads = Math.Max(1, width / 32), MaxPositionEmbeddings = 48,
            PadTokenId = 1, BosTokenId = 2, EosTokenId = TextEndId,
        },
        ProjectionDim = width,
    };

    /// <summary>The image processor of a tiny CLIP of <paramref name="size"/> px: CLIP's mean/std, padded to a square.</summary>
    public static ClipImageProcessor Processor(int size) =>
        new(ImageProcessorConfig.ClipVitL336 with { ShortestEdge = size, CropSize = size, Aspect = AspectMode.Pad });

    /// <summary>OPT ids of each caption + "\n" (the pooling token), truncated to <paramref name="textLength"/>, right-padded with &lt;pad&gt;.</summary>
    public static (Tensor Ids, Tensor Mask) Texts(OptTokenizer tokenizer, IReadOnlyList<string> captions, int textLength, Device device)
    {
        var rows = captions.Select(c =>
        {
            var ids = tokenizer.Encode(PromptTemplate.Clean(c), addBos: true).ToList();
            if (ids.Count > textLength - 1) ids = ids.Take(textLength - 1).ToList();
            ids.Add(TextEndId);
            return ids;
        }).ToList();
        int t = rows.Max(r => r.Count);
        var flat = new long[rows.Count * t];
        var mask = new long[rows.Count * t];
        for (int i = 0; i < rows.Count; i++)
            for (int j = 0; j < t; j++)
            {
                flat[i * t + j] = j < rows[i].Count ? rows[i][j] : tokenizer.PadId;
                mask[i * t + j] = j < rows[i].Count ? 1 : 0;
            }
        return (tensor(flat, [rows.Count, t], device: device), tensor(mask, [rows.Count, t], device: device));
    }
}

/// <summary>The contrastive stage as an <see cref="ITrainingTask{TExample}"/>.</summary>
public sealed class ClipTrainingTask : ITrainingTask<ClipExample>, IDisposable
{
    /// <summary>A CLIP batch counts image–text pairs.</summary>
    public string ThroughputUnit => "images/s";

    /// <summary>Frees the preloaded pixels (native memory the GC does not see).</summary>
    public void Dispose()
    {
        foreach (var t in _pixels.Values) t.Dispose();
        _pixels.Clear();
    }

    private readonly ClipModel _model;
    private readonly OptTokenizer _tokenizer;
    private readonly ClipImageProcessor _processor;
    private readonly IReadOnlyList<ClipExample> _validation;
    private readonly int _textLength;
    private readonly long _seed;
    private readonly Dictionary<string, Tensor> _pixels = new(StringComparer.Ordinal);

    private readonly ClipAuxiliary? _auxiliary;

    public ClipTrainingTask(ClipModel model, OptTokenizer tokenizer, IReadOnlyList<ClipExample> validation, int textLength, long seed,
        ClipAuxiliary? auxiliary = null)
    {
        _model = model; _tokenizer = tokenizer; _validation = validation; _textLength = textLength; _seed = seed;
        _auxiliary = auxiliary is { Options.Any: true } ? auxiliary : null;
        int size = model.Config.VisionConfig.ImageSize;
        _processor = SyntheticClip.Processor(size);
        var trainable = model.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        // The scene-graph heads train beside the tower (and resume with it), but are not part of the saved CLIP.
        if (_auxiliary?.Heads is { } heads) trainable.AddRange(heads.named_parameters().Select(p => ("scene_heads." + p.name, p.parameter)));
        TrainableParameters = trainable;
    }

    public ClipImageProcessor Processor => _processor;

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    public void SetTraining(bool training)
    {
        _model.train(training);
        _auxiliary?.Heads?.train(training);
    }

    /// <summary>Decodes and preprocesses every image once; kept as float16 [3, S, S] in memory.</summary>
    public void Preload(IEnumerable<string> paths, IProgress<ProgressUpdate>? progress = null)
    {
        var todo = paths.Distinct().Where(p => !_pixels.ContainsKey(p)).ToList();
        int done = 0;
        foreach (var chunk in todo.Chunk(64))
        {
            // The scope owns every temporary (the batch and its row views) and frees them here, on this thread.
            // Left to the GC, a row view's finalizer could free it while to_type was still reading it: two
            // demo runs at 128 px segfaulted in libtorch during this loop (12,200 images, much GC churn).
            using var scope = NewDisposeScope();
            var batch = _processor.PreprocessBatch(chunk.Select(p => RgbImage.FromFile(p)).ToList());
            for (int i = 0; i < chunk.Length; i++) _pixels[chunk[i]] = batch[i].to_type(ScalarType.Float16).DetachFromDisposeScope();
            done += chunk.Length;
            progress?.Report(new ProgressUpdate(done, todo.Count, "preprocessing images"));
        }
    }

    private Tensor Pixels(IReadOnlyList<ClipExample> batch) =>
        stack(batch.Select(e => _pixels.TryGetValue(e.ImagePath, out var t) ? t : throw new InvalidOperationException("image not preloaded")).ToList())
            .to_type(ScalarType.Float32).to(_model.logit_scale.device);

    public (Tensor Ids, Tensor Mask) Texts(IReadOnlyList<string> captions) =>
        SyntheticClip.Texts(_tokenizer, captions, _textLength, _model.logit_scale.device);

    public BatchLoss Loss(IReadOnlyList<ClipExample> batch, int epoch)
    {
        var captions = batch.Select(e => e.Captions[new Random(Seeds.Mix(_seed, e.Index, epoch)).Next(e.Captions.Count)]).ToList();
        using var pixels = Pixels(batch);
        if (_auxiliary is not null) return AuxiliaryLoss(batch, captions, pixels, epoch);
        var (ids, mask) = Texts(captions);
        using (ids) using (mask)
        {
            using var output = _model.Forward(pixels, ids, mask, returnLoss: true);
            return new BatchLoss(output.Loss!.alias(), batch.Count);
        }
    }

    /// <summary>
    /// CLIP's loss with <see cref="ClipAuxiliary"/>'s additions: the image→text cross-entropy runs over the
    /// batch's captions and their one-word edits (each edit a negative for every image, the hardest for its
    /// own); text→image over the true captions only, as CLIP; plus the scene-graph loss, weighted.
    /// </summary>
    private BatchLoss AuxiliaryLoss(IReadOnlyList<ClipExample> batch, IReadOnlyList<string> captions, Tensor pixels, int epoch)
    {
        using var scope = NewDisposeScope();
        var aux = _auxiliary!;
        var texts = captions.ToList();
        if (aux.Editor is { } editor)
            for (int i = 0; i < batch.Count; i++)
            {
                var edited = editor.Edit(captions[i], 1, new Random(Seeds.Mix(_seed ^ 0x4e6, batch[i].Index, epoch)));
                if (edited.Edits.Count == 1 && edited.Text != captions[i]) texts.Add(edited.Text);
            }
        var vc = _model.Config.VisionConfig;
        int sceneLayer = aux.Options.SceneLayer < 0 ? vc.NumHiddenLayers + 1 + aux.Options.SceneLayer : aux.Options.SceneLayer;
        var layers = aux.Heads is null ? new[] { vc.NumHiddenLayers } : [sceneLayer, vc.NumHiddenLayers];
        using var vision = _model.vision_model.Forward(pixels, layers);
        var (ids, mask) = Texts(texts);
        using var text = _model.text_model.forward(ids, mask);
        var image = _model.visual_projection.forward(vision.PoolerOutput!);
        var txt = _model.text_projection.forward(text.PoolerOutput);
        image = image / image.norm(-1, true, 2);
        txt = txt / txt.norm(-1, true, 2);
        var logitsPerImage = matmul(image, txt.t()) * _model.logit_scale.exp();   // [B, B + edits]
        int b = batch.Count;
        var labels = arange(b, ScalarType.Int64, image.device);
        var loss = (nn.functional.cross_entropy(logitsPerImage, labels)
                    + nn.functional.cross_entropy(logitsPerImage.narrow(1, 0, b).t(), labels)) / 2.0;
        if (aux.Heads is { } heads)
        {
            using var targets = aux.Targets(batch.Select(e => e.ImagePath).ToList(), image.device);
            loss = loss + aux.Options.SceneLoss * heads.Loss(vision.HiddenStates[sceneLayer], targets);
        }
        return new BatchLoss(loss.MoveToOuterDisposeScope(), b);
    }

    /// <summary>Validation: the contrastive loss and image→text top-1 accuracy over batches of 64.</summary>
    public (double Loss, string? Samples) Validate()
    {
        if (_validation.Count == 0) return (double.NaN, null);
        double loss = 0; int hits = 0, n = 0, batches = 0;
        foreach (var chunk in _validation.Chunk(64))
        {
            if (chunk.Length < 2) continue;
            using var scope = NewDisposeScope();
            var pixels = Pixels(chunk);
            var (ids, mask) = Texts(chunk.Select(e => e.Captions[0]).ToList());
            using var output = _model.Forward(pixels, ids, mask, returnLoss: true);
            loss += output.Loss!.item<float>();
            var best = output.LogitsPerImage.argmax(1);
            hits += (int)best.eq(arange(chunk.Length, ScalarType.Int64, best.device)).sum().item<long>();
            n += chunk.Length; batches++;
        }
        return (batches == 0 ? double.NaN : loss / batches, $"image→text top-1 {100.0 * hits / Math.Max(1, n):0.0}% of {n}");
    }

    public void SaveModel(string folder)
    {
        _model.Save(folder);
        _processor.Config.WriteHfPreprocessorConfig(Path.Combine(folder, "preprocessor_config.json"));
    }

    /// <summary>Groups LLaVA entries by image: one example per image with all its captions.</summary>
    public static IReadOnlyList<ClipExample> Group(IReadOnlyList<CaptionExample> entries) =>
        entries.GroupBy(e => e.ImagePath, StringComparer.Ordinal)
            .Select((g, i) => new ClipExample(i, g.Key, g.Select(e => e.Caption).ToList()))
            .ToList();
}

/// <summary>Runs the CLIP stage end to end.</summary>
public static class ClipTrainer
{
    public static TrainingSummary Run(ClipTrainingRequest r, IProgress<ProgressUpdate>? progress = null)
    {
        r.Trainer.Validate();
        var train = ClipTrainingTask.Group(LlavaDataset.Load(r.Data, r.Images));
        var validation = r.Validation is null ? [] : ClipTrainingTask.Group(LlavaDataset.Load(r.Validation, r.Images));
        var tokenizer = OptTokenizer.FromFolder(r.Tokenizer);
        using var model = r.Init is not null ? ClipModel.FromPretrained(r.Init, r.Device)
            : new ClipModel(r.Config, r.Device, generator: new Generator((ulong)r.Trainer.Seed));
        if (model.Config.TextConfig.VocabSize < tokenizer.VocabSize)
            throw new GlanceException($"the CLIP text tower's vocab_size {model.Config.TextConfig.VocabSize} is smaller than the tokenizer's {tokenizer.VocabSize}");
        var auxiliary = r.Auxiliary.Any
            ? ClipAuxiliary.Create(r.Auxiliary, r.Data, r.Images, model.Config.VisionConfig.GridSize, model.Config.VisionConfig.HiddenSize,
                model.logit_scale.device, r.Trainer.Seed)
            : null;
        using var task = new ClipTrainingTask(model, tokenizer, validation, r.TextLength, r.Trainer.Seed, auxiliary);
        task.Preload(train.Concat(validation).Select(e => e.ImagePath), progress);
        var options = r.Trainer with
        {
            Stage = TrainStage.Clip.Name(), ModelConfig = ConfigJson.ToObject(model.Config),
            RunSettings = r.Trainer.RunSettings.Concat(r.Auxiliary.RunSettings()).ToDictionary(kv => kv.Key, kv => kv.Value),
        };
        var trainer = new Trainer<ClipExample>(task, train, options, r.Out, "SharpGlance CLIP (contrastive)");
        return trainer.Run(progress);
    }
}
