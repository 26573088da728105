using SharpGlance.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>
/// What both glances do once they have their visual embeddings: splice them into the prompts, let OPT
/// write (stopping at the template's stop token, within the closed vocabulary if the model has one) and
/// decode each prompt's first sequence.
/// </summary>
internal static class GlanceDecoding
{
    /// <summary>Generates from spliced prompts and decodes the first returned sequence of each.</summary>
    internal static IReadOnlyList<string> Decode(Captioner captioner, PromptTemplate template, IReadOnlyList<int[]> prompts, Tensor visual, GenerationOptions generation) =>
        GenerateIds(captioner, template, prompts, visual, generation)
            .Select(ids => captioner.Tokenizer.Decode(ids).Trim())
            .ToList();

    /// <summary>The first returned sequence of each prompt, up to (not including) the template's stop token.</summary>
    internal static IReadOnlyList<long[]> GenerateIds(Captioner captioner, PromptTemplate template, IReadOnlyList<int[]> prompts, Tensor visual, GenerationOptions generation)
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
        return Enumerable.Range(0, prompts.Count).Select(i => result.Tokens(i * perPrompt, stop)).ToList();
    }
}
