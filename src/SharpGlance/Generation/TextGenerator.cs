using SharpGlance.Language;
using SharpGlance.Nn;
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
        using var steps = new DecodeSteps(fullMask, p, lm.DType);
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
                    logits = StepLogits(lm, steps.Inputs(tensor(next, [b, 1], device: lm.Device), cache));
                }
            }
        }
        finally
        {
            logits.Dispose();
        }
    }

    // ---- beam search -----------------------------------------------------------------------------

    // HF beam_search / beam_sample with BeamSearchScorer, in four parts: the prefill copied to the beams,
    // the top candidates of a step, BeamSearchScorer.process choosing the next beams, and finalize.
    private static GenerationResult BeamSearch(ICausalLM lm, Tensor embeds, Tensor promptMask, GenerationOptions o, long b, long p)
    {
        int nb = o.NumBeams, maxNew = o.MaxNewTokens, v = lm.VocabSize;
        int rowsN = (int)b * nb;
        var expand = Enumerable.Range(0, rowsN).Select(r => (long)(r / nb)).ToArray();   // repeat_interleave

        var (cache, logits) = PrefillBeams(lm, embeds, promptMask, expand, p, maxNew);
        using var _cache = cache;
        using var fullMask = FullMask(promptMask, b, p, maxNew, lm.Device, expand);
        using var steps = new DecodeSteps(fullMask, p, lm.DType);
        using var rng = o.Seed is { } seed ? new torch.Generator((ulong)seed, lm.Device) : null;
        using var allowed = AllowedMask(o, v, lm.Device);

        // HF beam_search: beams after the first start at −1e9 so the first step expands beam 0 only
        // (beam_sample starts them all at 0).
        var beams = new Beams(o, (int)b, maxNew);
        try
        {
            for (int step = 0; ; step++)
            {
                int curLen = step + 1;   // new tokens the candidates' scores cover (HF: cur_len − decoder_prompt_len)
                var candidates = TopCandidates(logits, beams.Scores, o, allowed, rng, b, v);
                logits.Dispose();
                var next = beams.Process(candidates, curLen, v);
                if (beams.AllDone || curLen >= maxNew) break;

                // Beams stay within their prompt, and a prompt's beams share its prefill: only the
                // generated positions need gathering. (A finished prompt's rows get index 0, as in HF;
                // they are never read again.)
                cache.Reorder(next.Indices, fromPosition: p);
                using (NewDisposeScope())
                    logits = StepLogits(lm, steps.Inputs(tensor(next.Tokens, [rowsN, 1], device: lm.Device), cache));
            }
        }
        catch
        {
            logits.Dispose();
            throw;
        }
        return beams.Finalize();
    }

    /// <summary>
    /// The prompt's prefill once per prompt, its cache rows copied to the beams (room for
    /// <paramref name="maxNew"/> more), and the last position's logits [B·beams, V] outside every scope.
    /// </summary>
    private static (KvCache Cache, Tensor Logits) PrefillBeams(ICausalLM lm, Tensor embeds, Tensor promptMask, long[] expand, long p, int maxNew)
    {
        using var prefill = lm.NewCache(embeds.shape[0], p);
        using var promptMaskCopy = promptMask.to_type(ScalarType.Int64);
        using var first = StepLogits(lm, new OptInputs { InputsEmbeds = embeds, AttentionMask = promptMaskCopy, Cache = prefill, LastPositionOnly = true });
        var cache = prefill.SelectRows(expand, p + maxNew);
        using var idx = tensor(expand, device: first.device);
        return (cache, first.index_select(0, idx).DetachFromDisposeScope());
    }

    /// <summary>
    /// One step's 2·beams candidates per prompt, best first: log-probabilities plus the beams' scores, then
    /// topk over beams × vocabulary (beam search) or a multinomial draw sorted by score (beam sampling).
    /// Flat ids are beam · V + token.
    /// </summary>
    private static (float[] Scores, long[] Ids, int K) TopCandidates(Tensor logits, float[] beamScores, GenerationOptions o, Tensor? allowed,
        torch.Generator? rng, long b, int v)
    {
        int nb = o.NumBeams, k = 2 * nb;   // HF: max(2, 1 + number of EOS ids) * num_beams
        using var scope = NewDisposeScope();
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
        return (values.cpu().data<float>().ToArray(), indices.cpu().data<long>().ToArray(), k);
    }

    /// <summary>
    /// The beams of every prompt (their tokens and running scores) and each prompt's finished hypotheses:
    /// HF's <c>BeamSearchScorer</c>, ported line by line.
    /// </summary>
    private sealed class Beams
    {
        private readonly GenerationOptions _o;
        private readonly int _prompts, _nb, _maxNew;
        private readonly BeamHypotheses[] _hyps;
        private readonly bool[] _done;
        private List<long>[] _seqs;

        public float[] Scores { get; private set; }
        public bool AllDone => _done.All(d => d);

        public Beams(GenerationOptions o, int prompts, int maxNew)
        {
            _o = o; _prompts = prompts; _nb = o.NumBeams; _maxNew = maxNew;
            int rows = prompts * _nb;
            Scores = new float[rows];
            if (!o.DoSample)
                for (int r = 0; r < rows; r++) Scores[r] = r % _nb == 0 ? 0f : -1e9f;
            _hyps = Enumerable.Range(0, prompts).Select(_ => new BeamHypotheses(_nb, o.LengthPenalty, o.EarlyStopping, maxNew)).ToArray();
            _done = new bool[prompts];
            _seqs = Enumerable.Range(0, rows).Select(_ => new List<long>()).ToArray();
        }

        /// <summary>
        /// BeamSearchScorer.process: per prompt, the best non-EOS candidates become the next beams and an EOS
        /// among the top num_beams closes a hypothesis. Returns each row's next token and the row it extends.
        /// </summary>
        public (long[] Tokens, long[] Indices) Process((float[] Scores, long[] Ids, int K) c, int curLen, int v)
        {
            int nb = _nb, k = c.K, rows = _prompts * nb;
            var nextScores = new float[rows];
            var nextTokens = new long[rows];
            var nextIndices = new long[rows];
            for (int bi = 0; bi < _prompts; bi++)
            {
                if (_done[bi])
                {
                    for (int j = 0; j < nb; j++) { nextScores[bi * nb + j] = 0; nextTokens[bi * nb + j] = _o.PadTokenId; nextIndices[bi * nb + j] = 0; }
                    continue;
                }
                int beamIdx = 0;
                for (int rank = 0; rank < k; rank++)
                {
                    long flat = c.Ids[bi * k + rank];
                    long token = flat % v;
                    int batchBeam = bi * nb + (int)(flat / v);
                    float score = c.Scores[bi * k + rank];
                    if (_o.EosTokenId is { } eos && token == eos)
                    {
                        if (rank >= nb) continue;   // an EOS outside the top num_beams is not a hypothesis
                        _hyps[bi].Add(_seqs[batchBeam].ToArray(), score, curLen);
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
                _done[bi] = _done[bi] || _hyps[bi].IsDone(c.Scores[bi * k], curLen);   // scores come sorted
            }

            var newSeqs = new List<long>[rows];
            for (int r = 0; r < rows; r++) newSeqs[r] = new List<long>(_seqs[nextIndices[r]]) { nextTokens[r] };
            _seqs = newSeqs;
            Scores = nextScores;
            return (nextTokens, nextIndices);
        }

        /// <summary>
        /// BeamSearchScorer.finalize: open beams join their prompt's hypotheses, the best NumReturnSequences of
        /// each are returned, padded (and closed with EOS where shorter) to one width.
        /// </summary>
        public GenerationResult Finalize()
        {
            for (int bi = 0; bi < _prompts; bi++)
            {
                if (_done[bi]) continue;
                for (int j = 0; j < _nb; j++)
                {
                    int r = bi * _nb + j;
                    _hyps[bi].Add(_seqs[r].ToArray(), Scores[r], _seqs[r].Count);
                }
            }
            int nr = _o.NumReturnSequences;
            var best = new List<(double Score, long[] Tokens)>();
            for (int bi = 0; bi < _prompts; bi++)
            {
                // Python: sorted(..., key=score) (stable), then pop() from the end → highest score, the later
                // added first among equals.
                var sorted = _hyps[bi].Beams.Select((h, i) => (h, i)).OrderBy(x => x.h.Score).ThenBy(x => x.i).Select(x => x.h).ToList();
                for (int j = 0; j < nr; j++)
                {
                    best.Add(sorted[^1]);
                    sorted.RemoveAt(sorted.Count - 1);
                }
            }
            int maxLen = best.Max(x => x.Tokens.Length);
            int width = Math.Min(maxLen + 1, _maxNew);
            var result = new long[best.Count][];
            for (int i = 0; i < best.Count; i++)
            {
                var row = Enumerable.Repeat((long)_o.PadTokenId, width).ToArray();
                var toks = best[i].Tokens;
                Array.Copy(toks, row, toks.Length);
                if (toks.Length < width && _o.EosTokenId is { } eos) row[toks.Length] = eos;
                result[i] = row;
            }
            return new GenerationResult(result, best.Select(x => x.Score).ToArray());
        }
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

    /// <summary>
    /// What every decode step needs beside its tokens, made once per generation (as llama2.c's RunState
    /// allocates its buffers once): each row's positions [R, P + maxNew] and, when a prompt is padded, the
    /// additive mask [R, 1, 1, P + maxNew] in the model's dtype. A step reads views of both, so the decoder
    /// runs no cumsum, builds no mask and makes no host sync per token. Rows keep their prompt's positions
    /// and mask when beams are reordered, since beams never leave their prompt.
    /// </summary>
    private sealed class DecodeSteps : IDisposable
    {
        private readonly Tensor _positions;
        private readonly Tensor? _mask;

        public DecodeSteps(Tensor fullMask, long p, ScalarType dtype)
        {
            using var scope = NewDisposeScope();
            _positions = OptDecoder.Positions(fullMask).DetachFromDisposeScope();
            bool padded = fullMask.narrow(1, 0, p).eq(0).any().item<bool>();   // once per generation
            // One query per step sees every earlier key, so the mask is padding only (HF's combined causal
            // mask has the same entries for a single query).
            _mask = padded ? AttentionMasks.Padding(fullMask, dtype).DetachFromDisposeScope() : null;
        }

        /// <summary>The inputs feeding <paramref name="ids"/> [R, 1] after the <see cref="KvCache.Length"/> cached tokens.</summary>
        public OptInputs Inputs(Tensor ids, KvCache cache) => new()
        {
            InputIds = ids,
            PositionIds = _positions.narrow(1, cache.Length, 1),
            AdditiveMask = _mask?.narrow(3, 0, cache.Length + 1),
            Cache = cache,
            LastPositionOnly = true,
        };

        public void Dispose()
        {
            _positions.Dispose();
            _mask?.Dispose();
        }
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
