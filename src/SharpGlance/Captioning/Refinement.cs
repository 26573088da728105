using SharpGlance.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>
/// Sharp-Eyed Refinement, the second glance (Fig. 1 (c); SPEC §8): DeepLens reads the multi-level ViT
/// features already computed for the first glance, guided by the initial caption, and the same LM
/// rewrites the caption from the refinement prompt. The paper released no inference path; this is ours.
/// </summary>
public static class Refinement
{
    /// <summary>
    /// One refined caption per image, from its initial caption. The caption always reaches DeepLens (when
    /// it takes one); <paramref name="captionInPrompt"/> = false leaves it out of the LM's prompt.
    /// </summary>
    public static IReadOnlyList<string> Refine(Captioner captioner, VisionFeatures features, IReadOnlyList<string> initial, GenerationOptions generation,
        bool captionInPrompt = true)
    {
        if (initial.Count != features.Batch)
            throw new ArgumentException($"{initial.Count} initial captions for {features.Batch} images");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        bool captionInput = captioner.DeepLens?.Config.CaptionInput ?? false;
        Tensor? ids = null, mask = null;
        if (captionInput) (ids, mask) = captioner.CaptionIds(initial);
        var visual = captioner.SecondGlanceEmbeds(features, ids, mask);
        var template = PromptTemplate.Refine;
        var prompts = initial.Select(c => template.Encode(captioner.Tokenizer, null, null, captionInPrompt ? c : null).Prompt).ToList();
        return GlanceDecoding.Decode(captioner, template, prompts, visual, generation);
    }

    /// <summary>
    /// <paramref name="rounds"/> second glances, each refining the previous output (<c>--rounds N</c>);
    /// element r holds round r+1's captions.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<string>> Rounds(Captioner captioner, VisionFeatures features, IReadOnlyList<string> initial, int rounds, GenerationOptions generation)
    {
        if (rounds < 1) throw new GlanceException($"--rounds must be at least 1 (got {rounds})");
        var all = new List<IReadOnlyList<string>>(rounds);
        var current = initial;
        for (int r = 0; r < rounds; r++)
        {
            current = Refine(captioner, features, current, generation);
            all.Add(current);
        }
        return all;
    }
}
