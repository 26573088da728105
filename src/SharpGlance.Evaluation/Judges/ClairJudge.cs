using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SharpGlance.Llm;

namespace SharpGlance.Evaluation.Judges;

/// <summary>
/// CLAIR (Chan et al., EMNLP 2023; reference code: DavidMChan/clair, clair.py): the LLM is asked, with the
/// paper's prompt, how likely it is (0–100) that the candidate set describes the same image as the
/// reference set, answering in JSON with "score" and "reason". Reported on the 0–100 scale (clair.py
/// divides by 100). Temperature 0, as clair.py asks.
/// </summary>
public sealed partial class ClairJudge : CaptionJudge
{
    public override string Name => "CLAIR";
    public override double MaxScore => 100;
    public override double MinScore => 0;
    public override double DefaultTemperature => 0.0;
    public override int MaxTokens => 1024;

    /// <summary>The CLAIR prompt as clair.py formats it ("- caption\n" per caption).</summary>
    public static string FormatPrompt(IReadOnlyList<string> candidates, IReadOnlyList<string> references) =>
        "You are trying to tell if a candidate set of captions is describing the same image as a reference set of captions.\n" +
        "Candidate set:\n" + string.Concat(candidates.Select(c => $"- {c}\n")) + "\n" +
        "Reference set:\n" + string.Concat(references.Select(r => $"- {r}\n")) + "\n" +
        "On a precise scale from 0 to 100, how likely is it that the candidate set is describing the same image as the reference set? " +
        "(JSON format, with a key \"score\", value between 0 and 100, and a key \"reason\" with a string value.)\n";

    public override IReadOnlyList<ChatMessage> Prompt(JudgeSample sample, string? imageUrl) =>
        [new ChatMessage("user", FormatPrompt([sample.Candidate], sample.References))];

    /// <summary>
    /// clair.py's parse, made robust: the first {...} as JSON with a numeric (or numeric-string) "score";
    /// failing that, the first number in the reply (× 100 when below 1, as clair.py does for models that
    /// normalise), the reason being whatever follows the word "reason". Scores outside 0–100 are refused.
    /// </summary>
    public override bool TryParse(string reply, out double score, out string? reason)
    {
        score = 0;
        reason = null;
        int open = reply.IndexOf('{');
        if (open >= 0)
        {
            int close = reply.IndexOf('}', open);
            if (close > open)
            {
                try
                {
                    using var doc = JsonDocument.Parse(reply.AsSpan(open, close - open + 1).ToString());
                    if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("score", out var s) &&
                        TryNumber(s, out score))
                    {
                        reason = doc.RootElement.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : "Unknown";
                        return score is >= 0 and <= 100;
                    }
                }
                catch (JsonException) { }
            }
        }
        var number = FirstNumber().Match(reply);
        if (!number.Success) return false;
        score = double.Parse(number.Value, CultureInfo.InvariantCulture);
        if (score < 1) score *= 100;   // "some models auto-normalize the score for us" (clair.py)
        var why = ReasonText().Match(reply);
        reason = why.Success ? why.Value["reason".Length..].Replace(":", "").Trim() : "Unknown";
        return score is >= 0 and <= 100;
    }

    private static bool TryNumber(JsonElement e, out double value)
    {
        value = 0;
        return e.ValueKind switch
        {
            JsonValueKind.Number => e.TryGetDouble(out value),
            JsonValueKind.String => double.TryParse(e.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out value),
            _ => false,
        };
    }

    [GeneratedRegex(@"\d*\.?\d+")]
    private static partial Regex FirstNumber();

    [GeneratedRegex(@"(?i)reason.*")]
    private static partial Regex ReasonText();
}
