using SharpGlance.Captioning;
using SharpGlance.Connectors;
using SharpGlance.Language;
using SharpGlance.Tokenization;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Benchmarking;

/// <summary>
/// The paper's full-size specialist with random weights, for timing without a download: CLIP ViT-L/14-336
/// (576 patch tokens, LLaVA's select layer −2, so blocks 1..23 only) → mlp2x_gelu → OPT-125M, fp32.
/// </summary>
public static class RandomCaptioner
{
    /// <summary>The architecture: ViT-L/14-336, mlp2x_gelu, OPT-125M in fp32, the <c>opt</c> template.</summary>
    public static CaptionerConfig FullSizeConfig => new()
    {
        ModelType = CaptionerConfig.OurModelType,
        Text = OptConfig.Opt125m with { TorchDtype = "float32" },
        Vision = ClipVisionConfig.VitL14_336,
        SelectLayers = [-2],
        ProjectorType = "mlp2x_gelu",
        Template = "opt",
    };

    /// <summary>
    /// Builds <paramref name="config"/>'s captioner with cheap random weights (<see cref="FillCheaply"/>);
    /// the tower holds only the blocks its select layer needs when <paramref name="trimVision"/>.
    /// </summary>
    public static Captioner Create(CaptionerConfig config, OptTokenizer tokenizer, Device? device = null, bool trimVision = true, long seed = 0,
        ScalarType dtype = ScalarType.Float32)
    {
        device ??= CPU;
        var vc = config.Vision ?? throw new GlanceException("random captioner: the config has no vision_config");
        ClipVisionModel? vision = null;
        MlpConnector? mlpConnector = null;
        OptForCausalLM? lm = null;
        try
        {
            vision = new ClipVisionModel(vc, device, dtype, initialize: false, buildLayers: trimVision ? CaptionerFolder.HighestTappedLayer(config, vc.NumHiddenLayers) : null);
            lm = new OptForCausalLM(config.Text, device, dtype, initialize: false);
            mlpConnector = Connector.Create(config.ProjectorType, vc.HiddenSize, config.Text.EmbeddingDim, device, dtype);
            using var generator = new Generator((ulong)seed, device);
            foreach (var module in new nn.Module[] { vision, mlpConnector, lm }) FillCheaply(module, generator);
            var captioner = CaptionerFolder.FromParts(config, vision, mlpConnector, lm, tokenizer, device);
            Runtime.MemoryHygiene.AfterLoad();
            return captioner;
        }
        catch
        {
            vision?.Dispose(); mlpConnector?.Dispose(); lm?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Random weights in a fraction of the time of HF's init (normal_ over 420M values takes ~10 s here):
    /// every matrix and embedding gets uniform(−a, a) with a = 0.02·√3 (the standard deviation of OPT's and,
    /// roughly, CLIP's init), LayerNorm weights 1, biases 0. Enough for timing — the values never matter to
    /// the cost of the arithmetic, as long as they are finite and not denormal.
    /// </summary>
    public static void FillCheaply(nn.Module module, Generator? generator = null)
    {
        using var _ = no_grad();
        double a = 0.02 * Math.Sqrt(3);
        foreach (var (name, p) in module.named_parameters())
        {
            string leaf = name[(name.LastIndexOf('.') + 1)..];
            bool norm = name.Contains("norm", StringComparison.Ordinal);
            if (leaf == "bias") p.zero_();
            else if (norm) p.fill_(1.0);
            else p.uniform_(-a, a, generator);
        }
    }
}
