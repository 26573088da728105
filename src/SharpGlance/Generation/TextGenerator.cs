using SharpGlance.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Generation;

/// <summary>
/// Decoding over a causal LM (<see cref="ICausalLM"/>: OPT, Llama) with HF transformers 4.36 semantics (the paper's version):
/// greedy, multinomial sampling (temperature → top-k → top-p), beam search and beam sampling. The prompt
/// (visual embeddings + text, left-padded) is run once (prefill) into a preallocated <see cref="KvCache"/>;
/// each later step feeds one token per row. Beam search runs the prefill once per prompt and copies its
/// cache rows to the beams, where HF repeats the prompt per beam first — the same numbers, 1/num_beams of
/// the cost. Beam bookkeeping (BeamSearchScorer.process/finalize, BeamHypotheses) is ported line by line
/// so that generations equal HF's, ties included.
/// </summary>
public static class TextGenerator
{
    /// <summary>
    /// Generates from a prefix of embeddings: <paramref name="inputsEmbeds"/> [B, T, word_embed_proj_dim] and
    /// <paramref name="attentionMask"/> [B, T] (1 = token, left padding 0). Returns the new tokens of each
    /// returned sequence (B × NumReturnSequences rows, see <see cref="GenerationResult"/>).
    /// </summary>
    public static long[][] Generate(ICausalLM lm, Tensor inputsEmbeds, Tensor attentionMask, GenerationOptions options) =>
        Run(lm, inputsEmbeds, attentionMask, options).Sequences;

    /// <summary>As <see cref="Generate"/> from token ids [B, T] (mask null = no padding).</summary>
    public static long[][] GenerateFromIds(ICausalLM lm, Tensor inputIds, Tensor? attentionMask, GenerationOptions options) =>
        RunFromIds(lm, inputIds, attentionMask, options).Sequences;

    public static GenerationResult RunFromIds(ICausalLM lm, Tensor inputIds, Tensor? attentionMask, GenerationOptions options)
    {
        if (inputIds.dim() != 2) throw new GlanceException($"generation: input_ids has shape [{string.Join(", ", inputIds.shape)}], expected [B, T]");
        using var _ = no_grad();
        using var scope = NewDisposeScope();   // the result is managed arrays: every tensor made here can go
        var embeds = lm.Embed(inputIds.to(lm.Device));
        var mask = attentionMask ?? ones(inputIds.shape, ScalarType.Int64, lm.Device);
        return Run(lm, embeds, mask, options);
    }

    /// <summary>As <see cref="Generate"/>, also returning beam scores.</summary>
    public static GenerationResult Run(ICausalLM lm, Tensor inputsEmbeds, Tensor attentionMask, GenerationOptions options)
    {
        options.Validate(lm.VocabSize);
        var (b, p) = CheckPrompt(lm, inputsEmbeds, attentionMask);
        bool wasTraining = lm.training;
        lm.eval();
        try
        {
            using var _ = no_grad();
            if (options.NumBeams == 1)
            {
                var rows = Enumerable.Range(0, (int)b).Select(_ => new List<long>()).ToArray();
                foreach (var step in Decode(lm, inputsEmbeds, attentionMask, options, b, p))
                    for (int i = 0; i < b; i++) rows[i].Add(step[i]);
                return new GenerationResult(rows.Select(r => r.ToArray()).ToArray(), null);
            }
            return BeamSearch(lm, inputsEmbeds, attentionMask, options, b, p);
        }
        finally
        {
            if (wasTraining) lm.train();
        }
    }

    /// <summary>
    /// Greedy or sampled decoding (NumBeams 1) as a stream: one token per row per step, finished rows
    /// yielding the pad id, until every row has finished or MaxNewTokens steps. The model stays in eval
    /// mode while the stream is read.
    /// </summary>
    public static IEnumerable<long[]> Stream(ICausalLM lm, Tensor inputsEmbeds, Tensor attentionMask, GenerationOptions options)
    {
        options.Validate(lm.VocabSize);
        if (options.NumBeams != 1) throw new GlanceException("generation: streaming needs beams = 1 (beam search picks its result at the end)");
        var (b, p) = CheckPrompt(lm, inputsEmbeds, attentionMask);
        return StreamCore(lm, inputsEmbeds, attentionMask, options, b, p);
    }

    private static IEnumerable<long[]> StreamCore(ICausalLM lm, Tensor inputsEmbeds, Tensor attentionMask, GenerationOptions options, long b, long p)
    {
        bool wasTraining = lm.training;
        lm.eval();
        try
        {
            foreach (var step in Decode(lm, inputsEmbeds, attentionMask, options, b, p)) yield return step;
        }
        finally
        {
            if (wasTraining) lm.train();
        }
    }

    private static (long b, long p) CheckPrompt(ICausalLM lm, Tensor embeds, Tensor mask)
    {
        int e = lm.EmbeddingDim;
        if (embeds.dim() != 3 || embeds.shape[2] != e)
            throw new GlanceException($"generation: inputs_embeds has shape [{string.Join(", ", embeds.shape)}], expected [B, T, {e}]");
        long b = embeds.shape[0], p = embeds.shape[1];
        if (b == 0 || p == 0) throw new GlanceException("generation: empty prompt");
        if (mask.dim() != 2 || mask.shape[0] != b || mask.shape[1] != p)
            throw new GlanceException($"generation: attention_mask has shape [{string.Join(", ", mask.shape)}], expected [{b}, {p}]");
        using (no_grad())
        {
            using var last = mask.select(1, p - 1);
            using var zero = last.eq(0);
            if (zero.any().item<bool>())
                throw new GlanceException("generation: the prompt batch must be left-padded (the last position of a row is padding)");
        }
        return (b, p);
    }

    // ---- greedy and sampling --------------------------------------------------------------------

    // An iterator: no dispose scope and no no_grad() block spans a `yield`, since both are thread-local
    // stacks that the consumer's code between steps must not see.
    private static IEnumerable<long[]> Decode(ICausalLM lm, Tensor embeds, Tensor promptMask, GenerationOptions o, long b, long p)
    {
        int maxNew = o.MaxNewTokens;
        using var cache = lm.NewCache(b, p + maxNew);
        using var fullMask = FullMask(promptMask, b, p, maxNew, lm.Device, null);
        using var rng = o.Seed is { } seed ? new torch.Generator((ulong)seed, lm.Device) : null;
        using var allowed = AllowedMask(o, lm.VocabSize, lm.Device);
        var unfinished = Enumerable.Repeat(true, (int)b).ToArray();
        Tensor logits;
        using (no_grad())
        using (var promptView = fullMask.narrow(1, 0, p))
            logits = StepLogits(lm, new OptInputs { InputsEmbeds = embeds, AttentionMask = promptView, Cache = cache, LastPositionOnly = true });
        try
        {
            for (int step = 0; step < maxNew; step++)
            {
                long[] next;
                using (no_grad())
                using (NewDisposeScope())
                {
                    var scores = Suppress(logits, o.VocabLimit, allowed);
                    Tensor chosen;
                    if (o.DoSample)
                    {
                        scores = Warp(scores, o, minTokensToKeep: 1);
                        chosen = nn.functional.softmax(scores, -1).multinomial(1, false, rng).squeeze(1);
                    }
                    else chosen = scores.argmax(-1);    // ties → the lowest id, as torch.argmax
                    next = chosen.cpu().data<long>().ToArray();
                }
                logits.Dispose();
                bool any = false;
                for (int i = 0; i < b; i++)
                {
                    if (!unfinished[i]) next[i] = o.PadTokenId;
                    else if (next[i] == o.EosTokenId) unfinished[i] = false;
                    any |= unfinished[i];
                }
                yield return next;
                if (!any || step == maxNew - 1) yield break;
                using (no_grad())
                using (NewDisposeScope())
                {
                    var ids = tensor(next, [b, 1], device: lm.Device);
                    logits = StepLogits(lm, new OptInputs { InputIds = ids, AttentionMask = fullMask.narrow(1, 0, p + step + 1), Cache = cache, LastPositionOnly = true });
                }
            }
        }
        finally
        {
            logits.Dispose();
        }
    }

    // ---- beam search -----------------------------------------------------------------------------

    private static GenerationResult BeamSearch(ICausalLM lm, Tensor embeds, Tensor promptMask, GenerationOptions o, long b, long p)
    {
        int nb = o.NumBeams, maxNew = o.MaxNewTokens, v = lm.VocabSize;
        int rowsN = (int)b * nb;
        var expand = Enumerable.Range(0, rowsN).Select(r => (long)(r / nb)).ToArray();   // repeat_interleave

        // Prefill once per prompt, then copy each prompt's cache rows to its beams.
        KvCache cache;
        Tensor logits;
        using (var prefill = lm.NewCache(b, p))
        using (var promptMaskCopy = promptMask.to_type(ScalarType.Int64))
        {
            using var first = StepLogits(lm, new OptInputs { InputsEmbeds = embeds, AttentionMask = promptMaskCopy, Cache = prefill, LastPositionOnly = true });
            cache = prefill.SelectRows(expand, p + maxNew);
            using var idx = tensor(expand, device: first.device);
            logits = first.index_select(0, idx).DetachFromDisposeScope();
        }
        using var _cache = cache;
        using var fullMask = FullMask(promptMask, b, p, maxNew, lm.Device, expand);
        using var rng = o.Seed is { } seed ? new torch.Generator((ulong)seed, lm.Device) : null;
        using var allowed = AllowedMask(o, v, lm.Device);

        // HF beam_search: beams after the first start at −1e9 so the first step expands beam 0 only
        // (beam_sample starts them all at 0).
        var beamScores = new float[rowsN];
        if (!o.DoSample)
            for (int r = 0; r < rowsN; r++) beamScores[r] = r % nb == 0 ? 0f : -1e9f;
        var hyps = Enumerable.Range(0, (int)b).Select(_ => new BeamHypotheses(nb, o.LengthPenalty, o.EarlyStopping, maxNew)).ToArray();
        var done = new bool[b];
        var seqs = Enumerable.Range(0, rowsN).Select(_ => new List<long>()).ToArray();
        int k = 2 * nb;   // HF: max(2, 1 + number of EOS ids) * num_beams
        try
        {
            for (int step = 0; ; step++)
            {
                int curLen = step + 1;   // new tokens the candidates' scores cover (HF: cur_len − decoder_prompt_len)
                float[] topScores;
                long[] topIds;
                using (NewDisposeScope())
                {
                    var logp = nn.functional.log_softmax(logits, -1);
                    logp = Suppress(logp, o.VocabLimit, allowed);
                    var scores = logp + tensor(beamScores, device: logp.device).unsqueeze(1);
                    Tensor values, indices;
                    if (o.DoSample)
                    {
                        scores = Warp(scores, o, minTokensToKeep: 2).view(b, (long)nb * v);
                        var probs = nn.functional.softmax(scores, -1);
                        var sampled = probs.multinomial(k, false, rng);
                        var sampledScores = scores.gather(1, sampled);
                        (values, var order) = sampledScores.sort(1, true);
                        indices = sampled.gather(1, order);
                    }
                    else
                    {
                        (values, indices) = scores.view(b, (long)nb * v).topk(k, 1, true, true);
                    }
                    topScores = values.cpu().data<float>().ToArray();
                    topIds = indices.cpu().data<long>().ToArray();
                }
                logits.Dispose();

                // BeamSearchScorer.process
                var nextScores = new float[rowsN];
                var nextTokens = new long[rowsN];
                var nextIndices = new long[rowsN];
                for (int bi = 0; bi < b; bi++)
                {
                    if (done[bi])
                    {
                        for (int j = 0; j < nb; j++) { nextScores[bi * nb + j] = 0; nextTokens[bi * nb + j] = o.PadTokenId; nextIndices[bi * nb + j] = 0; }
                        continue;
                    }
                    int beamIdx = 0;
                    for (int rank = 0; rank < k; rank++)
                    {
                        long flat = topIds[bi * k + rank];
                        long token = flat % v;
                        int batchBeam = bi * nb + (int)(flat / v);
                        float score = topScores[bi * k + rank];
                        if (o.EosTokenId is { } eos && token == eos)
                        {
                            if (rank >= nb) continue;   // an EOS outside the top num_beams is not a hypothesis
                            hyps[bi].Add(seqs[batchBeam].ToArray(), score, curLen);
                        }
                        else
                        {
                            nextScores[bi * nb + beamIdx] = score;
                            nextTokens[bi * nb + beamIdx] = token;
                            nextIndices[bi * nb + beamIdx] = batchBeam;
                            beamIdx++;
                        }
                        if (beamIdx == nb) break;
                    }
                    if (beamIdx < nb) throw new InvalidOperationException($"beam search: fewer than {nb} non-EOS candidates among {k}");
                    done[bi] = done[bi] || hyps[bi].IsDone(topScores[bi * k], curLen);   // scores come sorted
                }

                var newSeqs = new List<long>[rowsN];
                for (int r = 0; r < rowsN; r++)
                {
                    newSeqs[r] = new List<long>(seqs[nextIndices[r]]) { nextTokens[r] };
                }
                seqs = newSeqs;
                beamScores = nextScores;
                if (done.All(d => d) || curLen >= maxNew) break;

                // Beams stay within their prompt, and a prompt's beams share its prefill: only the
                // generated positions need gathering. (A finished prompt's rows get index 0, as in HF;
                // they are never read again.)
                cache.Reorder(nextIndices, fromPosition: p);
                using (NewDisposeScope())
                {
                    var ids = tensor(nextTokens, [rowsN, 1], device: lm.Device);
                    logits = StepLogits(lm, new OptInputs { InputIds = ids, AttentionMask = fullMask.narrow(1, 0, p + curLen), Cache = cache, LastPositionOnly = true });
                }
            }
        }
        catch
        {
            logits.Dispose();
            throw;
        }

        // BeamSearchScorer.finalize
        for (int bi = 0; bi < b; bi++)
        {
            if (done[bi]) continue;
            for (int j = 0; j < nb; j++)
            {
                int r = bi * nb + j;
                hyps[bi].Add(seqs[r].ToArray(), beamScores[r], seqs[r].Count);
            }
        }
        int nr = o.NumReturnSequences;
        var best = new List<(double Score, long[] Tokens)>();
        for (int bi = 0; bi < b; bi++)
        {
            // Python: sorted(..., key=score) (stable), then pop() from the end → highest score, the later
            // added first among equals.
            var sorted = hyps[bi].Beams.Select((h, i) => (h, i)).OrderBy(x => x.h.Score).ThenBy(x => x.i).Select(x => x.h).ToList();
            for (int j = 0; j < nr; j++)
            {
                best.Add(sorted[^1]);
                sorted.RemoveAt(sorted.Count - 1);
            }
        }
        int maxLen = best.Max(x => x.Tokens.Length);
        int width = Math.Min(maxLen + 1, maxNew);
        var result = new long[best.Count][];
        for (int i = 0; i < best.Count; i++)
        {
            var row = Enumerable.Repeat((long)o.PadTokenId, width).ToArray();
            var toks = best[i].Tokens;
            Array.Copy(toks, row, toks.Length);
            if (toks.Length < width && o.EosTokenId is { } eos) row[toks.Length] = eos;
            result[i] = row;
        }
        return new GenerationResult(result, best.Select(x => x.Score).ToArray());
    }

    // ---- shared pieces ---------------------------------------------------------------------------

    /// <summary>[B·repeat, P + maxNew] int64: the prompt mask (rows expanded to beams) and ones for new tokens.</summary>
    private static Tensor FullMask(Tensor promptMask, long b, long p, int maxNew, Device device, long[]? rows)
    {
        using var scope = NewDisposeScope();
        var pm = promptMask.to(ScalarType.Int64, device);
        if (rows is not null) pm = pm.index_select(0, tensor(rows, device: device));
        var full = ones([pm.shape[0], p + maxNew], ScalarType.Int64, device);
        full.narrow(1, 0, p).copy_(pm);
        return full.DetachFromDisposeScope();
    }

    /// <summary>One forward; the last position's logits as float32 [B, V], outside every dispose scope.</summary>
    private static Tensor StepLogits(ICausalLM lm, OptInputs inputs)
    {
        using var scope = NewDisposeScope();
        using var output = lm.forward(inputs);
        var logits = output.Logits.select(1, 0).to_type(ScalarType.Float32);
        return logits.contiguous().DetachFromDisposeScope();
    }

    /// <summary>Ids ≥ the vocabulary limit get −inf (HF <c>SuppressTokensLogitsProcessor</c>).</summary>
    private static Tensor Suppress(Tensor scores, int? limit, Tensor? allowed)
    {
        long v = scores.shape[^1];
        if (allowed is not null) scores = scores + allowed;
        if (limit is not { } l || l >= v) return scores;
        var s = allowed is null ? scores.clone() : scores;
        s.narrow(-1, l, v - l).fill_(double.NegativeInfinity);
        return s;
    }

    /// <summary>
    /// [V] additive mask: 0 for <see cref="GenerationOptions.AllowedTokenIds"/>, −inf elsewhere (built once
    /// per generation, not per step); null when every id is allowed.
    /// </summary>
    private static Tensor? AllowedMask(GenerationOptions o, long vocab, Device device)
    {
        if (o.AllowedTokenIds is not { } ids) return null;
        var mask = full(vocab, double.NegativeInfinity, ScalarType.Float32, device);
        using var index = tensor(ids.Select(i => (long)i).ToArray(), device: device);
        mask.index_fill_(0, index, 0.0);
        return mask;
    }

    /// <summary>HF 4.36 logits warpers in their order: temperature, top-k, top-p.</summary>
    internal static Tensor Warp(Tensor scores, GenerationOptions o, int minTokensToKeep)
    {
        if (o.Temperature != 1.0) scores = scores / o.Temperature;
        long v = scores.shape[^1];
        if (o.TopK > 0)
        {
            long topK = Math.Min(Math.Max(o.TopK, minTokensToKeep), v);
            var kth = scores.topk((int)topK, -1).values.narrow(-1, topK - 1, 1);
            scores = scores.masked_fill(scores.lt(kth), double.NegativeInfinity);
        }
        if (o.TopP < 1.0)
        {
            var (sorted, sortedIdx) = scores.sort(-1, false);
            var cumulative = nn.functional.softmax(sorted, -1).cumsum(-1);
            var remove = cumulative.le(1 - o.TopP);
            remove.narrow(-1, v - minTokensToKeep, minTokensToKeep).fill_(false);
            var toRemove = remove.scatter(-1, sortedIdx, remove);
            scores = scores.masked_fill(toRemove, double.NegativeInfinity);
        }
        return scores;
    }
}
