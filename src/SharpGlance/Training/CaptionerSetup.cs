using SharpGlance.Captioning;
using SharpGlance.Connectors;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>
/// What training does to a captioner before it trains: DeepLens attached fresh, re-attached in another
/// configuration or started from the MLP connector (stage 2), the first glance switched to DeepLens, the
/// template and the closed vocabulary set. Each goes through <see cref="Captioner.Reconfigure"/>, the one
/// way a built captioner changes.
/// </summary>
public static class CaptionerSetup
{
    /// <summary>Adds a freshly initialised DeepLens (stage 2's starting point), replacing any present.</summary>
    public static void AttachDeepLens(this Captioner c, DeepLensConfig config, long seed = 0)
    {
        config = config.Validate();
        if (config.VisionWidth != c.Vision.Config.HiddenSize) throw new GlanceException($"deeplens: vision_width {config.VisionWidth} ≠ the tower's {c.Vision.Config.HiddenSize}");
        if (config.LmHidden != c.Lm.Config.EmbeddingDim) throw new GlanceException($"deeplens: lm_hidden {config.LmHidden} ≠ the LM's {c.Lm.Config.EmbeddingDim}");
        foreach (var l in config.UsedLayers)
            if (Captioner.Normalize(l, c.Vision.Config.NumHiddenLayers) > c.Vision.BuiltLayers)
                throw new GlanceException($"deeplens: layer {l} is beyond the {c.Vision.BuiltLayers} blocks of this tower, loaded trimmed for inference");
        random.manual_seed(seed);
        var lens = DeepLens.Create(config, c.Device);
        if (config.KeepFirstGlance) lens.ZeroOutput();
        c.Reconfigure(c.Config with { DeepLens = config }, lens);   // disposes the one it replaces
    }

    /// <summary>
    /// Replaces the attached DeepLens with one of another configuration (caption input switched on, a level
    /// dropped) and keeps every weight of the old one whose name and shape still fit; the rest start fresh.
    /// Returns how many tensors it kept. So a DeepLens trained as a single glance, or a refiner trained
    /// with an ablation switch, can start a refiner of another configuration (`glance train --stage refine
    /// --init MODEL --deeplens-config …`) instead of from scratch.
    /// </summary>
    public static int ReattachDeepLens(this Captioner c, DeepLensConfig config, long seed = 0)
    {
        if (c.DeepLens is null) throw new GlanceException("no DeepLens attached");
        // Copies, because AttachDeepLens disposes the old module; no dispose scope here, which would also
        // take the new module's parameters.
        var old = c.DeepLens.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        try
        {
            c.AttachDeepLens(config, seed);
            int kept = 0;
            using (no_grad())
                foreach (var (name, to) in c.DeepLens!.state_dict())
                    if (old.TryGetValue(name, out var from) && from.shape.SequenceEqual(to.shape))
                    {
                        to.copy_(from);
                        kept++;
                    }
            return kept;
        }
        finally
        {
            foreach (var t in old.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Starts every DeepLens level projection (detr variant) from the trained MLP connector when their shapes
    /// agree (same projector type, D = the LM width): the levels then enter DeepLens already in the space the
    /// LM reads, instead of from random weights. Returns whether it copied. A training choice of ours; the
    /// paper does not say how DeepLens is initialised.
    /// </summary>
    public static bool InitDeepLensLevelsFromMlpConnector(this Captioner c)
    {
        var lens = c.DeepLens ?? throw new GlanceException("no DeepLens attached");
        var source = c.MlpConnector.state_dict();
        var target = lens.state_dict();
        var pairs = new List<(Tensor From, Tensor To)>();
        for (int level = 0; level < lens.Config.NumLevels; level++)
            foreach (var (name, t) in source)
            {
                if (!target.TryGetValue($"input_projection.{level}.{name}", out var to) || !to.shape.SequenceEqual(t.shape)) return false;
                pairs.Add((t, to));
            }
        if (pairs.Count == 0) return false;
        using (no_grad())
            foreach (var (from, to) in pairs) to.copy_(from);
        return true;
    }

    /// <summary>Switches the first glance to DeepLens alone (Tab. 3's "single glance with ②").</summary>
    public static void UseDeepLensForFirstGlance(this Captioner c, bool on)
    {
        if (on && c.DeepLens is null) throw new GlanceException("single-glance DeepLens needs a DeepLens");
        c.Reconfigure(c.Config with { FirstGlance = on ? FirstGlanceConnector.DeepLens : FirstGlanceConnector.Mlp }, c.DeepLens);
    }

    /// <summary>The first glance's prompt template from now on (stages 0 and 1 train their own).</summary>
    public static void SetTemplate(this Captioner c, string name) =>
        c.Reconfigure(c.Config with { Template = PromptTemplate.Get(name).Name }, c.DeepLens);

    /// <summary>Makes this a closed-vocabulary model over <paramref name="ids"/> (see <see cref="CaptionerConfig.VocabularySubset"/>).</summary>
    public static void SetVocabularySubset(this Captioner c, IReadOnlyList<int>? ids)
    {
        if (ids is not null && ids.Any(i => i < 0 || i >= c.Lm.Config.VocabSize))
            throw new GlanceException($"vocabulary subset: ids must be in 0..{c.Lm.Config.VocabSize - 1}");
        c.Reconfigure(c.Config with { VocabularySubset = ids?.Distinct().Order().ToList() }, c.DeepLens);
    }
}
