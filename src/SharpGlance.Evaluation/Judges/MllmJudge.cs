using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SharpGlance.Llm;

namespace SharpGlance.Evaluation.Judges;

/// <summary>
/// MLLM-as-a-Judge, score setting (Chen et al., ICML 2024; reference code: Dongping-Chen/MLLM-Judge,
/// scripts/gpt4_judge.py with <c>--evaluate score</c>), as the SharpGlance paper uses it (App. G: "we strictly
/// follow the template"): the judge sees the instruction, the caption as the assistant's answer and — when
/// given — the image, and grades 1–5 as "[[n]]" under the key 'Judgement'. The "No COT" setting is used with
/// an image; without one, the "No Figure" (blind judge) setting. Temperature 0.9 and top_p 0.9, the script's
/// defaults. The instruction defaults to the paper's captioning prompt (App. H.2).
/// </summary>
public sealed partial class MllmJudge(string instruction) : CaptionJudge
{
    public const string DefaultInstruction = "Provide a one-sentence caption for the provided image.";

    public string Instruction { get; } = instruction;
    public override string Name => "MLLM-as-judge";
    public override double MaxScore => 5;
    public override double MinScore => 1;
    public override double DefaultTemperature => 0.9;
    public override double? TopP => 0.9;
    public override int MaxTokens => 2048;
    public override bool UsesImage => true;

    // The template pieces of gpt4_judge.py (start, settings, tasks["score"], notice), in its order.
    private const string Start =
        "Please serve as an unbiased judge in assessing the quality of the responses from AI assistants regarding the user's instruction and a figure. ";

    private const string SettingNoCot =
        "Please examine the provided image attentively. Begin by conducting a detailed analysis of the responses provided. " +
        "Capture your comprehensive observations and insights in the 'Analysis' section. Following your analysis, move on to the judgement phase, " +
        "where you will make informed decisions or conclusions based on the analysis conducted. Give your final judgements in the 'Judgement' section. " +
        "Ensure that your final output with keys 'Analysis' for the initial response analysis, and 'Judgement' for your final judgement only.";

    private const string SettingNoFigure =
        "As a blind judge, you will not have access to the figure mentioned in the user instructions. Your task is to impartially assess the responses " +
        "based solely on the information presented within them, without visual context of the figure. Begin by performing a detailed analysis of the " +
        "responses, capturing your observations in the 'Analysis' section. Then, move on to the judgement phase, drawing conclusions or making decisions " +
        "based on your analysis. Format your findings in a JSON format with two keys: 'Analysis' for your insights on the responses and 'Judgement' for " +
        "your final judgement only. Ensure that the content under each key does not contain any nested JSON structures.";

    private const string TaskScore =
        "\nYou will receive a single response from the AI assistant to user's instruction. Use scores to show the quality of the response. " +
        "Here is the detailed scoring rubric for evaluating the quality of responses from AI assistants:\n" +
        "Poor (1): The response significantly deviates from the user's instruction and fails to address the query effectively. It shows a lack of " +
        "relevance, accuracy, and comprehensiveness. Creativity and granularity are absent or poorly executed.\n" +
        "Fair (2): The response addresses the user's instruction partially, with evident shortcomings in relevance, accuracy, or comprehensiveness. " +
        "It lacks depth in creativity and granularity, indicating a superficial understanding of the user's inquiry.\n" +
        "Average (3): The response adequately addresses the user's instruction, showing a fair level of relevance, accuracy, and comprehensiveness. " +
        "It reflects a basic level of creativity and granularity but may lack sophistication or depth in fully capturing the user's inquiry.\n" +
        "Good (4): The response is well-aligned with the user's instruction, demonstrating a high degree of relevance, accuracy, and comprehensiveness. " +
        "It shows creativity and a nuanced understanding of the topic, with detailed granularity that enhances the response quality.\n" +
        "Excellent (5): The response perfectly adheres to the user's instruction, excelling in relevance, accuracy, comprehensiveness, creativity, " +
        "and granularity. It provides an insightful, detailed, and thorough answer, indicating a deep and nuanced understanding of the user's inquiry.\n";

    private const string Notice =
        "Your assessment should identify whether the assistant effectively adheres to the user's instruction and addresses the user's inquiry.\n" +
        "In your evaluation, weigh factors such as relevance, accuracy, comprehensiveness, creativity, and the granularity of the responses.\n" +
        "Do not allow the length of the responses to influence your evaluation.\n" +
        "Do not favor certain names or position of the assistants. Be as objective as possible.";

    public string FormatPrompt(string answer, bool withImage) =>
        Start + "\nEvaluation Steps:\n" + (withImage ? SettingNoCot : SettingNoFigure) +
        "\nEvaluation Method:\n" + TaskScore + "\nNotice:\n" + Notice + "\nHere is the input:\n" +
        "\nUse \"[[1]]\", \"[[2]]\", \"[[3]]\", \"[[4]]\", \"[[5]]\" to indicate your evaluate score in the key 'Judgement'.\n" +
        "[The Start of User Instruction]\n" + Instruction + "\n[The End of User Instruction]" +
        "\n[The Start of Assistant\u2019s Answer]\n" + answer + "\n[The End of Assistant\u2019s Answer]";

    public override IReadOnlyList<ChatMessage> Prompt(JudgeSample sample, string? imageUrl) =>
        [new ChatMessage("user", FormatPrompt(sample.Candidate, imageUrl is not null)) { ImageUrls = imageUrl is null ? null : [imageUrl] }];

    /// <summary>
    /// The "[[n]]" grade: the one inside the 'Judgement' value when the reply is JSON, else the last "[[n]]"
    /// in the text, else a bare number after "Judgement". n must be 1–5.
    /// </summary>
    public override bool TryParse(string reply, out double score, out string? reason)
    {
        score = 0;
        reason = null;
        string? judgement = null;
        var json = ExtractJsonObject(reply);
        if (json is not null)
        {
            try
            {
                using var doc = JsonDocument.Parse(json);
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (p.Name.Equals("Judgement", StringComparison.OrdinalIgnoreCase) || p.Name.Equals("Judgment", StringComparison.OrdinalIgnoreCase))
                        judgement = p.Value.ToString();
                    else if (p.Name.Equals("Analysis", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                        reason = p.Value.GetString();
                }
            }
            catch (JsonException) { }
        }
        var grades = Grade().Matches(judgement ?? reply);
        if (grades.Count == 0 && judgement is not null) grades = Grade().Matches(reply);
        if (grades.Count > 0)
            score = double.Parse(grades[^1].Groups[1].Value, CultureInfo.InvariantCulture);
        else
        {
            var bare = BareJudgement().Match(judgement is null ? reply : "Judgement: " + judgement);
            if (!bare.Success) return false;
            score = double.Parse(bare.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        reason ??= judgement;
        return score is >= 1 and <= 5;
    }

    /// <summary>The outermost {...} of a reply (models often wrap JSON in a ```json fence).</summary>
    private static string? ExtractJsonObject(string reply)
    {
        int open = reply.IndexOf('{'), close = reply.LastIndexOf('}');
        return open >= 0 && close > open ? reply[open..(close + 1)] : null;
    }

    [GeneratedRegex(@"\[\[\s*([1-5](?:\.\d+)?)\s*\]\]")]
    private static partial Regex Grade();

    [GeneratedRegex(@"(?i)judge?ment[""']?\s*[:=]\s*[""']?\s*([1-5](?:\.\d+)?)\b")]
    private static partial Regex BareJudgement();
}
