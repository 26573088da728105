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

        using var scope = NewDisposeScope();
        var device = lm.Device;
        var dtype = lm.DType;
        var embedRows = new List<Tensor>((int)b);
        var mask = zeros(b, length, ScalarType.Int64);
        var labels = targets is null ? null : full(b, length, IgnoreIndex, ScalarType.Int64);
        for (int i = 0; i < b; i++)
        {
            var (before, after, targetLength) = rows[i];
            long n = before.Length + nv + after.Length;
            long pad = length - n;
            long start = padLeft ? pad : 0;
            var parts = new List<Tensor>(4);
            if (padLeft && pad > 0) parts.Add(zeros(pad, lm.Config.EmbeddingDim, dtype, device));
            if (before.Length > 0) parts.Add(lm.Embed(tensor(before, device: device)));
            parts.Add(visual[i].to(dtype));
            if (after.Length > 0) parts.Add(lm.Embed(tensor(after, device: device)));
            if (!padLeft && pad > 0) parts.Add(zeros(pad, lm.Config.EmbeddingDim, dtype, device));
            embedRows.Add(cat(parts, 0));
            mask[i, TensorIndex.Slice(start, start + n)] = 1;
            if (labels is not null && targetLength > 0)
            {
                long tEnd = start + n;
                labels[i, TensorIndex.Slice(tEnd - targetLength, tEnd)] = tensor(after[^targetLength..]);
            }
        }
        var embeds = stack(embedRows, 0);
        return new Batch(embeds.MoveToOuterDisposeScope(), mask.to(device).MoveToOuterDisposeScope(),
            labels?.to(device).MoveToOuterDisposeScope());
    }
}
