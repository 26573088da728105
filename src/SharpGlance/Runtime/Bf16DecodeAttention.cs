using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace SharpGlance.Runtime;

/// <summary>
/// A bf16 decoding step's attention without a mask: one query per sequence and head against the cached keys
/// and values, softmax(q·Kᵀ/√d)·V, read straight from the KV cache's bf16 storage (strided, as the cache's
/// views are) and computed in fp32, the output rounded once to bf16. Our own code because libtorch 2.10's
/// bf16 SDPA took 3× its fp32 time for this shape on Zen 4, and widening the cache to fp32 for its fp32
/// kernel first costs a copy of the whole cache per layer and step (bench/README.md). Used where the kernel
/// plan measured it faster and right (<see cref="KernelPlan.Bf16Attention"/>).
/// </summary>
public static unsafe class Bf16DecodeAttention
{
    // Per-thread scratch for the scores of one head (the cache length), so a decoding step allocates nothing here.
    [ThreadStatic] private static float[]? _scores;

    /// <summary>q [B, H, 1, D], k and v [B, H, T, D] in bf16 on the CPU, the last dimension contiguous, no gradients.</summary>
    public static bool Applies(Tensor q, Tensor k, Tensor v)
    {
        if (q.dtype != ScalarType.BFloat16 || k.dtype != ScalarType.BFloat16 || v.dtype != ScalarType.BFloat16) return false;
        if (q.device_type != TorchSharp.DeviceType.CPU || k.device_type != TorchSharp.DeviceType.CPU || v.device_type != TorchSharp.DeviceType.CPU) return false;
        if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || q.shape[2] != 1) return false;
        if (k.shape[0] != q.shape[0] || k.shape[1] != q.shape[1] || k.shape[3] != q.shape[3] || !v.shape.SequenceEqual(k.shape) || k.shape[2] == 0) return false;
        if (q.stride(3) != 1 || k.stride(3) != 1 || v.stride(3) != 1) return false;
        return !(is_grad_enabled() && (q.requires_grad || k.requires_grad || v.requires_grad));
    }

    /// <summary>The attention [B, H, 1, D] in bf16; the caller checked <see cref="Applies"/>.</summary>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v)
    {
        long b = q.shape[0], h = q.shape[1], t = k.shape[2], d = q.shape[3];
        var y = empty([b, h, 1, d], ScalarType.BFloat16);
        using var qs = Storage(q);
        using var ks = Storage(k);
        using var vs = Storage(v);
        fixed (byte* qp = &MemoryMarshal.GetReference(qs.bytes))
        fixed (byte* kp = &MemoryMarshal.GetReference(ks.bytes))
        fixed (byte* vp = &MemoryMarshal.GetReference(vs.bytes))
        fixed (byte* yp = &MemoryMarshal.GetReference(y.bytes))
        {
            var job = new Job(
                new Strided((ushort*)qp + q.storage_offset(), q.stride(0), q.stride(1), 0),
                new Strided((ushort*)kp + k.storage_offset(), k.stride(0), k.stride(1), k.stride(2)),
                new Strided((ushort*)vp + v.storage_offset(), v.stride(0), v.stride(1), v.stride(2)),
                (ushort*)yp, h, t, d, (float)(1 / Math.Sqrt(d)));
            long heads = b * h;
            int threads = heads > 1 && heads * t * d >= 100_000 ? (int)Math.Min(get_num_threads(), heads) : 1;
            if (threads <= 1) job.Run(0, heads);
            else
            {
                long chunk = (heads + threads - 1) / threads;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, p => job.Run(p * chunk, Math.Min(heads, (p + 1) * chunk)));
            }
        }
        return y;
    }

    // A contiguous 1-D view of everything a strided tensor reaches (its storage from offset 0), so the
    // storage's bytes can be read where Tensor.bytes refuses a non-contiguous view.
    private static Tensor Storage(Tensor x)
    {
        long extent = x.storage_offset() + 1;
        for (int i = 0; i < x.dim(); i++) extent += (x.shape[i] - 1) * x.stride(i);
        return x.as_strided([extent], [1], 0);
    }

    private readonly struct Strided(ushort* start, long batch, long head, long position)
    {
        private readonly nint _start = (nint)start;
        public ushort* Row(long b, long h, long t) => (ushort*)_start + b * batch + h * head + t * position;
    }

    private readonly struct Job(Strided q, Strided k, Strided v, ushort* y, long heads, long t, long d, float scale)
    {
        private readonly nint _y = (nint)y;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(long from, long to)
        {
            var scores = _scores is { } s && s.Length >= t ? s : (_scores = new float[Math.Max(t, 1024)]);
            Span<float> query = stackalloc float[(int)d];
            Span<float> sum = stackalloc float[(int)d];
            fixed (float* sc = scores)
            fixed (float* qf = query)
            fixed (float* acc = sum)
                for (long bh = from; bh < to; bh++)
                {
                    long b = bh / heads, h = bh % heads;
                    ushort* qr = q.Row(b, h, 0);
                    for (int i = 0; i < d; i++) qf[i] = BitConverter.Int32BitsToSingle(qr[i] << 16) * scale;
                    float max = float.NegativeInfinity;
                    for (long j = 0; j < t; j++)
                    {
                        float x = Bf16Gemv.Dot(k.Row(b, h, j), qf, (int)d);
                        sc[j] = x;
                        if (x > max) max = x;
                    }
                    float total = 0;
                    for (long j = 0; j < t; j++) total += sc[j] = MathF.Exp(sc[j] - max);
                    new Span<float>(acc, (int)d).Clear();
                    for (long j = 0; j < t; j++) Axpy(sc[j], v.Row(b, h, j), acc, (int)d);
                    ushort* yr = (ushort*)_y + bh * d;
                    float inv = 1 / total;
                    for (int i = 0; i < d; i++) yr[i] = Bf16Gemv.ToBf16(acc[i] * inv);
                }
        }
    }

    /// <summary>acc += a · row, the bf16 row widened to fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Axpy(float a, ushort* row, float* acc, int d)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var av = Vector512.Create(a);
            for (; i + 32 <= d; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(row + i));
                Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(lo, 16).AsSingle(), av, Vector512.Load(acc + i)).Store(acc + i);
                Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(hi, 16).AsSingle(), av, Vector512.Load(acc + i + 16)).Store(acc + i + 16);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var av = Vector256.Create(a);
            for (; i + 16 <= d; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(row + i));
                Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(lo, 16).AsSingle(), av, Vector256.Load(acc + i)).Store(acc + i);
                Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(hi, 16).AsSingle(), av, Vector256.Load(acc + i + 8)).Store(acc + i + 8);
            }
        }
        for (; i < d; i++) acc[i] += a * BitConverter.Int32BitsToSingle(row[i] << 16);
    }
}
