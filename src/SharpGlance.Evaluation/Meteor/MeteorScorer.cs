namespace SharpGlance.Evaluation.Meteor;

/// <summary>Where METEOR's language resources come from.</summary>
public sealed record MeteorOptions
{
    /// <summary>A Meteor paraphrase table (<c>paraphrase-en.gz</c>, as shipped with coco-caption's jar).
    /// Null: no paraphrase module (exact, stem and synonym only) — scores then run a little below the jar's.</summary>
    public string? ParaphraseTable { get; init; }

    /// <summary>WordNet 3.0 dictionary folder (Debian <c>wordnet-base</c>).</summary>
    public string WordNetDir { get; init; } = "/usr/share/wordnet";
}

/// <summary>One image: the candidate caption and its references, as coco-caption passes them to the jar
/// (PTB-tokenised, lower-cased, space-joined).</summary>
public sealed record MeteorSegment(string Candidate, IReadOnlyList<string> References);

/// <summary><paramref name="Corpus"/>: METEOR from the summed statistics of all segments (what coco-caption
/// reports, not the mean of <paramref name="PerSegment"/>).</summary>
public sealed record MeteorResult(double Corpus, double[] PerSegment, bool ParaphraseEnabled)
{
    /// <summary>Each segment's statistics and the scoring parameters, from which any multiset of the segments has a corpus score (<see cref="FromStatistics"/>).</summary>
    internal IReadOnlyList<MeteorStats> Statistics { get; init; } = [];
    internal MeteorParameters? Parameters { get; init; }

    /// <summary>
    /// The corpus METEOR of the segments <paramref name="segments"/> (indices, repeats allowed: a bootstrap
    /// resample): their statistics added up in the given order (<see cref="MeteorStats.Add"/>) and scored.
    /// Over every segment once, in order, it is <see cref="Corpus"/> exactly.
    /// </summary>
    public double FromStatistics(IReadOnlyList<int> segments)
    {
        var total = new MeteorStats();
        foreach (int i in segments) total.Add(Statistics[i]);
        return total.Compute(Parameters ?? throw new InvalidOperationException("no METEOR parameters recorded"));
    }
}

/// <summary>
/// METEOR 1.5 exactly as coco-caption runs it: <c>java -jar meteor-1.5.jar - - -stdio -l en -norm</c>, one
/// <c>SCORE ||| ref1 ||| … ||| hyp</c> line per image, then one <c>EVAL</c> line with every image's
/// statistics, answered by each image's score and the corpus score (SPEC §12).
/// </summary>
/// <remarks>
/// <para>Per image: the wrapper's clean-up of the hypothesis (<c>|||</c> removed, double spaces halved),
/// the jar's split of the line on <c>|||</c> (so a reference containing <c>|||</c> becomes two),
/// Meteor's English normalisation and lower-casing (<see cref="MeteorNormalizer"/>), alignment against each
/// reference (<see cref="MeteorAligner"/>), and the reference with the highest score kept (first on ties).
/// The corpus score adds those statistics up (<see cref="MeteorStats.Add"/>) and scores the sum.</para>
/// <para>Images are scored in parallel; each image's result is independent of the others and the sums run
/// in input order, so results are deterministic.</para>
/// </remarks>
public sealed class MeteorScorer
{
    private readonly MeteorAligner aligner;
    private readonly MeteorParameters parameters;
    private readonly bool paraphraseEnabled;

    private MeteorScorer(MeteorAligner aligner, MeteorParameters parameters, bool paraphraseEnabled)
    {
        this.aligner = aligner;
        this.parameters = parameters;
        this.paraphraseEnabled = paraphraseEnabled;
    }

    /// <summary>Loads WordNet (and the paraphrase table when given; both cached per path) and checks them.</summary>
    public static MeteorScorer Create(MeteorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var synonyms = WordNetSynonyms.Load(options.WordNetDir);
        var paraphrases = string.IsNullOrEmpty(options.ParaphraseTable) ? null : ParaphraseTable.Load(options.ParaphraseTable);
        var aligner = new MeteorAligner(synonyms, paraphrases);
        return new MeteorScorer(aligner, MeteorParameters.EnglishRank(aligner.ModuleCount), paraphrases is not null);
    }

    public MeteorResult Score(IReadOnlyList<MeteorSegment> segments, IProgress<ProgressUpdate>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(segments);
        for (int i = 0; i < segments.Count; i++)
        {
            var s = segments[i] ?? throw new ArgumentException($"segment {i} is null", nameof(segments));
            if (s.Candidate is null || s.References is null || s.References.Any(r => r is null))
                throw new ArgumentException($"segment {i} has a null candidate or reference", nameof(segments));
        }

        var stats = new MeteorStats[segments.Count];
        long done = 0;
        int every = Math.Max(1, segments.Count / 100);
        progress?.Report(new ProgressUpdate(0, segments.Count, "METEOR"));
        Parallel.For(0, segments.Count, i =>
        {
            stats[i] = ScoreSegment(segments[i]);
            long d = Interlocked.Increment(ref done);
            if (progress is not null && (d % every == 0 || d == segments.Count))
                progress.Report(new ProgressUpdate(d, segments.Count, "METEOR"));
        });

        // The EVAL line: each segment's score from its statistics, then the score of their sum.
        var perSegment = new double[stats.Length];
        var total = new MeteorStats();
        for (int i = 0; i < stats.Length; i++)
        {
            perSegment[i] = stats[i].Compute(parameters);
            total.Add(stats[i]);
        }
        return new MeteorResult(total.Compute(parameters), perSegment, paraphraseEnabled) { Statistics = stats, Parameters = parameters };
    }

    /// <summary>The SCORE step for one image: the best reference's statistics.</summary>
    internal MeteorStats ScoreSegment(MeteorSegment segment)
    {
        var (test, references) = CocoProtocol(segment);
        var words1 = Tokens(test);
        MeteorStats? best = null;
        double bestScore = -1;
        foreach (var reference in references)
        {
            var alignment = aligner.Align(words1, Tokens(reference));
            var s = MeteorStats.FromAlignment(alignment);
            if (s.Compute(parameters) > bestScore)
            {
                best = s;
                bestScore = s.Score;
            }
        }
        return best!; // the jar's split always yields at least one reference
    }

    /// <summary>
    /// What reaches the jar's <c>getMeteorStats(test, refs)</c>: coco-caption's <c>_stat</c> builds
    /// <c>SCORE ||| r1 ||| … ||| hyp</c>, and the jar splits it on <c>|||</c> (dropping trailing empty
    /// parts, as Java's <c>split</c> does) and trims each part.
    /// </summary>
    internal static (string Test, List<string> References) CocoProtocol(MeteorSegment segment)
    {
        // Line breaks would split the protocol line in two (coco-caption then desynchronises); we treat
        // them as spaces instead.
        static string OneLine(string s) => s.Replace('\r', ' ').Replace('\n', ' ');
        string hyp = OneLine(segment.Candidate).Replace("|||", "", StringComparison.Ordinal).Replace("  ", " ", StringComparison.Ordinal);
        string line = "SCORE ||| " + string.Join(" ||| ", segment.References.Select(OneLine)) + " ||| " + hyp;
        var parts = line.Split("|||").ToList();
        while (parts.Count > 0 && parts[^1].Length == 0) parts.RemoveAt(parts.Count - 1);
        var refs = new List<string>(parts.Count);
        for (int i = 1; i < parts.Count - 1; i++) refs.Add(JavaText.Trim(parts[i]));
        return (JavaText.Trim(parts[^1]), refs);
    }

    /// <summary>Meteor's <c>-norm</c> normalisation and lower-casing, then its whitespace tokenisation.</summary>
    internal static string[] Tokens(string text)
    {
        // Fast path: lower-case letters, digits and single spaces come out of the normaliser unchanged.
        bool plain = true;
        foreach (char c in text)
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or ' ')) { plain = false; break; }
        if (plain) return text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return [.. JavaText.Tokenize(MeteorNormalizer.NormalizeAndLowercase(text))];
    }
}
