using SharpGlance.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Nn;

/// <summary>
/// <c>torch.nn.Linear</c> with the same parameters (<c>weight</c> [out, in], optional <c>bias</c> [out], so
/// state-dict keys are PyTorch's) whose forward goes through <see cref="CpuGemm.Linear"/>: OpenBLAS for
/// fp32 CPU inference, libtorch for everything else (training, CUDA, other dtypes). TorchSharp's own
/// Linear is sealed, hence this class. Built by <see cref="Layers.Linear"/>.
/// </summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    public Parameter? bias;

    /// <summary>Wraps existing parameters (e.g. a tied head over an embedding's weight).</summary>
    public Linear(Parameter weight, Parameter? bias = null) : base(nameof(Linear))
    {
        if (weight.dim() != 2) throw new ArgumentException($"Linear: weight must be [out, in], got [{string.Join(", ", weight.shape)}]");
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException($"Linear: bias [{string.Join(", ", bias.shape)}] does not match weight [{string.Join(", ", weight.shape)}]");
        this.weight = weight;
        this.bias = bias;
        RegisterComponents();
    }

    public long InFeatures => weight.shape[1];
    public long OutFeatures => weight.shape[0];

    public override Tensor forward(Tensor x) => CpuGemm.Linear(x, weight, bias);
}
