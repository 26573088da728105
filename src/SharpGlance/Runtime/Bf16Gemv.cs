using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace SharpGlance.Runtime;

/// <summary>
/// y = x·Wᵀ + b for one bf16 row x [K] (greedy decoding of one sequence) and a bf16 weight [N, K], reading
/// the weight once at the memory bandwidth: each weight row is widened to fp32 in registers (a bf16 is the
/// upper half of an fp32), multiplied with x and summed in fp32, and the sum plus the bias is rounded to bf16
/// (to nearest even), as libtorch rounds its own bf16 linear. Several rows (beams, a batch) stay on libtorch:
/// this loop, one row of x at a time, measured slower than libtorch from 3 rows on.
/// Our own code because nothing installed here does this product well: Debian's OpenBLAS 0.3.21 is built
/// without <c>sbgemm</c>, and libtorch 2.10's bf16 linear took 1.4–2× the time the bandwidth allows for one
/// row on Zen 4 (bench/README.md). Whether it is used on a machine is the kernel plan's measured choice
/// (<see cref="KernelPlan.Bf16Gemv"/>); <see cref="CpuGemm.Linear"/> routes to it.
/// </summary>
public static unsafe class Bf16Gemv
{
    /// <summary>Weights of at least this many elements are split across the threads; smaller ones run on the caller's (measured: 768×768 alone is faster).</summary>
    public const long ParallelWork = 1_000_000;

    private static long _calls;

    /// <summary>How many products went through this loop so far (tests check that the route was taken).</summary>
    public static long Calls => Interlocked.Read(ref _calls);

    // The input row widened to fp32 once per call; per thread, so the decode loop allocates nothing here.
    [ThreadStatic] private static float[]? _row;

    /// <summary>bf16 on the CPU, a contiguous 2-D weight, one row, and nothing for autograd to record.</summary>
    public static bool Applies(Tensor x, Tensor weight, Tensor? bias)
    {
        if (x.dtype != ScalarType.BFloat16 || weight.dtype != ScalarType.BFloat16) return false;
        if (x.device_type != TorchSharp.DeviceType.CPU || weight.device_type != TorchSharp.DeviceType.CPU) return false;
        if (weight.dim() != 2 || x.dim() < 1 || !weight.is_contiguous() || x.shape[^1] != weight.shape[1] || weight.shape[1] == 0) return false;
        if (bias is not null && (bias.dtype != ScalarType.BFloat16 || bias.device_type != TorchSharp.DeviceType.CPU || bias.dim() != 1
            || bias.shape[0] != weight.shape[0] || !bias.is_contiguous())) return false;
        if (is_grad_enabled() && (x.requires_grad || weight.requires_grad || (bias?.requires_grad ?? false))) return false;
        return x.numel() == weight.shape[1] && weight.numel() <= int.MaxValue;
    }

    /// <summary>The product; the caller checked <see cref="Applies"/>.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        int k = (int)weight.shape[1], n = (int)weight.shape[0];
        using var contiguous = x.is_contiguous() ? null : x.contiguous();
        var input = contiguous ?? x;
        var y = empty([.. x.shape[..^1], n], ScalarType.BFloat16);
        var row = _row is { } buffer && buffer.Length >= k ? buffer : (_row = new float[Math.Max(k, 4096)]);
        fixed (byte* xp = &MemoryMarshal.GetReference(input.bytes))
        fixed (byte* wp = &MemoryMarshal.GetReference(weight.bytes))
        fixed (byte* yp = &MemoryMarshal.GetReference(y.bytes))
        fixed (byte* bp = bias is null ? Span<byte>.Empty : bias.bytes)
        fixed (float* xf = row)
        {
            var xs = (ushort*)xp;
            for (int i = 0; i < k; i++) xf[i] = BitConverter.Int32BitsToSingle(xs[i] << 16);
            var job = new Job((ushort*)wp, xf, (ushort*)bp, (ushort*)yp, k);
            int threads = (long)n * k >= ParallelWork ? Math.Min(get_num_threads(), Math.Max(1, n / 64)) : 1;
            if (threads <= 1) job.Run(0, n);
            else
            {
                int chunk = (n + threads - 1) / threads;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, p => job.Run(p * chunk, Math.Min(n, (p + 1) * chunk)));
            }
        }
        Interlocked.Increment(ref _calls);
        return y;
    }

    /// <summary>bf16 (to nearest even, NaN kept a quiet NaN) of an fp32.</summary>
    public static ushort ToBf16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 0x40);
        u += 0x7FFF + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    private readonly struct Job(ushort* w, float* x, ushort* b, ushort* y, int k)
    {
        private readonly nint _w = (nint)w, _x = (nint)x, _b = (nint)b, _y = (nint)y;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int from, int to)
        {
            ushort* w = (ushort*)_w, b = (ushort*)_b, y = (ushort*)_y;
            float* x = (float*)_x;
            for (int r = from; r < to; r++)
            {
                float bias = b is null ? 0f : BitConverter.Int32BitsToSingle(b[r] << 16);
                y[r] = ToBf16(Dot(w + (long)r * k, x, k) + bias);
            }
        }
    }

    /// <summary>Σ w[i]·x[i] over a bf16 row and an fp32 row, in fp32 with the widest vectors the CPU has.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(ushort* w, float* x, int k)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated && k >= 32)
        {
            Vector512<float> a0 = default, a1 = default;
            for (; i + 32 <= k; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(w + i));
                a0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(lo, 16).AsSingle(), Vector512.Load(x + i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(hi, 16).AsSingle(), Vector512.Load(x + i + 16), a1);
            }
            sum = Vector512.Sum(a0 + a1);
        }
        else if (Vector256.IsHardwareAccelerated && k >= 16)
        {
            Vector256<float> a0 = default, a1 = default;
            for (; i + 16 <= k; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(w + i));
                a0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(lo, 16).AsSingle(), Vector256.Load(x + i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(hi, 16).AsSingle(), Vector256.Load(x + i + 8), a1);
            }
            sum = Vector256.Sum(a0 + a1);
        }
        for (; i < k; i++) sum += BitConverter.Int32BitsToSingle(w[i] << 16) * x[i];
        return sum;
    }
}
