using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Runtime;

/// <summary>One Linear shape of the full-size model: y[M,N] = x[M,K]·W[N,K]ᵀ + b.</summary>
public sealed record GemmShape(string Name, long M, long K, long N)
{
    public double GFlop => 2.0 * M * K * N / 1e9;

    /// <summary>The shapes that decide a caption's latency (batch 1; 577 = CLS + 576 patches, 591 = visual + prompt tokens).</summary>
    public static IReadOnlyList<GemmShape> Captioning { get; } =
    [
        new("vit q/k/v/out", 577, 1024, 1024),
        new("vit q+k+v fused", 577, 1024, 3072),
        new("vit fc1", 577, 1024, 4096),
        new("vit fc2", 577, 4096, 1024),
        new("connector 0", 576, 1024, 768),
        new("opt prefill fc1", 591, 768, 3072),
        new("opt prefill fc2", 591, 3072, 768),
        new("opt prefill q/k/v", 591, 768, 768),
        new("opt decode fc1", 1, 768, 3072),
        new("opt decode fc2", 1, 3072, 768),
        new("opt decode q/k/v", 1, 768, 768),
        new("lm head (decode)", 1, 768, 50272),
        new("opt decode fc1 ×8", 8, 768, 3072),
        new("opt fc1 M=16", 16, 768, 3072),
        new("opt fc1 M=32", 32, 768, 3072),
        new("opt fc1 M=64", 64, 768, 3072),
    ];
}

/// <summary>The time of one shape on one backend: median milliseconds over the runs, and GFLOP/s from it.</summary>
public sealed record GemmTiming(string Shape, long M, long K, long N, string Backend, double MedianMs, double GFlops, double MaxAbsDiff);

/// <summary>
/// <c>glance bench --kernels</c>: the Linear shapes of a caption on libtorch and on OpenBLAS (through
/// <see cref="CpuGemm.Linear"/> with its row threshold lifted), to see where the GEMM time goes and check
/// that both agree.
/// </summary>
public static class GemmBenchmark
{
    public static IReadOnlyList<GemmTiming> Run(IReadOnlyList<GemmShape>? shapes = null, int repeats = 10, IProgress<ProgressUpdate>? progress = null)
    {
        shapes ??= GemmShape.Captioning;
        if (repeats < 1) throw new GlanceException($"repeats must be at least 1 (got {repeats})");
        var backends = new List<GemmBackend> { GemmBackend.Torch };
        if (OpenBlas.IsAvailable) backends.Add(GemmBackend.OpenBlas);
        var results = new List<GemmTiming>();
        var saved = (CpuGemm.Backend, CpuGemm.MinRows);
        using var _ = no_grad();
        using var generator = new Generator(0);
        int done = 0;
        try
        {
            CpuGemm.MinRows = 1;
            foreach (var s in shapes)
            {
                using var scope = NewDisposeScope();
                var x = rand([s.M, s.K], generator: generator) - 0.5;
                var w = (rand([s.N, s.K], generator: generator) - 0.5) * 0.05;
                var b = rand([s.N], generator: generator) - 0.5;
                Tensor? reference = null;
                foreach (var backend in backends)
                {
                    CpuGemm.Backend = backend;
                    var y = CpuGemm.Linear(x, w, b);   // warm-up (and the value to compare)
                    reference ??= y;
                    double diff = (y - reference).abs().max().item<float>();
                    int reps = s.GFlop < 0.01 ? repeats * 20 : repeats;
                    var times = new double[reps];
                    for (int r = 0; r < reps; r++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        using var yr = CpuGemm.Linear(x, w, b);
                        times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    }
                    double median = TimingStats.Of(times).Median;
                    results.Add(new GemmTiming(s.Name, s.M, s.K, s.N, backend == GemmBackend.Torch ? "torch" : "openblas", median, s.GFlop / (median / 1000), diff));
                }
                progress?.Report(new ProgressUpdate(++done, shapes.Count, s.Name));
            }
        }
        finally
        {
            CpuGemm.Backend = saved.Backend;
            CpuGemm.MinRows = saved.MinRows;
        }
        return results;
    }
}
