using System.Runtime.InteropServices;

namespace SharpGlance.Runtime;

/// <summary>
/// The system's OpenBLAS (Debian: <c>libopenblas0-openmp</c>, installed by scripts/setup.sh), bound at run
/// time: SharpGlance works without it and then keeps libtorch's GEMM. Why have it at all: on the AMD CPUs
/// we run on, libtorch's statically linked MKL takes a slower code path for fp32 GEMM (measured ~45–75
/// GFLOP/s on ViT-L shapes with 2 threads, OpenBLAS ~115; see bench/README.md). Only the two CBLAS
/// routines the fast <see cref="Nn.Linear"/> needs are bound. OpenBLAS reads OPENBLAS_CORETYPE,
/// OPENBLAS_NUM_THREADS and OMP_* when it loads, i.e. at the first use here.
/// </summary>
public static unsafe class OpenBlas
{
    // CBLAS enums (cblas.h).
    public const int RowMajor = 101;
    public const int NoTrans = 111;
    public const int Trans = 112;

    private static readonly Lazy<Api?> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Library names tried in order; <c>SHARPGLANCE_OPENBLAS</c> (a path) comes first when set.</summary>
    public static readonly string[] Candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll"];

    /// <summary>True when an OpenBLAS with cblas_sgemm/cblas_sgemv was found (loads it on first call).</summary>
    public static bool IsAvailable => Loaded.Value is not null;

    /// <summary>Why it is not available (null when it is).</summary>
    public static string? Problem { get; private set; }

    /// <summary>The file that was loaded, e.g. /usr/lib/x86_64-linux-gnu/libopenblas.so.0.</summary>
    public static string? LibraryName { get; private set; }

    /// <summary>"OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64", the kernel in use ("Haswell") and its threads.</summary>
    public static string Describe()
    {
        var api = Loaded.Value;
        if (api is null) return $"not available ({Problem})";
        return $"{Config()} (core {CoreName()}, {Threads} threads, {LibraryName})";
    }

    public static string Config() => Loaded.Value is { } api && api.GetConfig is not null ? Marshal.PtrToStringAnsi((IntPtr)api.GetConfig()) ?? "?" : "?";

    /// <summary>The kernel family OpenBLAS chose (Haswell, SkylakeX, Zen, …); OPENBLAS_CORETYPE overrides it.</summary>
    public static string CoreName() => Loaded.Value is { } api && api.GetCoreName is not null ? Marshal.PtrToStringAnsi((IntPtr)api.GetCoreName()) ?? "?" : "?";

    /// <summary>OpenBLAS's thread count (get/set; setting is process-wide).</summary>
    public static int Threads
    {
        get => Loaded.Value is { GetNumThreads: not null } api ? api.GetNumThreads() : 0;
        set { if (Loaded.Value is { SetNumThreads: not null } api) api.SetNumThreads(value); }
    }

    /// <summary>C[M,N] = alpha·op(A)·op(B) + beta·C, row-major (cblas_sgemm).</summary>
    public static void Sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        var api = Loaded.Value ?? throw new InvalidOperationException("OpenBLAS is not available: " + Problem);
        api.Sgemm(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /// <summary>y[M] = alpha·op(A)·x + beta·y (cblas_sgemv).</summary>
    public static void Sgemv(int order, int trans, int m, int n, float alpha, float* a, int lda, float* x, int incx, float beta, float* y, int incy)
    {
        var api = Loaded.Value ?? throw new InvalidOperationException("OpenBLAS is not available: " + Problem);
        api.Sgemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
    }

    private sealed class Api
    {
        public delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
        public delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemv;
        public delegate* unmanaged<byte*> GetConfig;
        public delegate* unmanaged<byte*> GetCoreName;
        public delegate* unmanaged<int> GetNumThreads;
        public delegate* unmanaged<int, void> SetNumThreads;
    }

    private static Api? Load()
    {
        if (Environment.GetEnvironmentVariable("SHARPGLANCE_NO_OPENBLAS") == "1")
        {
            Problem = "disabled by SHARPGLANCE_NO_OPENBLAS=1";
            return null;
        }
        var names = new List<string>();
        if (Environment.GetEnvironmentVariable("SHARPGLANCE_OPENBLAS") is { Length: > 0 } custom) names.Add(custom);
        names.AddRange(Candidates);
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var sgemm) || !NativeLibrary.TryGetExport(handle, "cblas_sgemv", out var sgemv))
            {
                Problem = $"{name} has no cblas_sgemm/cblas_sgemv";
                continue;
            }
            static IntPtr Optional(IntPtr h, string export) => NativeLibrary.TryGetExport(h, export, out var p) ? p : IntPtr.Zero;
            LibraryName = name;
            Problem = null;
            return new Api
            {
                Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm,
                Sgemv = (delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemv,
                GetConfig = (delegate* unmanaged<byte*>)Optional(handle, "openblas_get_config"),
                GetCoreName = (delegate* unmanaged<byte*>)Optional(handle, "openblas_get_corename"),
                GetNumThreads = (delegate* unmanaged<int>)Optional(handle, "openblas_get_num_threads"),
                SetNumThreads = (delegate* unmanaged<int, void>)Optional(handle, "openblas_set_num_threads"),
            };
        }
        Problem ??= $"none of {string.Join(", ", names)} could be loaded (Debian: apt-get install libopenblas0-openmp, or run scripts/setup.sh)";
        return null;
    }
}
