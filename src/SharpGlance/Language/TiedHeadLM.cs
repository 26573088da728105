using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Language;

/// <summary>
/// A causal LM whose <c>lm_head</c> may be tied to its input embedding (OPT always, Llama with
/// tie_word_embeddings). A move or cast gives every parameter a new tensor, which would untie the two, so
/// each <c>_to</c> re-points the head at the embedding afterwards (<see cref="Retie"/>).
/// </summary>
public abstract class TiedHeadLM : nn.Module<OptInputs, OptOutput>
{
    protected TiedHeadLM(string name) : base(name) { }

    /// <summary>Makes <c>lm_head</c> share the embedding's weight again where the config ties them.</summary>
    protected abstract void Retie();

    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        base._to(device, dtype, non_blocking);
        Retie();
        return this;
    }

    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        base._to(deviceType, deviceIndex, non_blocking);
        Retie();
        return this;
    }

    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        base._to(dtype, non_blocking);
        Retie();
        return this;
    }
}
