using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Nn;

/// <summary>
/// Factories for the standard TorchSharp layers the models are built from, with <b>uninitialised</b>
/// parameters: TorchSharp's own constructors spend seconds on kaiming init of weights that a checkpoint
/// overwrites at once. Each model either loads every tensor strictly (<c>Checkpoint.LoadInto</c>) or calls
/// its <c>InitWeights</c>, which follows HF's <c>_init_weights</c>. The layers keep PyTorch's parameter names
/// (fields <c>weight</c>, <c>bias</c>): <see cref="Nn.Linear"/> (ours, with the fast CPU inference path) and
/// TorchSharp's <see cref="LayerNorm"/>.
/// </summary>
public static class Layers
{
    public static Parameter EmptyParameter(long[] shape, Device? device, ScalarType dtype)
    {
        var t = empty(shape, dtype, device ?? CPU);
        var p = new Parameter(t, requires_grad: true);
        return (Parameter)p.DetachFromDisposeScope();
    }

    public static Linear Linear(long inFeatures, long outFeatures, bool bias, Device? device, ScalarType dtype) =>
        new(EmptyParameter([outFeatures, inFeatures], device, dtype), bias ? EmptyParameter([outFeatures], device, dtype) : null);

    /// <summary>LayerNorm with weight 1, bias 0 (cheap, so initialised as torch does).</summary>
    public static LayerNorm LayerNorm(long dim, double eps, bool elementwiseAffine, Device? device, ScalarType dtype) =>
        nn.LayerNorm(dim, eps, elementwiseAffine, elementwiseAffine, device, dtype);

    /// <summary>normal_(0, std) on a weight and zero on its bias (HF's Linear init).</summary>
    public static void InitNormal(Linear linear, double std, Generator? generator)
    {
        using var _ = no_grad();
        linear.weight.normal_(0, std, generator);
        linear.bias?.zero_();
    }

    public static void InitLayerNorm(LayerNorm ln)
    {
        using var _ = no_grad();
        ln.weight?.fill_(1.0);
        ln.bias?.zero_();
    }
}
