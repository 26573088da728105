using SharpGlance.Llm;

namespace SharpGlance.Evaluation.Judges;

/// <summary>How a judge run is sized and sampled.</summary>
public sealed record JudgeOptions
{
    /// <summary>Runs with seeds FirstSeed..FirstSeed+Seeds-1 (the paper: 10), each scoring every sample.</summary>
    public int Seeds { get; init; } = 1;
    public int FirstSeed { get; init; } = 0;
    /// <summary>Images judged: a seeded random subset of this size (the paper: 100); 0 or null = all.</summary>
    public int? Samples { get; init; } = 100;
    public int SampleSeed { get; init; } = 0;
    /// <summary>Requests in flight at once.</summary>
    public int Concurrency { get; init; } = 4;
    /// <summary>Overrides the judge's own temperature (CLAIR 0, MLLM-as-judge 0.9).</summary>
    public double? Temperature { get; init; }
    /// <summary>Times one sample is asked while its replies do not parse (clair.py: 3).</summary>
    public int ParseAttempts { get; init; } = 3;
}

/// <summary>One judged (image, seed): a score and the judge's reason, or why there is none.</summary>
public sealed record JudgeVerdict(string ImageId, int Seed, double? Score, string? Reason, string? Error, int Calls);

/// <summary>
/// A judge run as the paper reports it: per seed the mean over the judged images, then the mean ± standard
/// deviation of those per-seed means (population std, numpy's default). Everything that went wrong is
/// counted: replies that never parsed (<see cref="Malformed"/>, left out of the means), calls that failed
/// after the client's retries (<see cref="Failed"/>), and every retried error by kind.
/// </summary>
public sealed record JudgeReport(
    string Judge,
    string Model,
    int Samples,
    IReadOnlyList<int> Seeds,
    double Mean,
    double Std,
    IReadOnlyList<double> SeedMeans,
    int Scored,
    int Malformed,
    int Failed,
    int Calls,
    IReadOnlyDictionary<string, int> Errors,
    bool ImagesSent,
    double MinScore,
    double MaxScore,
    IReadOnlyList<JudgeVerdict> Verdicts);

/// <summary>
/// Runs a <see cref="CaptionJudge"/> over samples × seeds through the one <see cref="ChatClient"/> (which
/// retries 429/5xx/timeouts with back-off and honours Retry-After). No single failure ends the run.
/// </summary>
public static class JudgeRunner
{
    public static async Task<JudgeReport> RunAsync(CaptionJudge judge, ChatClient client, string model, IReadOnlyList<JudgeSample> samples,
        JudgeOptions? options = null, IProgress<ProgressUpdate>? progress = null, CancellationToken cancel = default)
    {
        options ??= new JudgeOptions();
        if (options.Seeds < 1) throw new GlanceException("--judge-seeds must be at least 1");
        if (options.Concurrency < 1) throw new GlanceException("judge concurrency must be at least 1");
        var chosen = Choose(samples, options);
        var seeds = Enumerable.Range(options.FirstSeed, options.Seeds).ToList();
        double temperature = options.Temperature ?? judge.DefaultTemperature;

        // The image goes along only for a judge that looks at it, and only when the file is there.
        var imageUrls = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var s in chosen)
            imageUrls[s.ImageId] = judge.UsesImage && s.ImagePath is { } p && File.Exists(p) ? ChatMessage.ImageDataUri(p) : null;

        var jobs = chosen.SelectMany(s => seeds.Select(seed => (Sample: s, Seed: seed))).ToList();
        var verdicts = new JudgeVerdict[jobs.Count];
        var errors = new Dictionary<string, int>(StringComparer.Ordinal);
        int done = 0, calls = 0;
        using var gate = new SemaphoreSlim(options.Concurrency);
        var tasks = jobs.Select(async (job, index) =>
        {
            await gate.WaitAsync(cancel).ConfigureAwait(false);
            try
            {
                var messages = judge.Prompt(job.Sample, imageUrls[job.Sample.ImageId]);
                JudgeVerdict? verdict = null;
                int used = 0;
                for (int attempt = 1; attempt <= Math.Max(1, options.ParseAttempts) && verdict is null; attempt++)
                {
                    var result = await client.CompleteAsync(messages, temperature, job.Seed, judge.MaxTokens, cancel, judge.TopP).ConfigureAwait(false);
                    used += result.Attempts;
                    lock (errors) foreach (var e in result.RetriedErrors) Count(errors, e);
                    // A reply that is not a chat completion, or whose text does not parse, is asked again.
                    bool malformedBody = !result.Ok && result.Error!.StartsWith("malformed", StringComparison.Ordinal);
                    if (!result.Ok && !malformedBody)
                    {
                        lock (errors) Count(errors, result.Error!);
                        verdict = new JudgeVerdict(job.Sample.ImageId, job.Seed, null, null, result.Error, used);
                    }
                    else if (result.Ok && judge.TryParse(result.Text!, out double score, out string? reason))
                        verdict = new JudgeVerdict(job.Sample.ImageId, job.Seed, score, reason, null, used);
                    else
                    {
                        lock (errors) Count(errors, "malformed reply");
                        if (attempt >= Math.Max(1, options.ParseAttempts))
                            verdict = new JudgeVerdict(job.Sample.ImageId, job.Seed, null, null,
                                result.Ok ? "malformed reply: " + Snippet(result.Text!) : result.Error, used);
                    }
                }
                verdicts[index] = verdict!;
                Interlocked.Add(ref calls, used);
                int n = Interlocked.Increment(ref done);
                progress?.Report(new ProgressUpdate(n, jobs.Count, judge.Name));
            }
            finally { gate.Release(); }
        }).ToList();
        await Task.WhenAll(tasks).ConfigureAwait(false);

        var seedMeans = seeds
            .Select(seed => verdicts.Where(v => v.Seed == seed && v.Score is not null).Select(v => v.Score!.Value).ToArray())
            .Where(scores => scores.Length > 0)
            .Select(scores => Numpy.Mean(scores))
            .ToList();
        double mean = seedMeans.Count > 0 ? Numpy.Mean(seedMeans.ToArray()) : double.NaN;
        double std = seedMeans.Count > 0 ? Math.Sqrt(Numpy.Mean(seedMeans.Select(m => (m - mean) * (m - mean)).ToArray())) : double.NaN;
        return new JudgeReport(
            judge.Name, model, chosen.Count, seeds, mean, std, seedMeans,
            Scored: verdicts.Count(v => v.Score is not null),
            Malformed: verdicts.Count(v => v.Error?.StartsWith("malformed", StringComparison.Ordinal) == true),
            Failed: verdicts.Count(v => v.Error is not null && !v.Error.StartsWith("malformed", StringComparison.Ordinal)),
            Calls: calls,
            Errors: errors,
            ImagesSent: imageUrls.Values.Any(u => u is not null),
            judge.MinScore, judge.MaxScore, verdicts);
    }

    /// <summary>The samples to judge: all, or a seeded random subset kept in evaluation order.</summary>
    public static List<JudgeSample> Choose(IReadOnlyList<JudgeSample> samples, JudgeOptions options)
    {
        if (options.Samples is not { } n || n <= 0 || n >= samples.Count) return samples.ToList();
        var order = Enumerable.Range(0, samples.Count).ToArray();
        new Random(options.SampleSeed).Shuffle(order);
        var picked = new HashSet<int>(order.Take(n));
        return samples.Where((_, i) => picked.Contains(i)).ToList();
    }

    /// <summary>Errors are counted by kind: "HTTP 429", "HTTP 500", "timeout", "connection failed", "malformed reply".</summary>
    private static void Count(Dictionary<string, int> errors, string error)
    {
        string kind = error.StartsWith("HTTP ", StringComparison.Ordinal) ? string.Join(' ', error.Split(' ').Take(2))
            : error.StartsWith("timed out", StringComparison.Ordinal) ? "timeout"
            : error.StartsWith("connection failed", StringComparison.Ordinal) ? "connection failed"
            : error.StartsWith("malformed", StringComparison.Ordinal) ? "malformed reply"
            : error;
        errors[kind] = errors.GetValueOrDefault(kind) + 1;
    }

    private static string Snippet(string text)
    {
        var oneLine = text.ReplaceLineEndings(" ").Trim();
        return oneLine.Length <= 80 ? oneLine : oneLine[..77] + "...";
    }
}
