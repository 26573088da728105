using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Runtime;

/// <summary>Which library multiplies the matrices of an fp32 CPU <see cref="Nn.Linear"/> at inference.</summary>
public enum GemmBackend
{
    /// <summary>As the machine's <see cref="KernelPlan"/> says once one is in use; before that, OpenBLAS when it is installed.</summary>
    Auto,
    /// <summary>Always libtorch (<c>torch.nn.functional.linear</c>, i.e. its bundled MKL).</summary>
    Torch,
    /// <summary>OpenBLAS; an error when it is missing.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("openblas")]
    OpenBlas,
    /// <summary>Ours: the kernel plan's choice on its bf16 routes (<see cref="Bf16Gemv"/>, <see cref="Bf16DecodeAttention"/>); not a <c>--gemm</c> value.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("own")]
    Own,
}

/// <summary>
/// The fast fp32 CPU inference path of every <see cref="Nn.Linear"/>: y[M,N] = x[M,K]·W[N,K]ᵀ + b as one
/// <c>cblas_sgemm(RowMajor, NoTrans, Trans)</c> on the tensors' own storage (no copies: the pointers come
/// from <c>Tensor.bytes</c>, a span over libtorch's buffer), with the bias pre-filled into y and beta = 1.
/// It applies only where autograd has nothing to record (no_grad, or nothing requires grad), on CPU, in
/// float32; everything else — training, CUDA, fp16/bf16 — goes through libtorch, except one-row bf16
/// products (<see cref="Bf16Gemv"/>) where the plan chose ours, and training products under
/// <see cref="TrainingAutocast"/>. A ~1e-6 relative difference from libtorch's result is expected (another
/// summation order), well inside the parity tolerances.
/// </summary>
public static unsafe class CpuGemm
{
    private static volatile GemmBackend _backend = GemmBackend.Auto;

    private static volatile KernelPlan? _plan;

    /// <summary>
    /// The measured plan <see cref="GemmBackend.Auto"/> follows (the CLI loads or measures it at start;
    /// null: the library's old rule, OpenBLAS whenever it is installed).
    /// </summary>
    public static KernelPlan? Plan
    {
        get => _plan;
        set => _plan = value;
    }

    /// <summary>The process-wide choice (<c>--gemm</c>); Auto by default.</summary>
    public static GemmBackend Backend
    {
        get => _backend;
        set
        {
            if (value == GemmBackend.OpenBlas && !OpenBlas.IsAvailable)
                throw new GlanceException($"--gemm openblas: OpenBLAS is {OpenBlas.Describe()}");
            _backend = value;
        }
    }

    /// <summary>
    /// Row counts (M = batch × tokens) below this stay on libtorch (but see <see cref="GemvMinWeights"/>):
    /// a few rows are bound by memory bandwidth, not FLOPs, and there OpenBLAS pays its thread start-up per
    /// call, so libtorch is as fast or faster (measured, bench/README.md).
    /// </summary>
    public static int MinRows { get; set; } = 16;

    /// <summary>
    /// Row counts from this up are the many-row route (<see cref="GemmRoute.Gemm"/>: the ViT, the prefill);
    /// from <see cref="MinRows"/> to here the few-row route (<see cref="GemmRoute.FewRows"/>: batched decoding).
    /// </summary>
    public const int ManyRows = 256;

    /// <summary>
    /// A single row (decoding one token) still goes to OpenBLAS's sgemv when the weight has at least this
    /// many elements: there it streams the matrix faster than libtorch (LM head 768×50272: 3.5 ms against
    /// 8.2; OPT-125M's fc1/fc2: 0.12 against 0.15), while for small weights (q, k, v: 0.06 against 0.04)
    /// the call overhead wins (bench/README.md).
    /// </summary>
    public static long GemvMinWeights { get; set; } = 2_000_000;

    private static long _openBlasCalls;

    // One product at a time: each call already uses every core, and OpenMP builds of OpenBLAS are not
    // documented as safe to enter from several non-OpenMP threads at once (a server captioning in parallel).
    private static readonly Lock Serial = new();

    /// <summary>How many products went through OpenBLAS so far (tests check that the path was taken).</summary>
    public static long OpenBlasCalls => Interlocked.Read(ref _openBlasCalls);

    /// <summary>True when <see cref="Linear"/> will use OpenBLAS for some large enough fp32 CPU inputs.</summary>
    public static bool UsesOpenBlas => Enum.GetValues<GemmRoute>().Any(Routes);

    /// <summary>True when products of <paramref name="route"/>'s kind go to OpenBLAS: forced, or Auto and the plan (or, without one, its presence) says so.</summary>
    public static bool Routes(GemmRoute route) => _backend switch
    {
        GemmBackend.Torch => false,
        GemmBackend.OpenBlas => OpenBlas.IsAvailable,
        _ => OpenBlas.IsAvailable && (_plan is not { } plan || plan.For(route) == GemmBackend.OpenBlas),
    };

    /// <summary>
    /// The route of a product of <paramref name="m"/> rows with a <paramref name="weights"/>-element weight, or
    /// null where it always stays on libtorch (2 to <see cref="MinRows"/> − 1 rows; one row with a small weight).
    /// </summary>
    public static GemmRoute? RouteOf(long m, long weights) =>
        m >= MinRows ? (m >= ManyRows ? GemmRoute.Gemm : GemmRoute.FewRows)
        : m == 1 && weights >= GemvMinWeights ? GemmRoute.Gemv
        : null;

    /// <summary>Intra-op threads for both backends: libtorch's and, when installed, OpenBLAS's.</summary>
    public static void SetThreads(int threads)
    {
        if (threads < 1) throw new GlanceException($"--threads must be at least 1 (got {threads})");
        set_num_threads(threads);
        if (OpenBlas.IsAvailable) OpenBlas.Threads = threads;
    }

    private static string How => _backend switch
    {
        GemmBackend.Torch => "forced by --gemm torch",
        GemmBackend.OpenBlas => "forced by --gemm openblas",
        _ => _plan is null ? "no kernel plan in use" : "the measured kernel plan",
    };

    /// <summary>What of a bf16 decoding step runs on our kernels ("" when nothing).</summary>
    private static string OwnBf16Kernels()
    {
        var p = _backend == GemmBackend.Torch ? null : _plan;
        var own = new[] { p?.Bf16Gemv == GemmBackend.Own ? "one-row products on our loop" : null, p?.Bf16Attention == GemmBackend.Own ? "attention on ours" : null }.OfType<string>().ToList();
        return string.Join(" and ", own);
    }

    /// <summary>One line for <c>glance info</c> and the benchmark.</summary>
    public static string Describe()
    {
        string how = How;
        bool gemm = Routes(GemmRoute.Gemm), few = Routes(GemmRoute.FewRows), gemv = Routes(GemmRoute.Gemv);
        string bf16 = OwnBf16Kernels() is { Length: > 0 } own ? "; bf16 decoding: " + own : "";
        if (!gemm && !few && !gemv) return $"libtorch ({how}; {(OpenBlas.IsAvailable ? "" : "OpenBLAS ")}{OpenBlas.Describe()}){bf16}";
        var parts = new List<string>();
        if (gemm && few) parts.Add($"≥ {MinRows} rows");
        else if (gemm) parts.Add($"≥ {ManyRows} rows");
        else if (few) parts.Add($"{MinRows}–{ManyRows - 1} rows");
        if (gemv) parts.Add($"1 row with weights ≥ {GemvMinWeights / 1e6:0.#}M");
        return $"OpenBLAS for fp32 CPU inference with {string.Join(" and ", parts)}, libtorch otherwise ({how}): {OpenBlas.Describe()}{bf16}";
    }

    /// <summary>
    /// bf16 autocast for training (<c>glance train --autocast bf16</c>): while autograd records, every fp32 CPU
    /// <see cref="Linear"/> multiplies its input and weight rounded to bf16 and returns fp32, as PyTorch's CPU
    /// autocast does for <c>linear</c>; the weights, their gradients and the optimizer stay fp32.
    /// </summary>
    public static bool TrainingAutocast { get; set; }

    /// <summary>One line for a bf16 run: libtorch, and what the plan gives our kernels when decoding.</summary>
    public static string DescribeBf16() =>
        $"libtorch bf16{(OwnBf16Kernels() is { Length: > 0 } own ? "; decoding: " + own : "")} ({How})";

    /// <summary>
    /// <c>torch.nn.functional.linear(x, weight, bias)</c>, through OpenBLAS where that applies, and one bf16 row
    /// through <see cref="Bf16Gemv"/> where the plan chose it.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        if (TrainingAutocast && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && x.device_type == DeviceType.CPU
            && is_grad_enabled() && (x.requires_grad || weight.requires_grad || (bias?.requires_grad ?? false)))
        {
            using var scope = NewDisposeScope();
            return nn.functional.linear(x.to(ScalarType.BFloat16), weight.to(ScalarType.BFloat16), bias?.to(ScalarType.BFloat16))
                .to(ScalarType.Float32).MoveToOuterDisposeScope();
        }
        if (x.dtype == ScalarType.BFloat16)
            return _backend != GemmBackend.Torch && _plan?.Bf16Gemv == GemmBackend.Own && Bf16Gemv.Applies(x, weight, bias)
                ? Bf16Gemv.Linear(x, weight, bias)
                : nn.functional.linear(x, weight, bias);
        if (_backend == GemmBackend.Torch || !Applies(x, weight, bias) || !OpenBlas.IsAvailable) return nn.functional.linear(x, weight, bias);
        long k = x.shape[^1], n = weight.shape[0];
        if (weight.shape[1] != k)
            throw new GlanceException($"linear: input [{string.Join(", ", x.shape)}] does not match weight [{string.Join(", ", weight.shape)}]");
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != n))
            throw new GlanceException($"linear: bias [{string.Join(", ", bias.shape)}] does not match weight [{string.Join(", ", weight.shape)}]");
        long m = k == 0 ? 0 : x.numel() / k;
        bool route = RouteOf(m, k * n) is { } r && Routes(r);
        if (!route || !Fits(m, k, n)) return nn.functional.linear(x, weight, bias);
        return OpenBlasLinear(x, weight, bias);
    }

    /// <summary>
    /// <c>scaled_dot_product_attention</c> at inference; a bf16 decoding step (one query, no mask) on the CPU goes
    /// to <see cref="Bf16DecodeAttention"/> where the plan measured it faster (<see cref="KernelPlan.Bf16Attention"/>).
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor? mask, double dropout, bool causal)
    {
        if (mask is null && !causal && dropout == 0 && _backend != GemmBackend.Torch && _plan?.Bf16Attention == GemmBackend.Own
            && Bf16DecodeAttention.Applies(q, k, v))
            return Bf16DecodeAttention.Forward(q, k, v);
        return nn.functional.scaled_dot_product_attention(q, k, v, mask, dropout, causal);
    }

    // Tensor.bytes is a Span (int-sized) and CBLAS takes int sizes.
    private static bool Fits(long m, long k, long n) =>
        m >= 1 && k >= 1 && n >= 1 && m * k <= int.MaxValue / 4 && n * k <= int.MaxValue / 4 && m * n <= int.MaxValue / 4;

    /// <summary>
    /// The OpenBLAS product itself, for any row count (the caller checked dtype, device and shapes): y = x·Wᵀ + b
    /// with sgemm, or sgemv for one row.
    /// </summary>
    internal static Tensor OpenBlasLinear(Tensor x, Tensor weight, Tensor? bias)
    {
        long k = x.shape[^1], n = weight.shape[0];
        long m = x.numel() / k;
        if (!Fits(m, k, n)) throw new ArgumentException($"linear: [{m}, {k}]·[{n}, {k}]ᵀ is too large for one CBLAS call");
        using var scope = NewDisposeScope();
        var x2 = x.reshape(m, k);
        if (!x2.is_contiguous()) x2 = x2.contiguous();
        var y = empty([m, n], ScalarType.Float32);
        if (bias is not null) y.copy_(bias.unsqueeze(0).expand(m, n));
        fixed (byte* xp = &MemoryMarshal.GetReference(x2.bytes))
        fixed (byte* wp = &MemoryMarshal.GetReference(weight.bytes))
        fixed (byte* yp = &MemoryMarshal.GetReference(y.bytes))
        lock (Serial)
        {
            if (m == 1)   // y = W·x + b as a matrix-vector product
                OpenBlas.Sgemv(OpenBlas.RowMajor, OpenBlas.NoTrans, (int)n, (int)k, 1f, (float*)wp, (int)k, (float*)xp, 1, bias is null ? 0f : 1f, (float*)yp, 1);
            else
                OpenBlas.Sgemm(OpenBlas.RowMajor, OpenBlas.NoTrans, OpenBlas.Trans, (int)m, (int)n, (int)k,
                    1f, (float*)xp, (int)k, (float*)wp, (int)k, bias is null ? 0f : 1f, (float*)yp, (int)n);
        }
        Interlocked.Increment(ref _openBlasCalls);
        long[] shape = [.. x.shape[..^1], n];
        return y.view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Switches OpenBLAS's kernels (<see cref="OpenBlas.UseCore"/>) between products, under the lock every
    /// OpenBLAS product takes. Returns the core now in use.
    /// </summary>
    internal static string UseOpenBlasCore(string? core)
    {
        lock (Serial) return OpenBlas.UseCore(core);
    }

    /// <summary>CPU, float32, contiguous weight, and nothing for autograd to record.</summary>
    internal static bool Applies(Tensor x, Tensor weight, Tensor? bias)
    {
        if (x.dtype != ScalarType.Float32 || weight.dtype != ScalarType.Float32) return false;
        if (x.device_type != DeviceType.CPU || weight.device_type != DeviceType.CPU) return false;
        if (weight.dim() != 2 || x.dim() < 1 || !weight.is_contiguous()) return false;
        if (bias is not null && (bias.dtype != ScalarType.Float32 || bias.device_type != DeviceType.CPU)) return false;
        if (is_grad_enabled() && (x.requires_grad || weight.requires_grad || (bias?.requires_grad ?? false))) return false;
        return true;
    }
}
