using SharpGlance.Llm;

namespace SharpGlance.Evaluation.Judges;

/// <summary>One image for a judge: the candidate, its references, and (optionally) the image file.</summary>
public sealed record JudgeSample(string ImageId, string Candidate, IReadOnlyList<string> References, string? ImagePath = null);

/// <summary>
/// An LLM judge: how it asks (the prompt of its paper), how hot it samples, and how it reads a reply.
/// <see cref="JudgeRunner"/> does the calling, retrying and counting.
/// </summary>
public abstract class CaptionJudge
{
    /// <summary>"CLAIR" or "MLLM-as-judge".</summary>
    public abstract string Name { get; }
    /// <summary>The best score (CLAIR 100, MLLM-as-judge 5); scores run from <see cref="MinScore"/> to this.</summary>
    public abstract double MaxScore { get; }
    public abstract double MinScore { get; }
    public abstract double DefaultTemperature { get; }
    public virtual double? TopP => null;
    public abstract int MaxTokens { get; }
    /// <summary>Whether the judge looks at the image when one is given.</summary>
    public virtual bool UsesImage => false;

    /// <summary>The messages for one sample; <paramref name="imageUrl"/> is a data URI when the image is sent.</summary>
    public abstract IReadOnlyList<ChatMessage> Prompt(JudgeSample sample, string? imageUrl);

    /// <summary>Reads a reply: the score (within [MinScore, MaxScore]) and the judge's reason, or false.</summary>
    public abstract bool TryParse(string reply, out double score, out string? reason);

    public static CaptionJudge Create(string name, string? instruction = null) => name.ToLowerInvariant() switch
    {
        "clair" => new ClairJudge(),
        "mllm" or "mllm-as-judge" or "gpt" => new MllmJudge(instruction ?? MllmJudge.DefaultInstruction),
        _ => throw new GlanceException($"unknown judge '{name}' (known: clair, mllm)"),
    };
}
