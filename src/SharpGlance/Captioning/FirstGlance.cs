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
        return Generate(captioner, template, prompts, visual, generation);
    }

    /// <summary>Generates from spliced prompts and decodes the first returned sequence of each.</summary>
    internal static IReadOnlyList<string> Generate(Captioner captioner, PromptTemplate template, IReadOnlyList<int[]> prompts, Tensor visual, GenerationOptions generation)
    {
        var tokenizer = captioner.Tokenizer;
        int stop = template.StopTokenId(tokenizer);
        var options = generation with
        {
            EosTokenId = stop, PadTokenId = tokenizer.PadId, VocabLimit = tokenizer.VocabSize,
            AllowedTokenIds = captioner.Config.VocabularySubset is { } subset ? subset.Append(stop).Distinct().ToList() : null,
        };
        using var batch = PromptBatch.Build(captioner.Lm, prompts, null, visual, padLeft: true);
        var result = TextGenerator.Run(captioner.Lm, batch.InputsEmbeds, batch.AttentionMask, options);
        int perPrompt = result.Sequences.Length / prompts.Count;
        return Enumerable.Range(0, prompts.Count)
            .Select(i => tokenizer.Decode(result.Tokens(i * perPrompt, stop)).Trim())
            .ToList();
    }
}
