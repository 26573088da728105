using SharpGlance.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>
/// The single pass of the specialist (Fig. 1 (b), left): visual embeddings from the MLP connector
/// replace <c>&lt;image&gt;</c> in the template's prompt and OPT writes the caption.
/// </summary>
public static class FirstGlance
{
    /// <summary>One caption per image whose features are given.</summary>
    public static IReadOnlyList<string> Caption(Captioner captioner, VisionFeatures features, GenerationOptions generation, string? question = null)
    {
        using var _ = no_grad();
        var template = captioner.Template;
        var prompt = template.Encode(captioner.Tokenizer, null, question).Prompt;
        var prompts = Enumerable.Repeat(prompt, (int)features.Batch).ToList();
        using var visual = captioner.FirstGlanceEmbeds(features);
        return GlanceDecoding.Decode(captioner, template, prompts, visual, generation);
    }
}
