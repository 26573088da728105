// TEMPORARY: stands in for the METEOR helper's implementation until it is merged; the coordinator deletes
// this file at merge. The types match the agreed interface exactly.
namespace SharpGlance.Evaluation.Meteor;

public sealed record MeteorOptions
{
    public string? ParaphraseTable { get; init; }
    public string WordNetDir { get; init; } = "/usr/share/wordnet";
}

/// <summary>One segment as coco-caption passes it: PTB-tokenised, space-joined.</summary>
public sealed record MeteorSegment(string Candidate, IReadOnlyList<string> References);

public sealed record MeteorResult(double Corpus, double[] PerSegment, bool ParaphraseEnabled);

public sealed class MeteorScorer
{
    private MeteorScorer() { }

    public static MeteorScorer Create(MeteorOptions options) => throw new GlanceException("METEOR is not built yet");

    public MeteorResult Score(IReadOnlyList<MeteorSegment> segments, IProgress<ProgressUpdate>? progress = null) =>
        throw new GlanceException("METEOR is not built yet");
}
