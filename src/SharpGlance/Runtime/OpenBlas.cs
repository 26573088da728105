using System.Runtime.InteropServices;

namespace SharpGlance.Runtime;

/// <summary>
/// The system's OpenBLAS (Debian: <c>libopenblas0-openmp</c>, installed by scripts/setup.sh), bound at run
/// time: SharpGlance works without it and then keeps libtorch's GEMM. Why have it at all: on the AMD CPUs
/// we run on, libtorch's statically linked MKL takes a slower code path for fp32 GEMM (measured ~45–75
/// GFLOP/s on ViT-L shapes with 2 threads, OpenBLAS ~115; see bench/README.md). Only the two CBLAS
/// routines the fast <see cref="Nn.Linear"/> needs are bound. OpenBLAS reads OPENBLAS_CORETYPE,
/// OPENBLAS_NUM_THREADS and OMP_* when it loads, i.e. at the first use here.
/// <para>
/// A DYNAMIC_ARCH OpenBLAS picks its kernels by CPU model, and a release older than the CPU falls back to
/// its oldest set: OpenBLAS 0.3.21 runs an AVX-512/AMX Xeon on the SSE3 "Prescott" kernels, 60–80 GFLOP/s
/// where libtorch reaches 325–385. When the core it chose is older than AVX2 and the CPU has AVX2, the
/// load switches it to the kernels the CPU can run (SkylakeX with AVX-512, else Haswell) — unless the user
/// set OPENBLAS_CORETYPE — and <see cref="CoreFix"/> says so.
/// </para>
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
        string core = CoreFix is null ? CoreName() : $"{CoreFix}, switched: this OpenBLAS does not know the CPU";
        return $"{Config()} (core {core}, {Threads} threads, {LibraryName})";
    }

    public static string Config() => Loaded.Value is { } api && api.GetConfig is not null ? Marshal.PtrToStringAnsi((IntPtr)api.GetConfig()) ?? "?" : "?";

    /// <summary>"Prescott → SkylakeX" when the load replaced a fallback core (see the class comment), else null.</summary>
    public static string? CoreFix { get; private set; }

    /// <summary>The kernel family OpenBLAS chose (Haswell, SkylakeX, Zen, …); OPENBLAS_CORETYPE overrides it.</summary>
    public static string CoreName() => Loaded.Value is { } api ? CoreNameOf(api) : "?";

    // Also read while the library loads (ReplaceFallbackCore), before Loaded has a value.
    private static string CoreNameOf(Api api) => api.GetCoreName is not null ? Marshal.PtrToStringAnsi((IntPtr)api.GetCoreName()) ?? "?" : "?";

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

    // The vector level of OpenBLAS's x86-64 core types (0 = SSE only, 1 = AVX, 2 = AVX2, 3 = AVX-512), as
    // OpenBLAS's dynamic.c names them; an unknown name counts as current (left alone).
    private static readonly Dictionary<string, int> CoreLevels = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Katmai"] = 0, ["Coppermine"] = 0, ["Northwood"] = 0, ["Prescott"] = 0, ["Banias"] = 0, ["Atom"] = 0, ["Core2"] = 0,
        ["Penryn"] = 0, ["Dunnington"] = 0, ["Nehalem"] = 0, ["Athlon"] = 0, ["Opteron"] = 0, ["Opteron_SSE3"] = 0,
        ["Barcelona"] = 0, ["Nano"] = 0, ["Bobcat"] = 0,
        ["Sandybridge"] = 1, ["Bulldozer"] = 1, ["Piledriver"] = 1, ["Steamroller"] = 1,
        ["Haswell"] = 2, ["Zen"] = 2, ["Excavator"] = 2,
        ["SkylakeX"] = 3, ["Cooperlake"] = 3, ["SapphireRapids"] = 3,
    };

    /// <summary>
    /// The core type to switch to when OpenBLAS chose <paramref name="core"/> on <paramref name="cpu"/>: a
    /// core older than AVX2 on a CPU with AVX2 is a fallback (the release does not know the CPU), replaced
    /// by SkylakeX (AVX-512 CPUs) or Haswell; anything else is left as OpenBLAS chose it (null).
    /// </summary>
    public static string? FallbackReplacement(string core, CpuFeatures cpu)
    {
        if (!cpu.Avx2 || !CoreLevels.TryGetValue(core, out int level) || level >= 2) return null;
        return cpu.Avx512 ? "SkylakeX" : "Haswell";
    }

    /// <summary>
    /// Re-selects OpenBLAS's kernels as <c>OPENBLAS_CORETYPE=<paramref name="core"/></c> would have at load
    /// (null: as it detects them), through DYNAMIC_ARCH's own gotoblas_dynamic_quit/init. Only between
    /// products: callers hold <see cref="CpuGemm"/>'s lock. Returns the core now in use.
    /// </summary>
    internal static string UseCore(string? core)
    {
        var api = Loaded.Value ?? throw new InvalidOperationException("OpenBLAS is not available: " + Problem);
        Reinitialize(api, core);
        return CoreName();
    }

    private static void Reinitialize(Api api, string? core)
    {
        if (api.DynamicInit is null || api.DynamicQuit is null)
            throw new GlanceException($"{LibraryName}: not a DYNAMIC_ARCH build, its kernels cannot be switched; set OPENBLAS_CORETYPE before starting instead");
        if (core is null) NativeEnvironment.Unset("OPENBLAS_CORETYPE");
        else NativeEnvironment.Set("OPENBLAS_CORETYPE", core);
        api.DynamicQuit();
        api.DynamicInit();
    }

    private sealed class Api
    {
        public delegate* unmanaged<void> DynamicInit;
        public delegate* unmanaged<void> DynamicQuit;
        public delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
        public delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemv;
        public delegate* unmanaged<byte*> GetConfig;
        public delegate* unmanaged<byte*> GetCoreName;
        public delegate* unmanaged<int> GetNumThreads;
        public delegate* unmanaged<int, void> SetNumThreads;
    }

    // Before any product has run, so nothing is in flight while the kernels change.
    private static void ReplaceFallbackCore(Api api)
    {
        if (Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") is { Length: > 0 }) return;   // the user's choice
        if (api.GetCoreName is null || api.DynamicInit is null || api.DynamicQuit is null) return;
        string before = CoreNameOf(api);
        if (FallbackReplacement(before, CpuFeatures.Current) is not { } target) return;
        Reinitialize(api, target);
        string after = CoreNameOf(api);
        if (string.Equals(after, target, StringComparison.OrdinalIgnoreCase)) CoreFix = $"{before} → {after}";
        else Reinitialize(api, null);   // this build lacks the target's kernels: back to what it chose
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
            var api = new Api
            {
                DynamicInit = (delegate* unmanaged<void>)Optional(handle, "gotoblas_dynamic_init"),
                DynamicQuit = (delegate* unmanaged<void>)Optional(handle, "gotoblas_dynamic_quit"),
                Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm,
                Sgemv = (delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemv,
                GetConfig = (delegate* unmanaged<byte*>)Optional(handle, "openblas_get_config"),
                GetCoreName = (delegate* unmanaged<byte*>)Optional(handle, "openblas_get_corename"),
                GetNumThreads = (delegate* unmanaged<int>)Optional(handle, "openblas_get_num_threads"),
                SetNumThreads = (delegate* unmanaged<int, void>)Optional(handle, "openblas_set_num_threads"),
            };
            ReplaceFallbackCore(api);
            return api;
        }
        Problem ??= $"none of {string.Join(", ", names)} could be loaded (Debian: apt-get install libopenblas0-openmp, or run scripts/setup.sh)";
        return null;
    }
}
