using System.Text.Json;
using SharpGlance.Runtime;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Runtime;

[Collection(nameof(GemmRouting))]
public class KernelPlanTests
{
    private static readonly MachineIdentity Machine = new("Test CPU (GenuineIntel family 6 model 143 stepping 8): AVX-512, AMX-BF16", "avx2 avx512f amx_bf16",
        "TorchSharp 0.107.0.0", "OpenBLAS 0.3.21 core Prescott", 2);

    private static KernelTiming T(string shape, GemmRoute route, double torch, double? openblas, double diff = 1e-6) => new()
    {
        Shape = shape, M = route switch { GemmRoute.Gemm => 577, GemmRoute.FewRows => 32, _ => 1 }, K = 1024, N = 1024, Route = route, TorchMs = torch, OpenBlasMs = openblas,
        OpenBlasMaxAbsDiff = openblas is null ? null : diff,
    };

    [Fact]
    public void OpenBlas_is_chosen_per_route_only_where_it_is_faster_on_every_shape()
    {
        // The AVX2 EPYC's figures: OpenBLAS ahead on the ViT and prefill products and the large 1-row products.
        var epyc = KernelPlan.FromTimings(Machine, [
            T("vit q/k/v/out", GemmRoute.Gemm, 12.2, 6.6), T("vit fc1", GemmRoute.Gemm, 32.0, 26.3), T("opt prefill fc1", GemmRoute.Gemm, 17.0, 15.1),
            T("opt decode fc1", GemmRoute.Gemv, 0.155, 0.119), T("lm head (decode)", GemmRoute.Gemv, 8.2, 3.46),
        ], 0, DateTimeOffset.UnixEpoch);
        Assert.Equal((GemmBackend.OpenBlas, GemmBackend.OpenBlas), (epyc.Gemm, epyc.Gemv));

        // The AMX Xeon's: OpenBLAS's Prescott fallback 4–5× behind on the big products, ahead on the 1-row ones.
        var xeon = KernelPlan.FromTimings(Machine, [
            T("vit q/k/v/out", GemmRoute.Gemm, 5.2, 24.0), T("vit fc1", GemmRoute.Gemm, 14.2, 70.1), T("opt prefill fc1", GemmRoute.Gemm, 7.9, 33.0),
            T("opt decode fc1", GemmRoute.Gemv, 0.16, 0.12), T("lm head (decode)", GemmRoute.Gemv, 6.0, 3.1),
        ], 0.1, DateTimeOffset.UnixEpoch);
        Assert.Equal((GemmBackend.Torch, GemmBackend.OpenBlas), (xeon.Gemm, xeon.Gemv));
        Assert.Contains(": slower; slower on vit q/k/v/out, vit fc1, opt prefill fc1", xeon.Reasons[0]);

        // Zen 4's (measured 2026-12-06): OpenBLAS ahead on the ViT, behind at 32 rows; the routes part ways.
        var zen4 = KernelPlan.FromTimings(Machine, [
            T("vit q/k/v/out", GemmRoute.Gemm, 7.96, 7.6), T("vit fc1", GemmRoute.Gemm, 45.7, 30.2), T("vit fc2", GemmRoute.Gemm, 37.8, 33.8),
            T("opt fc1 M=32", GemmRoute.FewRows, 1.368, 2.06), T("opt fc2 M=32", GemmRoute.FewRows, 1.3, 1.9),
            T("opt decode fc1", GemmRoute.Gemv, 0.209, 0.142), T("lm head (decode)", GemmRoute.Gemv, 16.6, 6.9),
        ], 0, DateTimeOffset.UnixEpoch);
        Assert.Equal((GemmBackend.OpenBlas, GemmBackend.Torch, GemmBackend.OpenBlas), (zen4.Gemm, zen4.FewRows, zen4.Gemv));
        Assert.Equal(["many rows", "a few rows", "one row", "bf16 one row", "bf16 decode attention"], zen4.Reasons.Select(r => r[..r.IndexOf(':')]));
        Assert.Equal((GemmBackend.Torch, GemmBackend.Torch), (zen4.Bf16Gemv, zen4.Bf16Attention));   // nothing measured: libtorch
    }

    [Fact]
    public void A_route_goes_by_a_captions_weighted_total_never_to_a_wrong_kernel_or_within_noise()
    {
        // One shape slower does not outvote a clear gain over the caption (measured: 0.03 ms of noise on the
        // decoding fc2 once kept an LM head twice as fast on libtorch).
        var (backend, reason) = KernelPlan.Decide(GemmRoute.Gemm, [T("a", GemmRoute.Gemm, 10, 5), T("b", GemmRoute.Gemm, 10, 10.6)]);
        Assert.Equal(GemmBackend.OpenBlas, backend);
        Assert.Contains("OpenBLAS (15.6 ms per caption against libtorch's 20; slower on b)", reason);

        // ...but a shape the caption runs ten times weighs ten times.
        (backend, reason) = KernelPlan.Decide(GemmRoute.Gemv, [T("head", GemmRoute.Gemv, 1, 0.5), T("fc2", GemmRoute.Gemv, 1, 1.2) with { PerCaption = 10 }]);
        Assert.Equal(GemmBackend.Torch, backend);
        Assert.Contains("12.5 ms per caption against 11: slower; slower on fc2", reason);

        (backend, reason) = KernelPlan.Decide(GemmRoute.Gemm, [T("a", GemmRoute.Gemm, 10, 5), T("b", GemmRoute.Gemm, 10, 5, diff: 0.3)]);
        Assert.Equal(GemmBackend.Torch, backend);
        Assert.Contains("wrong on b", reason);

        (backend, reason) = KernelPlan.Decide(GemmRoute.Gemm, [T("a", GemmRoute.Gemm, 10, 9.8), T("b", GemmRoute.Gemm, 10, 9.7)]);
        Assert.Equal(GemmBackend.Torch, backend);
        Assert.Contains("less than 5% faster", reason);

        (backend, reason) = KernelPlan.Decide(GemmRoute.Gemv, [T("a", GemmRoute.Gemv, 1, null)]);
        Assert.Equal(GemmBackend.Torch, backend);
        Assert.Contains("not available", reason);

        // A NaN difference (a kernel that produced NaN) is wrong, not "not above the tolerance".
        (backend, _) = KernelPlan.Decide(GemmRoute.Gemv, [T("a", GemmRoute.Gemv, 1, 0.5, diff: double.NaN)]);
        Assert.Equal(GemmBackend.Torch, backend);

        // The shapes a caption runs are weighted by how often it runs them.
        Assert.Equal(23, KernelPlan.Shapes.Single(s => s.Shape.Name == "vit fc1").PerCaption);
        Assert.Equal(19, KernelPlan.Shapes.Single(s => s.Shape.Name == "lm head (decode)").PerCaption);
    }

    [Fact]
    public void The_plan_is_measured_once_cached_per_machine_and_measured_again_when_stale_or_asked()
    {
        string folder = Directory.CreateTempSubdirectory("kernel-plan-").FullName;
        try
        {
            int measured = 0;
            var machine = MachineIdentity.Current;
            KernelPlan Fake() => KernelPlan.FromTimings(machine, [T("a", GemmRoute.Gemm, 10, ++measured)], 0, DateTimeOffset.UnixEpoch);
            string? told = null;

            var first = KernelPlan.ForThisMachine(folder, measuring: p => told = p, measure: Fake);
            Assert.Equal(1, measured);
            Assert.Equal(KernelPlan.CachePath(machine, folder), told);
            Assert.True(File.Exists(told));
            using (var doc = JsonDocument.Parse(File.ReadAllText(told!)))
            {
                Assert.Equal("openblas", doc.RootElement.GetProperty("gemm").GetString());
                Assert.Equal(machine.Key, doc.RootElement.GetProperty("machine").GetString());
                Assert.Equal(1.0, doc.RootElement.GetProperty("timings")[0].GetProperty("openblas_ms").GetDouble());
                Assert.Equal("torch", doc.RootElement.GetProperty("bf16_gemv").GetString());
            }

            var second = KernelPlan.ForThisMachine(folder, measure: Fake);
            Assert.Equal(1, measured);   // read from the cache
            Assert.Equal(first.Gemm, second.Gemm);
            Assert.Equal(first.Timings[0].OpenBlasMs, second.Timings[0].OpenBlasMs);

            KernelPlan.ForThisMachine(folder, remeasure: true, measure: Fake);
            Assert.Equal(2, measured);

            // Another machine's plan, an older version's and a damaged file are measured again, not trusted.
            File.WriteAllText(told!, JsonSerializer.Serialize(second with { Machine = "0123456789abcdef" }, KernelPlan.Json));
            KernelPlan.ForThisMachine(folder, measure: Fake);
            Assert.Equal(3, measured);
            File.WriteAllText(told!, JsonSerializer.Serialize(second with { PlanVersion = KernelPlan.Version - 1 }, KernelPlan.Json));
            KernelPlan.ForThisMachine(folder, measure: Fake);
            Assert.Equal(4, measured);
            File.WriteAllText(told!, "{ not json");
            KernelPlan.ForThisMachine(folder, measure: Fake);
            Assert.Equal(5, measured);
            Assert.NotNull(KernelPlan.TryLoad(told!, machine));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Auto_routes_each_kind_of_product_as_the_plan_says_and_gemm_overrides_it()
    {
        if (!OpenBlas.IsAvailable) Assert.Skip("OpenBLAS is not installed: " + OpenBlas.Problem);
        var saved = (CpuGemm.Backend, CpuGemm.Plan, CpuGemm.MinRows, CpuGemm.GemvMinWeights);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new TorchSharp.torch.Generator(3);
        var w = randn([64, 32], generator: g);
        var many = randn([CpuGemm.ManyRows + 1, 32], generator: g);
        var few = randn([20, 32], generator: g);
        var one = randn([1, 32], generator: g);
        long Calls(Tensor x)
        {
            long before = CpuGemm.OpenBlasCalls;
            CpuGemm.Linear(x, w, null).Dispose();
            return CpuGemm.OpenBlasCalls - before;
        }
        try
        {
            CpuGemm.MinRows = 16;
            CpuGemm.GemvMinWeights = 1000;   // the 64×32 weight counts as large
            CpuGemm.Backend = GemmBackend.Auto;
            CpuGemm.Plan = KernelPlan.FromTimings(Machine, [], 0, DateTimeOffset.UnixEpoch) with { Gemm = GemmBackend.Torch, FewRows = GemmBackend.OpenBlas, Gemv = GemmBackend.OpenBlas };
            Assert.Equal((0, 1, 1), (Calls(many), Calls(few), Calls(one)));
            Assert.Contains($"OpenBLAS for fp32 CPU inference with 16–{CpuGemm.ManyRows - 1} rows and 1 row", CpuGemm.Describe());
            CpuGemm.Plan = CpuGemm.Plan with { Gemm = GemmBackend.OpenBlas, FewRows = GemmBackend.Torch, Gemv = GemmBackend.Torch };
            Assert.Equal((1, 0, 0), (Calls(many), Calls(few), Calls(one)));
            Assert.Contains($"OpenBLAS for fp32 CPU inference with ≥ {CpuGemm.ManyRows} rows, libtorch otherwise (the measured kernel plan)", CpuGemm.Describe());

            CpuGemm.Backend = GemmBackend.OpenBlas;   // --gemm openblas: every route, whatever the plan says
            Assert.Equal((1, 1, 1), (Calls(many), Calls(few), Calls(one)));
            CpuGemm.Backend = GemmBackend.Torch;
            Assert.Equal((0, 0, 0), (Calls(many), Calls(few), Calls(one)));
            Assert.Contains("forced by --gemm torch", CpuGemm.Describe());
        }
        finally
        {
            (CpuGemm.Backend, CpuGemm.Plan, CpuGemm.MinRows, CpuGemm.GemvMinWeights) = saved;
        }
    }

    public static TheoryData<string, string, string?> Fallbacks => new()
    {
        // OpenBLAS's core, the CPU's flags, the core it is switched to (null: left alone)
        { "Prescott", "sse3 avx avx2 fma avx512f avx512bw avx512dq avx512vl amx_bf16 amx_tile", "SkylakeX" },   // 0.3.21 on Sapphire Rapids
        { "Prescott", "sse3 avx avx2 fma", "Haswell" },
        { "Sandybridge", "sse3 avx avx2 fma", "Haswell" },
        { "Haswell", "sse3 avx avx2 fma", null },
        { "Zen", "sse3 avx avx2 fma", null },
        { "Cooperlake", "avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16", null },   // Zen 4 here
        { "Zen", "avx2 fma avx512f avx512bw avx512dq avx512vl", null },    // a current-enough core is not second-guessed
        { "Prescott", "sse3 avx", null },                                  // the CPU has nothing better
        { "SomeFutureCore", "avx2 fma", null },                            // unknown names are left alone
    };

    [Theory]
    [MemberData(nameof(Fallbacks))]
    public void A_fallback_core_is_replaced_by_the_kernels_the_cpu_can_run(string core, string flags, string? expected)
    {
        var cpu = CpuFeatures.Parse($"processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Test\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: none\n");
        Assert.Equal(expected, OpenBlas.FallbackReplacement(core, cpu));
    }

    [Fact]
    public void Cpuinfo_is_read_from_the_first_processor_block()
    {
        var cpu = CpuFeatures.Parse("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\nstepping\t: 1\n" +
                                    "flags\t\t: fpu avx2 fma avx512f avx512bw avx512dq avx512vl avx512_vnni avx512_bf16\n\nprocessor\t: 1\nmodel name\t: other\n");
        Assert.Equal(("AuthenticAMD", "AMD EPYC", 25, 17, 1), (cpu.Vendor, cpu.Model, cpu.Family, cpu.ModelNumber, cpu.Stepping));
        Assert.True(cpu.Avx512 && cpu.Avx512Bf16 && !cpu.AmxBf16);
        Assert.Equal("AMD EPYC (AuthenticAMD family 25 model 17 stepping 1): AVX-512, AVX512-VNNI, AVX512-BF16", cpu.Describe());
    }

    [Fact]
    public void OpenBlas_kernels_can_be_switched_between_products_and_stay_right()
    {
        if (!OpenBlas.IsAvailable) Assert.Skip("OpenBLAS is not installed: " + OpenBlas.Problem);
        if (!CpuFeatures.Current.Avx2) Assert.Skip("the CPU has no AVX2: no Haswell kernels to switch to");
        if (Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") is { Length: > 0 }) Assert.Skip("OPENBLAS_CORETYPE is set by the user");
        string detected = OpenBlas.CoreName();
        string? restore = OpenBlas.CoreFix is null ? null : detected;   // a core the load switched to is set again, not re-detected
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new TorchSharp.torch.Generator(5);
        var x = randn([40, 96], generator: g);
        var w = randn([72, 96], generator: g) * 0.05;
        var b = randn([72], generator: g);
        try
        {
            foreach (var core in new[] { "Prescott", "Haswell" })
            {
                Assert.Equal(core, CpuGemm.UseOpenBlasCore(core), ignoreCase: true);
                TensorAssert.Close(nn.functional.linear(x, w, b), CpuGemm.OpenBlasLinear(x, w, b), 1e-4, $"OpenBLAS on {core} kernels");
            }
        }
        finally
        {
            Assert.Equal(detected, CpuGemm.UseOpenBlasCore(restore), ignoreCase: true);   // as it was at load
        }
    }
}
