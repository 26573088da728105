namespace SharpGlance.Generation;

/// <summary>
/// The n-best list of finished hypotheses of one prompt: a line-by-line port of transformers 4.36
/// <c>generation/beam_search.py</c> <c>BeamHypotheses</c>, kept as our own code because generations must be
/// identical to HF's, ties included. Scores are doubles computed from the float32 beam scores, as Python's
/// <c>tensor.item()</c> arithmetic does.
/// </summary>
internal sealed class BeamHypotheses
{
    private readonly int _numBeams;
    private readonly double _lengthPenalty;
    private readonly EarlyStopping _earlyStopping;
    private readonly int _maxNewTokens;
    private readonly List<(double Score, long[] Tokens)> _beams = new();
    private double _worstScore = 1e9;

    public BeamHypotheses(int numBeams, double lengthPenalty, EarlyStopping earlyStopping, int maxNewTokens)
    {
        _numBeams = numBeams; _lengthPenalty = lengthPenalty; _earlyStopping = earlyStopping; _maxNewTokens = maxNewTokens;
    }

    public int Count => _beams.Count;
    public IReadOnlyList<(double Score, long[] Tokens)> Beams => _beams;

    /// <summary>
    /// Adds a hypothesis scored sum_logprobs / generated_len^length_penalty, where generated_len counts the
    /// new tokens including a closing EOS (HF's <c>cur_len - decoder_prompt_len</c>).
    /// </summary>
    public void Add(long[] tokens, double sumLogprobs, int generatedLen)
    {
        double score = sumLogprobs / Math.Pow(generatedLen, _lengthPenalty);
        if (_beams.Count < _numBeams || score > _worstScore)
        {
            _beams.Add((score, tokens));
            if (_beams.Count > _numBeams)
            {
                // Python: sorted([(s, idx) ...]) — by score, ties by insertion index; drop the first.
                var order = Enumerable.Range(0, _beams.Count)
                    .OrderBy(i => _beams[i].Score).ThenBy(i => i).ToArray();
                double second = _beams[order[1]].Score;
                _beams.RemoveAt(order[0]);
                _worstScore = second;
            }
            else
            {
                _worstScore = Math.Min(score, _worstScore);
            }
        }
    }

    /// <summary>
    /// HF <c>is_done(best_sum_logprobs, cur_len, decoder_prompt_len)</c>, with <paramref name="curLen"/> already
    /// counted in new tokens (the length the candidate scores were computed on).
    /// </summary>
    public bool IsDone(double bestSumLogprobs, int curLen)
    {
        if (_beams.Count < _numBeams) return false;
        switch (_earlyStopping)
        {
            case EarlyStopping.True:
                return true;
            case EarlyStopping.False:
                return _worstScore >= bestSumLogprobs / Math.Pow(curLen, _lengthPenalty);
            default:
                // "never": with a positive length penalty the best attainable score uses the longest
                // possible length (max_length - decoder_prompt_len = max new tokens).
                double highest = _lengthPenalty > 0.0
                    ? bestSumLogprobs / Math.Pow(_maxNewTokens, _lengthPenalty)
                    : bestSumLogprobs / Math.Pow(curLen, _lengthPenalty);
                return _worstScore >= highest;
        }
    }
}
