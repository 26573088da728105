namespace SharpGlance.Generation;

/// <summary>
/// When beam search stops (HF <c>early_stopping</c>): <see cref="True"/> as soon as every prompt has
/// <c>num_beams</c> finished hypotheses; <see cref="False"/> (HF's default) when the best running beam, scored
/// at its current length, cannot beat the worst finished one; <see cref="Never"/> only when no better
/// hypothesis is possible at all (canonical beam search).
/// </summary>
public enum EarlyStopping
{
    False,
    True,
    Never,
}

/// <summary>
/// Decoding settings, HF <c>GenerationConfig</c> semantics (transformers 4.36, the paper's version).
/// NumBeams 1 → greedy, or sampling with <see cref="DoSample"/>; NumBeams &gt; 1 → beam search (beam
/// sampling with DoSample).
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>New tokens at most (the paper: 77).</summary>
    /// <summary>Limits (stated in `glance caption --help`): the KV cache grows with beams × tokens per image.</summary>
    public const int MaxBeams = 32, MaxTokens = 1024;
    public int MaxNewTokens { get; init; } = 77;
    public int NumBeams { get; init; } = 1;
    /// <summary>A finished beam scores sum(log p) / generated_length^LengthPenalty (0 = raw sum, the paper's).</summary>
    public double LengthPenalty { get; init; } = 1.0;
    public EarlyStopping EarlyStopping { get; init; } = EarlyStopping.False;
    /// <summary>Sequences returned per prompt (≤ NumBeams for beam search, 1 otherwise).</summary>
    public int NumReturnSequences { get; init; } = 1;
    public bool DoSample { get; init; }
    public double Temperature { get; init; } = 1.0;
    /// <summary>0 = off. (HF's GenerationConfig default is 50; set it to match HF's default sampling.)</summary>
    public int TopK { get; init; }
    public double TopP { get; init; } = 1.0;
    /// <summary>Seeds the sampler; null = torch's global generator.</summary>
    public long? Seed { get; init; }
    /// <summary>End of sequence (OPT's <c>&lt;/s&gt;</c> = 2); null = never stop early.</summary>
    public int? EosTokenId { get; init; } = 2;
    /// <summary>What finished rows are padded with (OPT's <c>&lt;pad&gt;</c> = 1).</summary>
    public int PadTokenId { get; init; } = 1;
    /// <summary>
    /// Ids ≥ this are never emitted: their scores are set to −inf, as HF's <c>suppress_tokens</c> does
    /// (OPT's weights have 50272 rows but the tokenizer only 50265 entries, SPEC §5). null = no limit.
    /// </summary>
    public int? VocabLimit { get; init; }
    /// <summary>
    /// When set, only these ids can be emitted (every other score −inf): the closed vocabulary of a model
    /// trained on a subset of the tokenizer (<c>vocabulary_subset</c> in a captioner's config). null = all.
    /// </summary>
    public IReadOnlyList<int>? AllowedTokenIds { get; init; }

    /// <summary>The paper's evaluation setting (SPEC §7): 3 beams, length_penalty 0, early stopping, 77 new tokens, stop at &lt;/s&gt;.</summary>
    public static GenerationOptions Paper => new() { NumBeams = 3, LengthPenalty = 0.0, EarlyStopping = EarlyStopping.True, MaxNewTokens = 77 };

    /// <summary>One line for logs and reports, e.g. "beam search, 3 beams, length penalty 0, at most 77 new tokens".</summary>
    public string Describe()
    {
        string search = DoSample
            ? FormattableString.Invariant($"sampling, temperature {Temperature}, top-p {TopP}") + (TopK > 0 ? $", top-k {TopK}" : "") + $", seed {Seed?.ToString() ?? "random"}"
            : NumBeams == 1 ? "greedy" : FormattableString.Invariant($"beam search, {NumBeams} beams, length penalty {LengthPenalty}");
        return $"{search}, at most {MaxNewTokens} new tokens";
    }

    /// <summary>Throws a <see cref="GlanceException"/> naming the bad option.</summary>
    public GenerationOptions Validate(int vocabSize)
    {
        if (MaxNewTokens is < 1 or > MaxTokens) throw new GlanceException($"generation: max new tokens must be 1 to {MaxTokens}, got {MaxNewTokens}");
        if (NumBeams is < 1 or > MaxBeams) throw new GlanceException($"generation: beams must be 1 to {MaxBeams}, got {NumBeams}");
        if (NumReturnSequences < 1) throw new GlanceException($"generation: return sequences must be at least 1, got {NumReturnSequences}");
        if (NumBeams == 1 && NumReturnSequences != 1)
            throw new GlanceException("generation: several return sequences need beam search (beams > 1)");
        if (NumReturnSequences > NumBeams)
            throw new GlanceException($"generation: {NumReturnSequences} return sequences exceed the {NumBeams} beams");
        if (DoSample && !(Temperature > 0)) throw new GlanceException($"generation: temperature must be positive, got {Temperature}");
        if (TopK < 0) throw new GlanceException($"generation: top-k must be ≥ 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new GlanceException($"generation: top-p must be in (0, 1], got {TopP}");
        if (double.IsNaN(LengthPenalty)) throw new GlanceException("generation: length penalty is NaN");
        if (EosTokenId is { } eos && (eos < 0 || eos >= vocabSize)) throw new GlanceException($"generation: eos id {eos} is outside the vocabulary of {vocabSize}");
        if (PadTokenId < 0) throw new GlanceException($"generation: pad id must be ≥ 0, got {PadTokenId}");
        if (VocabLimit is { } lim && (lim < 1 || lim > vocabSize))
            throw new GlanceException($"generation: vocabulary limit {lim} must be in 1..{vocabSize}");
        if (AllowedTokenIds is { } allowed)
        {
            if (allowed.Count == 0) throw new GlanceException("generation: the allowed-token list is empty");
            if (allowed.Any(i => i < 0 || i >= vocabSize)) throw new GlanceException($"generation: an allowed token id is outside the vocabulary of {vocabSize}");
            if (EosTokenId is { } e3 && !allowed.Contains(e3)) throw new GlanceException($"generation: the allowed tokens do not include the eos id {e3}");
        }
        if (VocabLimit is { } l2 && EosTokenId is { } e2 && e2 >= l2)
            throw new GlanceException($"generation: eos id {e2} is beyond the vocabulary limit {l2}");
        return this;
    }
}

/// <summary>
/// Generated token ids, new tokens only: one row per returned sequence (prompt-major: prompt 0's
/// sequences first), all rows of equal length, as HF returns them: a finished row ends with its EOS and
/// is right-padded with the pad id. <see cref="Scores"/> holds beam search's hypothesis scores
/// (HF <c>sequences_scores</c>); null for greedy and sampling.
/// </summary>
public sealed record GenerationResult(long[][] Sequences, double[]? Scores)
{
    /// <summary>Row <paramref name="i"/> up to (not including) its first EOS: the tokens to decode.</summary>
    public long[] Tokens(int i, int? eosTokenId)
    {
        var row = Sequences[i];
        int n = 0;
        while (n < row.Length && row[n] != eosTokenId) n++;
        return row[..n];
    }
}
