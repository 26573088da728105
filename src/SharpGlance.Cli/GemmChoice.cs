using System.CommandLine;
using SharpGlance.Runtime;

namespace SharpGlance.Cli;

/// <summary>
/// <c>--gemm auto|torch|openblas</c> of the commands that caption: auto follows this machine's kernel plan
/// (<see cref="KernelPlan"/>: read from the cache, or measured once, a few seconds, the first time), the
/// other two force a library for every fp32 CPU inference product.
/// </summary>
public static class GemmChoice
{
    public static Option<string> Option() => new("--gemm")
    {
        Description = "fp32 CPU matrix multiply: auto (this machine's measured kernel plan; see glance info), torch or openblas",
        DefaultValueFactory = _ => "auto",
    };

    public static GemmBackend Parse(string? value) => value?.ToLowerInvariant() switch
    {
        "auto" or null => GemmBackend.Auto,
        "torch" => GemmBackend.Torch,
        "openblas" => GemmBackend.OpenBlas,
        var other => throw new GlanceException($"--gemm {other}: use auto, torch or openblas"),
    };

    /// <summary>Sets the backend; for auto, loads (or measures and caches) the plan.</summary>
    public static void Apply(GemmBackend backend, bool remeasure = false)
    {
        CpuGemm.Backend = backend;
        if (backend != GemmBackend.Auto) return;
        CpuGemm.Plan = KernelPlan.ForThisMachine(remeasure: remeasure,
            measuring: path => Console.Error.WriteLine($"measuring this machine's matrix kernels (once, a few seconds; cached in {path})"));
    }
}
