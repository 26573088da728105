using SharpGlance.Tokenization;

namespace SharpGlance.Captioning;

/// <summary>
/// How a caption is asked for and supervised (SPEC §7, §8). Each template gives the prompt the model
/// sees (with one <c>&lt;image&gt;</c> where the visual embeddings go) and the target text after it; the
/// loss covers the target only. Prompt and target are tokenised separately and concatenated: every
/// target starts at a pre-token boundary (a space or the <c>&lt;image&gt;</c> split), so this equals
/// tokenising the joined text.
/// </summary>
public sealed record PromptTemplate(string Name, string Description)
{
    public const string DefaultQuestion = "What is in the photo?";

    /// <summary><c>plain</c> (projector pretraining): <c>&lt;image&gt;</c> + caption + "\n"; stops at "\n".</summary>
    public static readonly PromptTemplate Plain = new("plain", "projector pretraining: <image>{caption}\\n");
    /// <summary><c>opt</c> (our finetuning and inference): <c>USER: &lt;image&gt;\n{question} ASSISTANT: {caption}&lt;/s&gt;</c>.</summary>
    public static readonly PromptTemplate Opt = new("opt", "finetuning: USER: <image>\\n{question} ASSISTANT: {caption}</s>");
    /// <summary>The paper's released evaluation prompt, with no "\n" after <c>&lt;image&gt;</c> (for its checkpoints).</summary>
    public static readonly PromptTemplate OptPaper = new("opt_paper", "the paper's evaluation prompt: USER: <image>{question} ASSISTANT: {caption}</s>");
    /// <summary>The second glance (ours; SPEC §8): <c>&lt;image&gt; Initial caption: {ĉ}\n Refined caption: {c}&lt;/s&gt;</c>.</summary>
    public static readonly PromptTemplate Refine = new("refine", "refinement: <image> Initial caption: {initial}\\n Refined caption: {caption}</s>");

    public static IReadOnlyList<PromptTemplate> All { get; } = [Plain, Opt, OptPaper, Refine];

    public static PromptTemplate Get(string name, string? source = null) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new GlanceException($"{(source is null ? "" : source + ": ")}unknown template '{name}' (one of {string.Join(", ", All.Select(t => t.Name))})");

    /// <summary>The prompt up to where the model starts writing.</summary>
    public string Prompt(string? question = null, string? initialCaption = null) => Name switch
    {
        "plain" => "<image>",
        "opt" => $"USER: <image>\n{question ?? DefaultQuestion} ASSISTANT:",
        "opt_paper" => $"USER: <image>{question ?? DefaultQuestion} ASSISTANT:",
        // Without an initial caption in the text (the 20% of training prompts that drop it, SPEC §8)
        // DeepLens still sees it; the text then just asks for the caption.
        "refine" => initialCaption is null ? "<image> Refined caption:" : $"<image> Initial caption: {Clean(initialCaption)}\n Refined caption:",
        _ => throw new InvalidOperationException(Name),
    };

    /// <summary>The supervised continuation of <see cref="Prompt"/>.</summary>
    public string Target(string caption) => Name == "plain" ? Clean(caption) + "\n" : " " + Clean(caption) + "</s>";

    /// <summary>The token that ends a generation with this template.</summary>
    public int StopTokenId(OptTokenizer tokenizer) => Name == "plain" ? NewlineId(tokenizer) : tokenizer.EosId;

    /// <summary>Prompt ids (with <see cref="OptTokenizer.ImageTokenId"/>) and, for training, the target ids.</summary>
    public (int[] Prompt, int[] Target) Encode(OptTokenizer tokenizer, string? caption, string? question = null, string? initialCaption = null)
    {
        var prompt = tokenizer.EncodeWithImage(Prompt(question, initialCaption), addBos: true);
        if (prompt.Count(id => id == OptTokenizer.ImageTokenId) != 1)
            throw new GlanceException($"template '{Name}': the prompt must hold exactly one <image> (question or caption text contains '<image>'?)");
        var target = caption is null ? [] : tokenizer.Encode(Target(caption), addBos: false);
        return (prompt, target);
    }

    /// <summary>One line, single-spaced: captions from files may carry newlines or stray spaces.</summary>
    public static string Clean(string caption) => string.Join(' ', caption.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static int NewlineId(OptTokenizer tokenizer)
    {
        var ids = tokenizer.Encode("\n", addBos: false);
        return ids.Length == 1 ? ids[0] : throw new GlanceException("tokenizer: \"\\n\" is not a single token");
    }
}
