using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.Language;
using SharpGlance.Preprocessing;
using SharpGlance.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Attention;

// Where the model looks (paper Sec. 4, Figs. 3–4). Reading order: what one glance's visual tokens are
// (VisualLayout) → one generated token's attention → DeepLens's cross-attention → one word's maps → one
// glance → reading both glances of an image (AttentionMaps.Read).

/// <summary>
/// Where a glance's visual tokens sit among the LM's visual embeddings: <see cref="Patches"/> patch tokens
/// from <see cref="PatchStart"/> (the MLP connector's, one per ViT patch, row-major over the grid) and
/// <see cref="Queries"/> DeepLens outputs from <see cref="QueryStart"/>; a count of 0 means none.
/// </summary>
public sealed record VisualLayout(int PatchStart, int Patches, int QueryStart, int Queries)
{
    public int Count => Math.Max(PatchStart + Patches, QueryStart + Queries);
}

/// <summary>
/// One generated token: per LM layer, its attention (mean over heads) over the glance's visual tokens
/// ([layer][visual token]), and the share of its whole attention row that those tokens take ([layer]).
/// </summary>
public sealed record TokenAttention(long TokenId, string Text, float[][] Visual, float[] VisualShare);

/// <summary>
/// DeepLens's queries' cross-attention over the patches of each tapped level, mean over heads and decoder
/// layers: <see cref="Cross"/>[query][level][patch]. <see cref="Levels"/> are the tapped ViT layers in
/// DeepLens's level order (the base level first).
/// </summary>
public sealed record LensAttention(IReadOnlyList<int> Levels, float[][][] Cross);

/// <summary>
/// One word (its tokens' attention averaged): the LM's attention over the patch tokens per layer and over
/// layers (null when the glance has no patch tokens); over DeepLens's outputs (null without them) and that
/// attention carried onto each tapped level's patches through the queries' cross-attention,
/// <c>Σ_q a(word, q)·cross(q, level, patch)</c> (a one-step attention rollout; null without DeepLens).
/// </summary>
public sealed record WordAttention(string Word, float[][]? PatchesPerLayer, float[]? Patches, float[]? Queries, float[][]? Levels, float VisualShare)
{
    /// <summary>The map drawn and scored for this word: the patch attention, else the DeepLens levels' mean.</summary>
    public float[] Map => Patches ?? Mean(Levels ?? throw new InvalidOperationException("a word with no visual map"));

    internal static float[] Mean(IReadOnlyList<float[]> rows)
    {
        var mean = new float[rows[0].Length];
        foreach (var r in rows) for (int i = 0; i < mean.Length; i++) mean[i] += r[i] / rows.Count;
        return mean;
    }
}

/// <summary>
/// One glance's attention for one image: the caption it wrote, each generated token's attention over the
/// visual tokens, and for a glance through DeepLens the queries' cross-attention.
/// </summary>
public sealed class GlanceAttention
{
    public required string Glance { get; init; }
    public required string Caption { get; init; }
    /// <summary>The tower's patch grid (height = width = GridSize).</summary>
    public required int Grid { get; init; }
    public required VisualLayout Layout { get; init; }
    public required IReadOnlyList<TokenAttention> Tokens { get; init; }
    public LensAttention? Lens { get; init; }

    /// <summary>
    /// The caption's words with their maps: a token that starts with a space starts a word, so do
    /// punctuation tokens; a word's maps are the mean of its tokens'.
    /// </summary>
    public IReadOnlyList<WordAttention> Words()
    {
        var groups = new List<List<TokenAttention>>();
        foreach (var t in Tokens)
        {
            bool starts = groups.Count == 0 || t.Text.StartsWith(' ') || !t.Text.Any(char.IsLetterOrDigit)
                          || !groups[^1][^1].Text.Any(char.IsLetterOrDigit);
            if (starts) groups.Add([]);
            groups[^1].Add(t);
        }
        return groups.Select(Word).ToList();
    }

    private WordAttention Word(List<TokenAttention> tokens)
    {
        int layers = tokens[0].Visual.Length;
        var visual = Enumerable.Range(0, layers).Select(l => WordAttention.Mean(tokens.Select(t => t.Visual[l]).ToList())).ToArray();
        var meanVisual = WordAttention.Mean(visual);
        float share = tokens.Average(t => t.VisualShare.Average());
        float[][]? perLayer = Layout.Patches > 0 ? visual.Select(v => v[Layout.PatchStart..(Layout.PatchStart + Layout.Patches)]).ToArray() : null;
        float[]? queries = Layout.Queries > 0 ? meanVisual[Layout.QueryStart..(Layout.QueryStart + Layout.Queries)] : null;
        float[][]? levels = null;
        if (queries is not null && Lens is { } lens)
        {
            int n = Grid * Grid;
            levels = new float[lens.Levels.Count][];
            for (int k = 0; k < levels.Length; k++)
            {
                levels[k] = new float[n];
                for (int q = 0; q < queries.Length; q++)
                    for (int p = 0; p < n; p++) levels[k][p] += queries[q] * lens.Cross[q][k][p];
            }
        }
        string text = string.Concat(tokens.Select(t => t.Text)).Trim();
        return new WordAttention(text, perLayer, perLayer is null ? null : WordAttention.Mean(perLayer), queries, levels, share);
    }
}

/// <summary>Both glances' attention for one image (<see cref="Second"/> null without <c>--refine</c>).</summary>
public sealed record ImageAttention(GlanceAttention First, GlanceAttention? Second);

/// <summary>What <c>glance attend</c> asks for.</summary>
public sealed record AttentionOptions
{
    public GenerationOptions Generation { get; init; } = GenerationOptions.Paper;
    /// <summary>Also take the second glance and read DeepLens's and the LM's attention in it.</summary>
    public bool Refine { get; init; }
    public string? Question { get; init; }
}

/// <summary>
/// Reads where the model looks. Decoding itself stays on the fast SDPA path: after a glance has written
/// its caption, one teacher-forced forward over prompt + caption runs with attentions on, and generated
/// token t's row is the query at the position before it (the one whose logits chose it). Attention at a
/// position depends only on the tokens up to it, so these are the weights decoding had when it chose each
/// token, for greedy and for the beam that won alike (up to SDPA's rounding).
/// </summary>
public static class AttentionMaps
{
    /// <summary>Captions one image (first glance, and the second with <see cref="AttentionOptions.Refine"/>) and reads its attention.</summary>
    public static ImageAttention Read(Captioner captioner, RgbImage image, AttentionOptions options)
    {
        if (options.Refine && captioner.DeepLens is null)
            throw new GlanceException("attention maps of the second glance need a captioner with DeepLens (this one is single-pass)");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var pixels = captioner.Pixels([image]);
        using var features = captioner.Encode(pixels);

        var template = captioner.Template;
        var prompt = template.Encode(captioner.Tokenizer, null, options.Question).Prompt;
        var first = captioner.Config.FirstGlance == FirstGlanceConnector.DeepLens
            ? ThroughDeepLens(captioner, features, null)
            : (Visual: captioner.FirstGlanceEmbeds(features), Layout: MlpLayout(captioner, 0), Lens: (LensAttention?)null);
        var firstAttention = Glance(captioner, "first", template, prompt, first.Visual, first.Layout, first.Lens, options.Generation);
        if (!options.Refine) return new ImageAttention(firstAttention, null);

        var second = ThroughDeepLens(captioner, features, firstAttention.Caption);
        var refine = PromptTemplate.Refine;
        var refinePrompt = refine.Encode(captioner.Tokenizer, null, null, firstAttention.Caption).Prompt;
        return new ImageAttention(firstAttention, Glance(captioner, "second", refine, refinePrompt, second.Visual, second.Layout, second.Lens, options.Generation));
    }

    /// <summary>
    /// <c>glance attend</c>: reads the image file, captions it, reads its attention and writes the maps
    /// into <paramref name="dir"/> (<see cref="AttentionSheet.Write"/>).
    /// </summary>
    public static (ImageAttention Maps, IReadOnlyList<string> Files) Attend(Captioner captioner, string imagePath, AttentionOptions options, string dir)
    {
        var image = RgbImage.FromFile(imagePath);
        captioner.ImageProcessor.CheckSize(image, captioner.Config.Aspect);
        var maps = Read(captioner, image, options);
        return (maps, AttentionSheet.Write(maps, image, captioner.Config.Aspect, dir));
    }

    /// <summary>The MLP connector's tokens: one per patch, after CLS with <c>cls_patch</c>.</summary>
    private static VisualLayout MlpLayout(Captioner captioner, int start)
    {
        int cls = captioner.Config.SelectFeature == VisionFeatureSelection.Patch ? 0 : 1;
        return new VisualLayout(start + cls, captioner.Vision.Config.NumPatches, 0, 0);
    }

    /// <summary>DeepLens's visual embeddings (after the first glance's with keep_first_glance) and its cross-attention.</summary>
    private static (Tensor Visual, VisualLayout Layout, LensAttention? Lens) ThroughDeepLens(Captioner captioner, VisionFeatures features, string? initial)
    {
        var lens = captioner.DeepLens!;
        Tensor? ids = null, mask = null;
        if (initial is not null && lens.Config.CaptionInput) (ids, mask) = captioner.CaptionIds([initial]);
        var sink = new List<Tensor>();
        try
        {
            var visual = captioner.SecondGlanceEmbeds(features, ids, mask, sink);
            int q = lens.Config.NumQueries, nv = (int)visual.shape[1];
            var layout = nv > q ? MlpLayout(captioner, 0) with { QueryStart = nv - q, Queries = q } : new VisualLayout(0, 0, 0, q);
            // [layers, heads, Q(+T), K·N] → the queries' rows, mean over layers and heads: [Q, K, N].
            int n = captioner.Vision.Config.NumPatches, levels = lens.Config.NumLevels;
            using var cross = stack(sink.Select(a => a[0]).ToList()).narrow(2, 0, q).mean([0, 1]).to_type(ScalarType.Float32).cpu();
            var flat = cross.data<float>().ToArray();
            var maps = new float[q][][];
            for (int i = 0; i < q; i++)
            {
                maps[i] = new float[levels][];
                for (int k = 0; k < levels; k++) maps[i][k] = flat.AsSpan((i * levels + k) * n, n).ToArray();
            }
            int depth = captioner.Vision.Config.NumHiddenLayers;
            var tapped = lens.Config.UsedLayers.Select(l => Captioner.Normalize(l, depth)).ToList();
            return (visual, layout, new LensAttention(tapped, maps));
        }
        finally
        {
            foreach (var a in sink) a.Dispose();
        }
    }

    /// <summary>Writes the glance's caption, then reads its tokens' attention in one teacher-forced pass.</summary>
    private static GlanceAttention Glance(Captioner captioner, string name, PromptTemplate template, int[] prompt, Tensor visual,
        VisualLayout layout, LensAttention? lens, GenerationOptions generation)
    {
        var generated = GlanceDecoding.GenerateIds(captioner, template, [prompt], visual, generation)[0];
        var tokenizer = captioner.Tokenizer;
        var tokens = ReadTokens(captioner.Lm, prompt, visual, generated)
            .Select((a, i) => new TokenAttention(generated[i], tokenizer.Decode(new[] { (int)generated[i] }, cleanUpTokenizationSpaces: false), a.Visual, a.Share))
            .ToList();
        return new GlanceAttention
        {
            Glance = name, Caption = tokenizer.Decode(generated).Trim(), Grid = captioner.Vision.Config.GridSize,
            Layout = layout, Tokens = tokens, Lens = lens,
        };
    }

    /// <summary>
    /// One teacher-forced pass over prompt (with <paramref name="visual"/> [1, Nv, H] at its image token) +
    /// <paramref name="generated"/>: per generated token, per layer, the mean-over-heads attention over the
    /// Nv visual tokens and the share of the row they take.
    /// </summary>
    internal static IReadOnlyList<(float[][] Visual, float[] Share)> ReadTokens(OptForCausalLM lm, int[] prompt, Tensor visual, long[] generated)
    {
        if (generated.Length == 0) return [];
        using var scope = NewDisposeScope();
        int at = Array.IndexOf(prompt, OptTokenizer.ImageTokenId);
        long nv = visual.shape[1];
        long promptLength = prompt.Length - 1 + nv;
        using var batch = PromptBatch.Build(lm, [prompt], [generated.Select(t => (int)t).ToArray()], visual, padLeft: true);
        using var output = lm.forward(new OptInputs
        {
            InputsEmbeds = batch.InputsEmbeds, AttentionMask = batch.AttentionMask, LastPositionOnly = true, OutputAttentions = true,
        });
        int layers = output.Attentions!.Count, count = generated.Length;
        var result = Enumerable.Range(0, count).Select(_ => (Visual: new float[layers][], Share: new float[layers])).ToArray();
        for (int l = 0; l < layers; l++)
        {
            // Token t was chosen by the logits at position promptLength − 1 + t.
            var rows = output.Attentions[l][0].mean([0]).narrow(0, promptLength - 1, count).narrow(1, at, nv).contiguous();
            var values = rows.data<float>().ToArray();
            for (int t = 0; t < count; t++)
            {
                result[t].Visual[l] = values.AsSpan(t * (int)nv, (int)nv).ToArray();
                result[t].Share[l] = result[t].Visual[l].Sum();
            }
        }
        return result;
    }
}
