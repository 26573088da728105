using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpGlance.Runtime;

/// <summary>The kinds of inference product <see cref="CpuGemm"/> routes, each decided on its own.</summary>
public enum GemmRoute
{
    /// <summary>Many rows (≥ <see cref="CpuGemm.ManyRows"/>): the ViT, the connector, the prefill; compute-bound.</summary>
    Gemm,
    /// <summary>One row and a large weight (decoding: fc1, fc2, the LM head); memory-bound.</summary>
    Gemv,
    /// <summary>
    /// A few rows (<see cref="CpuGemm.MinRows"/> to <see cref="CpuGemm.ManyRows"/>): decoding a batch, a short
    /// prompt. Apart from <see cref="Gemm"/> because the two can prefer different libraries on one CPU (on Zen 4
    /// OpenBLAS was 3–35% faster on the ViT's shapes and up to 51% slower at 32 rows).
    /// </summary>
    FewRows,
    /// <summary>One bf16 row (greedy decoding in bf16): libtorch's bf16 linear or our streaming loop (<see cref="Runtime.Bf16Gemv"/>).</summary>
    Bf16Gemv,
    /// <summary>A decoding step's attention in bf16: libtorch's bf16 kernel or ours (<see cref="Runtime.Bf16DecodeAttention"/>).</summary>
    Bf16Attention,
}

/// <summary>
/// One measured shape of the plan: median milliseconds on each backend, and how far the alternative's result
/// was from libtorch's — OpenBLAS on the fp32 routes, ours on the bf16 routes (<see cref="OwnMs"/>).
/// </summary>
public sealed record KernelTiming
{
    [JsonPropertyName("shape")] public required string Shape { get; init; }
    [JsonPropertyName("m")] public long M { get; init; }
    [JsonPropertyName("k")] public long K { get; init; }
    [JsonPropertyName("n")] public long N { get; init; }
    [JsonPropertyName("route")] public GemmRoute Route { get; init; }
    /// <summary>How many products of this shape's kind a full-size caption runs (its weight in the route's total).</summary>
    [JsonPropertyName("per_caption")] public int PerCaption { get; init; } = 1;
    [JsonPropertyName("torch_ms")] public double TorchMs { get; init; }
    /// <summary>Null when OpenBLAS is not installed.</summary>
    [JsonPropertyName("openblas_ms")] public double? OpenBlasMs { get; init; }
    [JsonPropertyName("openblas_max_abs_diff")] public double? OpenBlasMaxAbsDiff { get; init; }
    /// <summary>The bf16 routes' alternative: <see cref="Bf16Gemv"/> for one row, <see cref="Bf16DecodeAttention"/> for attention; null on the fp32 routes.</summary>
    [JsonPropertyName("own_ms")] public double? OwnMs { get; init; }
    [JsonPropertyName("own_max_abs_diff")] public double? OwnMaxAbsDiff { get; init; }

    /// <summary>The alternative to libtorch on this shape's route: its time and its distance from libtorch's result.</summary>
    [JsonIgnore] public (double? Ms, double? MaxAbsDiff) Alternative => Route is GemmRoute.Bf16Gemv or GemmRoute.Bf16Attention ? (OwnMs, OwnMaxAbsDiff) : (OpenBlasMs, OpenBlasMaxAbsDiff);
}

/// <summary>
/// Which library multiplies the fp32 inference matrices on this machine, decided by timing the full-size
/// model's shapes on each (<see cref="Measure"/>) rather than by what one machine once measured: Debian's
/// OpenBLAS beat libtorch on the AVX2 EPYC we started on, and lost 5× to it on an AMX Xeon that its
/// release did not know. Measured once per machine — keyed by the CPU, its flags, both libraries'
/// versions, OpenBLAS's kernels and the thread count — and cached as JSON in the user's cache folder
/// (<see cref="CacheFolder"/>); <c>glance info</c> shows it and <c>--gemm</c> overrides it.
/// </summary>
public sealed record KernelPlan
{
    /// <summary>Bumped when the shapes or the rule change, so older cached plans are measured again.</summary>
    public const int Version = 4;

    /// <summary>
    /// The largest |OpenBLAS − libtorch| accepted on the measurement's inputs (x ∈ [−0.5, 0.5), W ∈ [−0.025,
    /// 0.025), b ∈ [−0.5, 0.5): outputs below ~2, where fp32 summation order moves the result by ~1e-6).
    /// A kernel that is wrong misses by orders of magnitude more.
    /// </summary>
    public const double Tolerance = 1e-4;

    /// <summary>
    /// The same for the bf16 routes: the results are rounded to bf16, whose step is 2⁻⁷ between 1 and 2, and
    /// another summation order may round the other way; two steps are accepted.
    /// </summary>
    public const double Bf16Tolerance = 2.0 / 128;

    /// <summary>
    /// The alternative must be at least this much faster over a caption's products of the route, so noise does
    /// not flip the choice (medians of the same product move by a few per cent between two measurements here).
    /// </summary>
    public const double MinGain = 0.05;

    [JsonPropertyName("version")] public int PlanVersion { get; init; } = Version;
    [JsonPropertyName("machine")] public required string Machine { get; init; }
    [JsonPropertyName("cpu")] public required string Cpu { get; init; }
    [JsonPropertyName("torch")] public required string Torch { get; init; }
    [JsonPropertyName("openblas")] public required string OpenBlasLibrary { get; init; }
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("measured")] public DateTimeOffset Measured { get; init; }
    /// <summary>Cores other processes kept busy while it was measured (a busy machine makes a noisy plan).</summary>
    [JsonPropertyName("other_cores_busy")] public double OtherCoresBusy { get; init; }
    [JsonPropertyName("gemm")] public GemmBackend Gemm { get; init; } = GemmBackend.Torch;
    [JsonPropertyName("gemv")] public GemmBackend Gemv { get; init; } = GemmBackend.Torch;
    [JsonPropertyName("few_rows")] public GemmBackend FewRows { get; init; } = GemmBackend.Torch;
    /// <summary>One-row bf16 products: <see cref="GemmBackend.Torch"/> or <see cref="GemmBackend.Own"/> (<see cref="Runtime.Bf16Gemv"/>).</summary>
    [JsonPropertyName("bf16_gemv")] public GemmBackend Bf16Gemv { get; init; } = GemmBackend.Torch;
    /// <summary>A bf16 decoding step's attention: <see cref="GemmBackend.Torch"/> or <see cref="GemmBackend.Own"/> (<see cref="Runtime.Bf16DecodeAttention"/>).</summary>
    [JsonPropertyName("bf16_attention")] public GemmBackend Bf16Attention { get; init; } = GemmBackend.Torch;
    [JsonPropertyName("reasons")] public IReadOnlyList<string> Reasons { get; init; } = [];
    [JsonPropertyName("timings")] public IReadOnlyList<KernelTiming> Timings { get; init; } = [];

    /// <summary>
    /// The shapes timed for each route — those that dominate a full-size caption (bench/README.md) — and how
    /// many products of each kind one caption (batch 1, 20 new tokens) runs: the ViT's 4 projections, fc1 and
    /// fc2 in each of 23 blocks; OPT's prefill fc1 standing for its 6 products per layer (3× fc1's work);
    /// 12 fc1 and fc2 per decoding step, 19 steps, and the LM head once per step.
    /// </summary>
    public static IReadOnlyList<(GemmShape Shape, GemmRoute Route, int PerCaption)> Shapes { get; } =
    [
        (new("vit q/k/v/out", 577, 1024, 1024), GemmRoute.Gemm, 4 * 23),
        (new("vit fc1", 577, 1024, 4096), GemmRoute.Gemm, 23),
        (new("vit fc2", 577, 4096, 1024), GemmRoute.Gemm, 23),
        (new("opt prefill fc1", 591, 768, 3072), GemmRoute.Gemm, 3 * 12),
        (new("opt fc1 M=32", 32, 768, 3072), GemmRoute.FewRows, 12 * 19),
        (new("opt fc2 M=32", 32, 3072, 768), GemmRoute.FewRows, 12 * 19),
        (new("opt decode fc1", 1, 768, 3072), GemmRoute.Gemv, 12 * 19),
        (new("opt decode fc2", 1, 3072, 768), GemmRoute.Gemv, 12 * 19),
        (new("lm head (decode)", 1, 768, 50272), GemmRoute.Gemv, 19),
    ];

    /// <summary>The bf16 one-row shapes of a decoding step, timed on libtorch and <see cref="Runtime.Bf16Gemv"/>, and their count per caption.</summary>
    public static IReadOnlyList<(GemmShape Shape, int PerCaption)> Bf16GemvShapes { get; } =
    [
        (new("opt decode q/k/v", 1, 768, 768), 4 * 12 * 19),
        (new("opt decode fc1", 1, 768, 3072), 12 * 19),
        (new("opt decode fc2", 1, 3072, 768), 12 * 19),
        (new("lm head (decode)", 1, 768, 50272), 19),
    ];

    /// <summary>How <c>glance info</c> names a route.</summary>
    public static string Name(GemmRoute route) => route switch
    {
        GemmRoute.Gemm => "many rows",
        GemmRoute.FewRows => "a few rows",
        GemmRoute.Bf16Gemv => "bf16 one row",
        GemmRoute.Bf16Attention => "bf16 decode attention",
        _ => "one row",
    };

    /// <summary>The backend this plan gives <paramref name="route"/>.</summary>
    public GemmBackend For(GemmRoute route) => route switch
    {
        GemmRoute.Gemm => Gemm,
        GemmRoute.FewRows => FewRows,
        GemmRoute.Bf16Gemv => Bf16Gemv,
        GemmRoute.Bf16Attention => Bf16Attention,
        _ => Gemv,
    };

    /// <summary>
    /// The rule, per route: the alternative to libtorch — OpenBLAS on the fp32 routes, ours on the bf16 ones —
    /// only when it is there, right on every shape (max |Δ| ≤ <see cref="Tolerance"/>, or
    /// <see cref="Bf16Tolerance"/> in bf16), and at least <see cref="MinGain"/> faster over a caption's products
    /// of the route (each shape's median times <see cref="KernelTiming.PerCaption"/>); libtorch otherwise. So the
    /// plan never picks a backend that measured wrong, or slower for the work a caption does. (A rule that let
    /// any one shape veto the route flipped between measurements here: 0.03 ms of noise on OPT's decoding fc2
    /// outvoted an LM head twice as fast, and decoding went from 30 to 50 ms per token.)
    /// </summary>
    public static (GemmBackend Backend, string Reason) Decide(GemmRoute route, IReadOnlyList<KernelTiming> timings)
    {
        var shapes = timings.Where(t => t.Route == route).ToList();
        string name = Name(route);
        bool bf16 = route is GemmRoute.Bf16Gemv or GemmRoute.Bf16Attention;
        var (other, otherName) = bf16 ? (GemmBackend.Own, route == GemmRoute.Bf16Attention ? "our attention loop" : "our bf16 loop") : (GemmBackend.OpenBlas, "OpenBLAS");
        double tolerance = bf16 ? Bf16Tolerance : Tolerance;
        if (shapes.Count == 0) return (GemmBackend.Torch, $"{name}: libtorch (nothing measured)");
        if (shapes.Any(t => t.Alternative.Ms is null)) return (GemmBackend.Torch, $"{name}: libtorch ({otherName} not available)");
        if (shapes.FirstOrDefault(t => t.Alternative.MaxAbsDiff is not { } d || !(d <= tolerance)) is { } wrong)
            return (GemmBackend.Torch, Invariant($"{name}: libtorch ({otherName} wrong on {wrong.Shape}: max |Δ| {wrong.Alternative.MaxAbsDiff:G3} > {tolerance:G2})"));
        double torch = shapes.Sum(t => t.PerCaption * t.TorchMs), alternative = shapes.Sum(t => t.PerCaption * t.Alternative.Ms!.Value);
        var slower = shapes.Where(t => t.Alternative.Ms > t.TorchMs).Select(t => t.Shape).ToList();
        string despite = slower.Count == 0 ? "" : $"; slower on {string.Join(", ", slower)}";
        if (alternative > torch * (1 - MinGain))
            return (GemmBackend.Torch, Invariant($"{name}: libtorch ({otherName} {alternative:0.#} ms per caption against {torch:0.#}: {(alternative > torch ? "slower" : $"less than {MinGain * 100:0}% faster")}{despite})"));
        return (other, Invariant($"{name}: {otherName} ({alternative:0.#} ms per caption against libtorch's {torch:0.#}{despite})"));
    }

    /// <summary>A plan from measured timings (pure: the tests give it made-up ones).</summary>
    public static KernelPlan FromTimings(MachineIdentity machine, IReadOnlyList<KernelTiming> timings, double otherCoresBusy, DateTimeOffset measured)
    {
        var gemm = Decide(GemmRoute.Gemm, timings);
        var few = Decide(GemmRoute.FewRows, timings);
        var gemv = Decide(GemmRoute.Gemv, timings);
        var bf16 = Decide(GemmRoute.Bf16Gemv, timings);
        var attention = Decide(GemmRoute.Bf16Attention, timings);
        return new KernelPlan
        {
            Machine = machine.Key, Cpu = machine.Cpu, Torch = machine.Torch, OpenBlasLibrary = machine.OpenBlas, Threads = machine.Threads,
            Measured = measured, OtherCoresBusy = Math.Round(otherCoresBusy, 2), Gemm = gemm.Backend, FewRows = few.Backend, Gemv = gemv.Backend,
            Bf16Gemv = bf16.Backend, Bf16Attention = attention.Backend,
            Reasons = [gemm.Reason, few.Reason, gemv.Reason, bf16.Reason, attention.Reason], Timings = timings,
        };
    }

    /// <summary>
    /// Times <see cref="Shapes"/> on libtorch and (when installed) OpenBLAS, and the bf16 decoding step's
    /// products and attention on libtorch and ours, on this machine; a few seconds.
    /// </summary>
    public static KernelPlan Measure(IProgress<ProgressUpdate>? progress = null, int repeats = 5)
    {
        var machine = MachineIdentity.Current;
        var ((results, bf16), other) = ProcessStats.WithOtherLoad(() => (GemmBenchmark.Run([.. Shapes.Select(s => s.Shape)], repeats, progress), Bf16Benchmark.Run(Bf16GemvShapes, repeats)));
        var timings = Shapes.Select(s =>
        {
            var torch = results.Single(r => r.Shape == s.Shape.Name && r.Backend == "torch");
            var openblas = results.SingleOrDefault(r => r.Shape == s.Shape.Name && r.Backend == "openblas");
            return new KernelTiming
            {
                Shape = s.Shape.Name, M = s.Shape.M, K = s.Shape.K, N = s.Shape.N, Route = s.Route, PerCaption = s.PerCaption, TorchMs = Math.Round(torch.MedianMs, 4),
                OpenBlasMs = openblas is null ? null : Math.Round(openblas.MedianMs, 4), OpenBlasMaxAbsDiff = openblas?.MaxAbsDiff,
            };
        }).Concat(bf16).ToList();
        return FromTimings(machine, timings, other, DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// The user's cache folder for SharpGlance: <c>$SHARPGLANCE_CACHE</c>, else <c>$XDG_CACHE_HOME/sharpglance</c>,
    /// else <c>~/.cache/sharpglance</c>.
    /// </summary>
    public static string CacheFolder =>
        Environment.GetEnvironmentVariable("SHARPGLANCE_CACHE") is { Length: > 0 } own ? own
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "sharpglance");

    /// <summary>Where this machine's plan is cached: one file per <see cref="MachineIdentity.Key"/>.</summary>
    public static string CachePath(MachineIdentity machine, string? folder = null) =>
        Path.Combine(folder ?? CacheFolder, $"kernel-plan-{machine.Key}.json");

    /// <summary>
    /// This machine's plan: the cached one when it is there and readable, else measured now and cached
    /// (a cache that cannot be written only costs measuring again next time). <paramref name="measuring"/>
    /// is told before a measurement starts.
    /// </summary>
    public static KernelPlan ForThisMachine(string? cacheFolder = null, bool remeasure = false, Action<string>? measuring = null,
        IProgress<ProgressUpdate>? progress = null, Func<KernelPlan>? measure = null)
    {
        var machine = MachineIdentity.Current;
        string path = CachePath(machine, cacheFolder);
        if (!remeasure && TryLoad(path, machine) is { } cached) return cached;
        measuring?.Invoke(path);
        var plan = measure is null ? Measure(progress) : measure();
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(plan, Json));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return plan;
    }

    /// <summary>The plan cached at <paramref name="path"/> when it is this version's and this machine's; null when missing, unreadable or stale.</summary>
    public static KernelPlan? TryLoad(string path, MachineIdentity machine)
    {
        if (!File.Exists(path)) return null;
        try
        {
            var plan = JsonSerializer.Deserialize<KernelPlan>(File.ReadAllText(path), Json);
            return plan is not null && plan.PlanVersion == Version && plan.Machine == machine.Key ? plan : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException) { return null; }
    }

    /// <summary>Lines for <c>glance info</c>: the choice per route, why, and when it was measured.</summary>
    public IEnumerable<string> Describe()
    {
        yield return Invariant($"kernel plan (measured {Measured:yyyy-MM-dd HH:mm} UTC, {Threads} threads, other processes busy {OtherCoresBusy:0.##} cores):");
        if (OtherCoresBusy > 0.5)
            yield return Invariant($"  (measured while other processes kept {OtherCoresBusy:0.#} cores busy: run glance info --remeasure on a quiet machine)");
        foreach (var r in Reasons) yield return "  " + r;
        foreach (var t in Timings)
            yield return Invariant($"    {t.Shape,-20} {t.M}×{t.K}×{t.N} (×{t.PerCaption}): libtorch {t.TorchMs:0.###} ms") +
                (t.OpenBlasMs is { } o ? Invariant($", OpenBLAS {o:0.###} ms (max |Δ| {t.OpenBlasMaxAbsDiff:G2})") : "") +
                (t.OwnMs is { } w ? Invariant($", ours {w:0.###} ms (max |Δ| {t.OwnMaxAbsDiff:G2})") : "");
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>What a kernel plan depends on: the CPU, both libraries, OpenBLAS's kernels and the thread count.</summary>
public sealed record MachineIdentity(string Cpu, string Flags, string Torch, string OpenBlas, int Threads)
{
    /// <summary>A short hash of everything above (the cache file's name).</summary>
    public string Key => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Cpu}|{Flags}|{Torch}|{OpenBlas}|{Threads}")))[..16];

    public static MachineIdentity Current
    {
        get
        {
            var cpu = CpuFeatures.Current;
            return new MachineIdentity(cpu.Describe(), string.Join(' ', cpu.Flags.Order(StringComparer.Ordinal)),
                $"TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version}", Runtime.OpenBlas.IsAvailable ? $"{Runtime.OpenBlas.Config()} core {Runtime.OpenBlas.CoreName()}" : "none",
                TorchSharp.torch.get_num_threads());
        }
    }
}
