using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Nn;

/// <summary>
/// A lookup table with one parameter, <c>weight</c> [rows, dim] — the state-dict shape of
/// <c>torch.nn.Embedding</c>. Managed rather than TorchSharp's native <c>Embedding</c>, whose
/// <c>weight</c> getter hands out a new wrapper on every call: OPT ties <c>lm_head.weight</c> to this very
/// <see cref="Parameter"/> object (SPEC §5), which needs one stable object.
/// </summary>
public sealed class LearnedEmbedding : nn.Module<Tensor, Tensor>
{
    public Parameter weight;

    public LearnedEmbedding(long rows, long dim, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LearnedEmbedding))
    {
        weight = Layers.EmptyParameter([rows, dim], device, dtype);
        RegisterComponents();
    }

    public long Rows => weight.shape[0];
    public long Dim => weight.shape[1];

    /// <summary>Rows of <c>weight</c> at <paramref name="ids"/> (any shape) → ids.shape + [dim].</summary>
    public override Tensor forward(Tensor ids)
    {
        var flat = ids.reshape(-1);
        long[] shape = [.. ids.shape, Dim];
        return weight.index_select(0, flat).view(shape);
    }
}
