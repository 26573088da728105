using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpGlance.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Nn;

/// <summary>
/// Several <see cref="Linear"/>s of the same shape over the same input (an attention's q, k and v
/// projections) whose weights and biases are allocated side by side in one buffer, so that inference can
/// compute them with ONE matrix product of N = count × out instead of count products of N = out: for
/// ViT-L's 577×1024·1024×1024 projections OpenBLAS reaches ~115 GFLOP/s, for the fused 1024×3072 ~170
/// (bench/README.md). Each part stays an ordinary <see cref="Linear"/> with its own <c>weight</c>/<c>bias</c>
/// parameters (views into the shared buffer), so state-dict keys, loading, saving, init and training are
/// unchanged. If a part's parameters are replaced (a dtype/device move, an assignment), the buffer no longer
/// backs them and <see cref="TryForward"/> declines.
/// </summary>
public sealed class PackedLinears : IDisposable
{
    private readonly Tensor _weight;   // [count·out, in]
    private readonly Tensor? _bias;    // [count·out]
    private readonly long _in, _out;

    public IReadOnlyList<Linear> Parts { get; }

    public PackedLinears(long inFeatures, long outFeatures, int count, bool bias, Device? device, ScalarType dtype)
    {
        if (count < 1 || inFeatures < 1 || outFeatures < 1) throw new ArgumentException("PackedLinears: sizes must be positive");
        _in = inFeatures;
        _out = outFeatures;
        _weight = empty([count * outFeatures, inFeatures], dtype, device ?? CPU).DetachFromDisposeScope();
        _bias = bias ? empty([count * outFeatures], dtype, device ?? CPU).DetachFromDisposeScope() : null;
        Parts = Enumerable.Range(0, count).Select(i => new Linear(
            Slice(_weight, i), _bias is null ? null : Slice(_bias, i))).ToArray();
    }

    private Parameter Slice(Tensor t, int i) =>
        (Parameter)new Parameter(t.narrow(0, i * _out, _out), requires_grad: true).DetachFromDisposeScope();

    /// <summary>
    /// The parts' outputs side by side, [.., count·out] (part i at columns i·out..), when the fused product
    /// applies: fp32 CPU inference through OpenBLAS, enough rows, and the parts still backed by the shared
    /// buffer. Null otherwise: the caller runs the parts one by one.
    /// </summary>
    public Tensor? TryForward(Tensor x)
    {
        if (!CpuGemm.Applies(x, _weight, _bias) || x.shape[^1] != _in) return null;
        if (x.numel() / _in is var rows && (rows < CpuGemm.MinRows || !CpuGemm.Routes(CpuGemm.RouteOf(rows, _weight.numel())!.Value))) return null;
        // The shared buffer never records gradients; the parts' parameters may.
        if (is_grad_enabled() && Parts.Any(p => p.weight.requires_grad || (p.bias?.requires_grad ?? false))) return null;
        if (!StillShared()) return null;
        return CpuGemm.OpenBlasLinear(x, _weight, _bias);
    }

    /// <summary>Whether every part's weight and bias is still the view into the shared buffer at its offset.</summary>
    private unsafe bool StillShared()
    {
        static byte* Ptr(Tensor t) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
        long wStride = _out * _in * 4, bStride = _out * 4;
        byte* w0 = Ptr(_weight);
        byte* b0 = _bias is null ? null : Ptr(_bias);
        for (int i = 0; i < Parts.Count; i++)
        {
            var p = Parts[i];
            if (p.weight.device_type != DeviceType.CPU || p.weight.dtype != ScalarType.Float32 || !p.weight.is_contiguous()) return false;
            if (Ptr(p.weight) != w0 + i * wStride) return false;
            if ((p.bias is null) != (_bias is null)) return false;
            if (p.bias is not null && (p.bias.dtype != ScalarType.Float32 || Ptr(p.bias) != b0 + i * bStride)) return false;
        }
        return true;
    }

    public void Dispose()
    {
        _weight.Dispose();
        _bias?.Dispose();
    }
}
