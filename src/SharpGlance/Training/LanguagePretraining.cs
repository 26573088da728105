using SharpGlance.Captioning;
using SharpGlance.Data;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>
/// One text document: the captions of one image; <paramref name="Drafts"/>, when given, holds for each
/// line its edited drafts (pseudo-initial captions), one of which is written just before the line.
/// </summary>
public sealed record TextDocument(int Index, IReadOnlyList<string> Lines, IReadOnlyList<IReadOnlyList<string>>? Drafts = null);

/// <summary>
/// Text-only language-model pretraining of a fresh OPT on a caption corpus: the stand-in, in the synthetic
/// world, for the web-text pretraining every real OPT has had. A document is all the captions of one image,
/// one per line in a per-epoch order, so later lines repeat what earlier ones said in other words: the
/// model learns the world's language and to copy from its context — which the second glance, whose
/// prompt holds the first caption, depends on. When the file has pseudo-initial captions (`glance pseudo`),
/// each caption is preceded by one of its drafts (drawn per epoch): a near copy with a few words changed, so
/// copying the previous line is the rule and the changed words are where the text alone cannot tell;
/// a blank line separates these pairs, so the two kinds of "next line" (a copy, another phrasing) never mix.
/// Real OPT learned its copying (induction) from web text; a 2-layer model on captions alone barely does.
/// </summary>
public sealed class LanguagePretrainingTask : ITrainingTask<TextDocument>
{
    private readonly OptForCausalLM _lm;
    private readonly OptTokenizer _tokenizer;
    private readonly IReadOnlyList<TextDocument> _validation;
    private readonly long _seed;
    private readonly ClosedVocabularyIndex? _closed;

    public LanguagePretrainingTask(OptForCausalLM lm, OptTokenizer tokenizer, IReadOnlyList<TextDocument> validation, long seed,
        IReadOnlyList<int>? vocabularySubset)
    {
        _lm = lm; _tokenizer = tokenizer; _validation = validation; _seed = seed;
        TrainableParameters = lm.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        if (vocabularySubset is { } subset) _closed = new ClosedVocabularyIndex(subset, lm.Config.VocabSize, lm.Device);
    }

    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters { get; }

    public void SetTraining(bool training) => _lm.train(training);

    /// <summary>" line1\n line2\n …</s>" with the BOS: every line starts with a space, as captions follow "ASSISTANT:".</summary>
    public int[] Encode(IEnumerable<string> lines) => Encode([lines.ToList()]);

    /// <summary>Blocks of lines: lines within a block end with "\n", blocks are separated by a blank line.</summary>
    public int[] Encode(IEnumerable<IReadOnlyList<string>> blocks) =>
        _tokenizer.Encode(string.Join("\n\n", blocks.Select(b => string.Join("\n", b.Select(l => " " + PromptTemplate.Clean(l))))) + "</s>", addBos: true);

    /// <summary>
    /// The document in a random order: one block of all its captions; or, with drafts, one block per
    /// caption holding one of its drafts and then the caption, so that a line that follows a single
    /// newline is always a near copy of the line before and a new caption follows a blank line.
    /// </summary>
    public static List<IReadOnlyList<string>> Arrange(TextDocument d, Random rng)
    {
        var order = Enumerable.Range(0, d.Lines.Count).ToArray();
        rng.Shuffle(order);
        if (d.Drafts is not { } drafts) return [order.Select(i => d.Lines[i]).ToList()];
        return order.Select(i => (IReadOnlyList<string>)(drafts[i].Count > 0 ? [drafts[i][rng.Next(drafts[i].Count)], d.Lines[i]] : [d.Lines[i]])).ToList();
    }

    public BatchLoss Loss(IReadOnlyList<TextDocument> batch, int epoch)
    {
        var docs = batch.Select(d => Encode(Arrange(d, new Random(Seeds.Mix(_seed, d.Index, epoch))))).ToList();
        var (sum, n) = SumLoss(docs);
        return new BatchLoss(sum / Math.Max(1, n), n);
    }

    private (Tensor Sum, long Tokens) SumLoss(IReadOnlyList<int[]> docs)
    {
        int t = docs.Max(d => d.Length);
        long b = docs.Count;
        var ids = new long[b * t];
        var mask = new long[b * t];
        var labels = new long[b * t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++)
            {
                bool real = j < docs[i].Length;
                ids[i * t + j] = real ? docs[i][j] : _tokenizer.PadId;
                mask[i * t + j] = real ? 1 : 0;
                // Every token is a target except the BOS (nothing predicts it) and the padding.
                labels[i * t + j] = real && j > 0 ? docs[i][j] : PromptBatch.IgnoreIndex;
            }
        using var idT = tensor(ids, [b, t], device: _lm.Device);
        using var batch = new PromptBatch.Batch(_lm.Embed(idT), tensor(mask, [b, t], device: _lm.Device), tensor(labels, [b, t], device: _lm.Device));
        long n = labels.LongCount(l => l != PromptBatch.IgnoreIndex);
        return (CaptionerTrainingTask.SupervisedLoss(_lm, batch, "sum", _closed), n);
    }

    public (double Loss, string? Samples) Validate()
    {
        if (_validation.Count == 0) return (double.NaN, null);
        double total = 0; long tokens = 0;
        foreach (var chunk in _validation.Chunk(32))
        {
            using var scope = NewDisposeScope();
            var (sum, n) = SumLoss(chunk.Select(d => Encode(d.Lines)).ToList());
            total += sum.item<float>();
            tokens += n;
        }
        return (total / Math.Max(1, tokens), null);
    }

    public void SaveModel(string folder)
    {
        _lm.Save(folder);
        _tokenizer.CopyFilesTo(folder);
    }

    /// <summary>Documents from a LLaVA conversation file: the captions of each image, grouped (with their pre_captions as drafts, if any).</summary>
    public static IReadOnlyList<TextDocument> Documents(IReadOnlyList<CaptionExample> entries) =>
        entries.GroupBy(e => e.ImagePath, StringComparer.Ordinal)
            .Select((g, i) => new TextDocument(i, g.Select(e => e.Caption).ToList(),
                g.Any(e => e.PreCaptions.Count > 0) ? g.Select(e => e.PreCaptions).ToList() : null))
            .ToList();
}

/// <summary>What <c>glance train --stage lm</c> needs.</summary>
public sealed record LanguagePretrainingRequest
{
    public required string Data { get; init; }
    /// <summary>
    /// The OPT folder to start from (with vocab.json + merges.txt, or give <see cref="Tokenizer"/>); null starts
    /// from a fresh OPT of <see cref="FreshLm"/>'s shape, so the chain runs with no checkpoint from outside.
    /// </summary>
    public string? Lm { get; init; }
    /// <summary>The fresh OPT's config when <see cref="Lm"/> is null (<see cref="LanguagePretrainer.FreshConfig"/>); its weights come from the trainer's seed.</summary>
    public OptConfig? FreshLm { get; init; }
    public required string Out { get; init; }
    public string? Tokenizer { get; init; }
    public string? Validation { get; init; }
    public bool ClosedVocabulary { get; init; }
    public Device? Device { get; init; }
    public TrainerOptions Trainer { get; init; } = new();
}

public static class LanguagePretrainer
{
    /// <summary>
    /// A fresh OPT of <paramref name="width"/> and <paramref name="layers"/> over the real OPT vocabulary, shaped
    /// as the demo's tiny LM (heads of 32, FFN 4× the width, 256 positions, dropout 0.1); 128 and 2 are the demo's.
    /// </summary>
    public static OptConfig FreshConfig(int width = 128, int layers = 2) => OptConfig.Tiny with
    {
        VocabSize = 50272, HiddenSize = width, WordEmbedProjDim = width, FfnDim = 4 * width,
        NumHiddenLayers = layers, NumAttentionHeads = Math.Max(1, width / 32), MaxPositionEmbeddings = 256, Dropout = 0.1,
    };

    public static TrainingSummary Run(LanguagePretrainingRequest r, IProgress<ProgressUpdate>? progress = null)
    {
        r.Trainer.Validate();
        // Image paths only group captions here; the images themselves are never read.
        string images = Path.GetDirectoryName(Path.GetFullPath(r.Data))!;
        var train = LanguagePretrainingTask.Documents(LlavaDataset.Load(r.Data, images));
        var validation = r.Validation is null ? [] : LanguagePretrainingTask.Documents(LlavaDataset.Load(r.Validation, images));
        var tokenizer = OptTokenizer.FromFolder(r.Tokenizer ?? r.Lm ?? throw new GlanceException("a fresh language model needs a tokenizer folder (vocab.json + merges.txt)"));
        using var lm = r.Lm is not null ? OptForCausalLM.FromPretrained(r.Lm, r.Device)
            : new OptForCausalLM(r.FreshLm ?? FreshConfig(), r.Device, generator: new Generator((ulong)r.Trainer.Seed + 1));
        IReadOnlyList<int>? subset = null;
        if (r.ClosedVocabulary)
        {
            var probe = new LanguagePretrainingTask(lm, tokenizer, [], 0, null);
            // Every line's tokens, with both separators (a newline, a blank line).
            subset = train.Concat(validation).Select(d => d.Lines.Concat(d.Drafts?.SelectMany(x => x) ?? []).ToList())
                .SelectMany(lines => probe.Encode(lines).Concat(probe.Encode(lines.Select(l => (IReadOnlyList<string>)[l]))))
                .Append(tokenizer.EosId).Distinct().Order().ToList();
        }
        var task = new LanguagePretrainingTask(lm, tokenizer, validation, r.Trainer.Seed, subset);
        var options = r.Trainer with { Stage = TrainStage.Lm.Name(), ModelConfig = ConfigJson.ToObject(lm.Config) };
        return new Trainer<TextDocument>(task, train, options, r.Out, "SharpGlance language pretraining").Run(progress);
    }
}
