using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Runtime;

/// <summary>
/// The kernel plan's bf16 measurements: a greedy decoding step's one-row products on libtorch's bf16 linear
/// and on <see cref="Bf16Gemv"/>, and its attention (12 heads of 64 over 600 cached tokens) on libtorch's bf16
/// SDPA and on <see cref="Bf16DecodeAttention"/>. A decoding step streams every weight from memory once, so small weights are cycled
/// through enough copies (≥ 64 MB) that they are not timed from the cache.
/// </summary>
public static class Bf16Benchmark
{
    /// <summary>The decoding step's attention as the plan times it: [1, 12, 1, 64] against 600 cached positions.</summary>
    public static readonly GemmShape Attention = new("opt decode attention", 1, 64, 600);

    public static IReadOnlyList<KernelTiming> Run(IReadOnlyList<(GemmShape Shape, int PerCaption)> shapes, int repeats = 5)
    {
        var results = new List<KernelTiming>();
        using var _ = no_grad();
        using var generator = new Generator(0);
        foreach (var (s, perCaption) in shapes)
        {
            using var scope = NewDisposeScope();
            int copies = (int)Math.Clamp(64_000_000 / (2 * s.K * s.N), 1, 32);
            var x = (rand([s.M, s.K], generator: generator) - 0.5).to(ScalarType.BFloat16);
            var ws = Enumerable.Range(0, copies).Select(_ => ((rand([s.N, s.K], generator: generator) - 0.5) * 0.05).to(ScalarType.BFloat16)).ToArray();
            var b = (rand([s.N], generator: generator) - 0.5).to(ScalarType.BFloat16);
            using var reference = nn.functional.linear(x, ws[0], b);
            using var own = Bf16Gemv.Linear(x, ws[0], b);
            double diff = (own.to(ScalarType.Float32) - reference.to(ScalarType.Float32)).abs().max().item<float>();
            int reps = repeats * 20;
            results.Add(new KernelTiming
            {
                Shape = s.Name, M = s.M, K = s.K, N = s.N, Route = GemmRoute.Bf16Gemv, PerCaption = perCaption,
                TorchMs = Math.Round(Median(i => nn.functional.linear(x, ws[i % copies], b), reps), 4),
                OwnMs = Math.Round(Median(i => Bf16Gemv.Linear(x, ws[i % copies], b), reps), 4), OwnMaxAbsDiff = diff,
            });
        }
        {
            using var scope = NewDisposeScope();
            const int layers = 12, heads = 12;
            var q = randn([1, heads, 1, Attention.K], generator: generator).to(ScalarType.BFloat16);
            // Views of longer buffers, as the KV cache hands them out (positions strided by the cache's length).
            Tensor Cache() => randn([1, heads, Attention.N + 64, Attention.K], generator: generator).to(ScalarType.BFloat16).narrow(2, 0, Attention.N);
            var ks = Enumerable.Range(0, layers).Select(_ => Cache()).ToArray();
            var vs = Enumerable.Range(0, layers).Select(_ => Cache()).ToArray();
            using var reference = nn.functional.scaled_dot_product_attention(q, ks[0], vs[0]);
            using var own = Bf16DecodeAttention.Forward(q, ks[0], vs[0]);
            double diff = (own.to(ScalarType.Float32) - reference.to(ScalarType.Float32)).abs().max().item<float>();
            int reps = repeats * 20;
            results.Add(new KernelTiming
            {
                Shape = Attention.Name, M = Attention.M, K = Attention.K, N = Attention.N, Route = GemmRoute.Bf16Attention, PerCaption = 12 * 19,
                TorchMs = Math.Round(Median(i => nn.functional.scaled_dot_product_attention(q, ks[i % layers], vs[i % layers]), reps), 4),
                OwnMs = Math.Round(Median(i => Bf16DecodeAttention.Forward(q, ks[i % layers], vs[i % layers]), reps), 4), OwnMaxAbsDiff = diff,
            });
        }
        return results;
    }

    private static double Median(Func<int, Tensor> step, int repeats)
    {
        for (int i = 0; i < 3; i++) step(i).Dispose();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            step(i).Dispose();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        return TimingStats.Of(times).Median;
    }
}
