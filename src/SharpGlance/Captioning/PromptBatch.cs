using SharpGlance.Language;
using SharpGlance.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>
/// Splices visual embeddings into tokenised prompts (LLaVA's <c>prepare_inputs_labels_for_multimodal</c>):
/// each row's one <see cref="OptTokenizer.ImageTokenId"/> is replaced by that row's visual embeddings, the
/// rest is embedded with the LM's table, and rows are padded to one length — on the left for generation
/// (so every row's next token is at the end), on the right for training. Labels are −100 on the prompt,
/// the visual tokens and the padding.
/// </summary>
public static class PromptBatch
{
    public const long IgnoreIndex = -100;

    public sealed record Batch(Tensor InputsEmbeds, Tensor AttentionMask, Tensor? Labels) : IDisposable
    {
        public void Dispose() { InputsEmbeds.Dispose(); AttentionMask.Dispose(); Labels?.Dispose(); }
    }

    /// <param name="prompts">Per row: prompt ids holding exactly one image token.</param>
    /// <param name="targets">Per row: supervised ids following the prompt (training), or null (generation).</param>
    /// <param name="visual">[B, Nv, H] visual embeddings, row b for prompt b.</param>
    /// <param name="padLeft">Left padding (generation) or right padding (training).</param>
    public static Batch Build(OptForCausalLM lm, IReadOnlyList<int[]> prompts, IReadOnlyList<int[]>? targets, Tensor visual, bool padLeft)
    {
        long b = prompts.Count;
        if (visual.dim() != 3 || visual.shape[0] != b || visual.shape[2] != lm.Config.EmbeddingDim)
            throw new GlanceException($"prompt batch: visual embeddings have shape [{string.Join(", ", visual.shape)}], expected [{b}, N, {lm.Config.EmbeddingDim}]");
        if (targets is not null && targets.Count != b) throw new ArgumentException("one target per prompt");
        long nv = visual.shape[1];

        // Row layout: ids before the image, the image, ids after it (prompt tail + target).
        var rows = new (long[] Before, long[] After, int TargetLength)[b];
        for (int i = 0; i < b; i++)
        {
            int at = Array.IndexOf(prompts[i], OptTokenizer.ImageTokenId);
            if (at < 0 || Array.IndexOf(prompts[i], OptTokenizer.ImageTokenId, at + 1) >= 0)
                throw new GlanceException($"prompt batch: row {i} must hold exactly one image token");
            var target = targets?[i] ?? [];
            rows[i] = (prompts[i][..at].Select(x => (long)x).ToArray(),
                       prompts[i][(at + 1)..].Concat(target).Select(x => (long)x).ToArray(),
                       target.Length);
        }
        long length = rows.Max(r => r.Before.Length + nv + r.After.Length);
        long h = lm.Config.EmbeddingDim;

        // One gather builds the whole batch: a table of every text token's embedding (one embedding
        // lookup for the batch), every visual row and one zero row for padding, and an index of which
        // table row goes where. Backward is then one index_add, not one dense vocabulary-sized gradient
        // per row and piece (which cost more than the model's own backward in training).
        var textIds = rows.SelectMany(r => r.Before.Concat(r.After)).ToArray();
        long textCount = textIds.Length, visualBase = textCount, zeroRow = textCount + b * nv;
        var index = new long[b * length];
        var mask = new long[b * length];
        var labels = targets is null ? null : new long[b * length];
        if (labels is not null) Array.Fill(labels, IgnoreIndex);
        long nextText = 0;
        for (int i = 0; i < b; i++)
        {
            var (before, after, targetLength) = rows[i];
            long n = before.Length + nv + after.Length;
            long start = padLeft ? length - n : 0;
            long row = (long)i * length;
            for (long t = 0; t < length; t++) index[row + t] = zeroRow;
            long p = start;
            for (int j = 0; j < before.Length; j++) index[row + p++] = nextText++;
            for (long v = 0; v < nv; v++) index[row + p++] = visualBase + i * nv + v;
            for (int j = 0; j < after.Length; j++) index[row + p++] = nextText++;
            for (long t = start; t < start + n; t++) mask[row + t] = 1;
            if (labels is not null)
                for (int j = 0; j < targetLength; j++)
                    labels[row + start + n - targetLength + j] = after[after.Length - targetLength + j];
        }

        using var scope = NewDisposeScope();
        var device = lm.Device;
        var dtype = lm.DType;
        var parts = new List<Tensor>(3);
        if (textCount > 0) parts.Add(lm.Embed(tensor(textIds, device: device)));
        parts.Add(visual.to(dtype).reshape(b * nv, h));
        parts.Add(zeros(1, h, dtype, device));
        var table = cat(parts, 0);
        var embeds = table.index_select(0, tensor(index, device: device)).view(b, length, h);
        var maskT = tensor(mask, [b, length], device: device);
        var labelsT = labels is null ? null : tensor(labels, [b, length], device: device);
        return new Batch(embeds.MoveToOuterDisposeScope(), maskT.MoveToOuterDisposeScope(), labelsT?.MoveToOuterDisposeScope());
    }
}
