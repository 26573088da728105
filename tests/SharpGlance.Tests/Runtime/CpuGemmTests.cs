using System.Runtime.InteropServices;
using SharpGlance.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using Linear = SharpGlance.Nn.Linear;

namespace SharpGlance.Tests.Runtime;

/// <summary>
/// Tests that change <see cref="CpuGemm"/>'s process-wide routing (backend, plan, thresholds, OpenBLAS's
/// kernels) run alone, so no other test's products are routed by a test's settings meanwhile.
/// </summary>
[CollectionDefinition(nameof(GemmRouting), DisableParallelization = true)]
public sealed class GemmRouting;

[Collection(nameof(GemmRouting))]
public class CpuGemmTests
{
    private static void RequireOpenBlas()
    {
        if (!OpenBlas.IsAvailable) Assert.Skip("OpenBLAS is not installed (scripts/setup.sh installs libopenblas0-openmp): " + OpenBlas.Problem);
    }

    public static TheoryData<long[], long, bool, string> Shapes => new()
    {
        // input shape, out features, bias, layout of the input
        { [1, 17], 5, true, "contiguous" },          // M = 1: sgemv
        { [1, 768], 3072, false, "contiguous" },
        { [3, 64], 33, true, "contiguous" },
        { [16, 128], 96, false, "contiguous" },
        { [2, 7, 40], 300, true, "contiguous" },     // leading dims are flattened into rows
        { [40, 1024], 257, true, "transposed" },     // a transposed view: copied once, then multiplied
        { [5, 9, 64], 31, true, "narrowed" },        // a slice of a wider tensor (strided rows)
        { [3, 1, 48], 20, true, "last position" },   // h.narrow(1, t-1, 1) as generation does
    };

    private static Tensor Input(long[] shape, string layout, Generator g)
    {
        long k = shape[^1];
        return layout switch
        {
            "contiguous" => randn(shape, generator: g),
            "transposed" => randn([k, shape[0]], generator: g).t(),
            "narrowed" => randn([.. shape[..^1], k + 13], generator: g).narrow(-1, 7, k),
            "last position" => randn([shape[0], 6, k], generator: g).narrow(1, 5, 1),
            _ => throw new ArgumentException(layout),
        };
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void OpenBlas_linear_equals_libtorch(long[] shape, long outFeatures, bool withBias, string layout)
    {
        RequireOpenBlas();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new Generator(7);
        var x = Input(shape, layout, g);
        Assert.True(x.shape.SequenceEqual(shape), $"the {layout} input has shape [{string.Join(", ", x.shape)}]");
        if (layout != "contiguous" && layout != "last position") Assert.False(x.is_contiguous());
        var w = randn([outFeatures, shape[^1]], generator: g) * 0.05;
        var b = withBias ? randn([outFeatures], generator: g) : null;

        long before = CpuGemm.OpenBlasCalls;
        var actual = CpuGemm.OpenBlasLinear(x, w, b);
        Assert.Equal(before + 1, CpuGemm.OpenBlasCalls);
        var expected = nn.functional.linear(x, w, b);
        TensorAssert.Close(expected, actual, 1e-4, $"linear {layout} [{string.Join(", ", shape)}] → {outFeatures}");
        Assert.True(actual.is_contiguous());
    }

    [Fact]
    public void Tensor_bytes_is_the_storage_itself_not_a_copy()
    {
        // The fast path hands libtorch's own buffers to OpenBLAS; a copy would silently lose the result.
        using var t = zeros(4, 3);
        using var row = t.narrow(0, 2, 1);   // a view at an offset
        var span = MemoryMarshal.Cast<byte, float>(row.bytes);
        Assert.Equal(3, span.Length);
        span[1] = 42f;
        Assert.Equal(42f, t[2, 1].item<float>());
        Assert.Equal(0f, t.sum().item<float>() - 42f);
    }

    [Fact]
    public void Linear_routes_inference_to_openblas_and_training_to_libtorch()
    {
        RequireOpenBlas();
        var saved = (CpuGemm.Backend, CpuGemm.MinRows, CpuGemm.Plan);
        try
        {
            CpuGemm.Backend = GemmBackend.Auto;
            CpuGemm.Plan = null;
            CpuGemm.MinRows = 4;
            using var lin = Nn.Layers.Linear(8, 5, true, null, ScalarType.Float32);
            Nn.Layers.InitNormal(lin, 0.5, new Generator(3));
            using var x = randn([6, 8], generator: new Generator(4));

            long calls = CpuGemm.OpenBlasCalls;
            using (no_grad())
            using (var y = lin.forward(x)) TensorAssert.Close(nn.functional.linear(x, lin.weight, lin.bias), y, 1e-5, "no_grad forward");
            Assert.Equal(calls + 1, CpuGemm.OpenBlasCalls);

            using (no_grad())
            using (var few = lin.forward(x.narrow(0, 0, 3))) { }   // 3 rows < MinRows: libtorch
            Assert.Equal(calls + 1, CpuGemm.OpenBlasCalls);

            // With autograd recording (the weight requires grad) libtorch runs it and gradients flow.
            using var y2 = lin.forward(x);
            Assert.Equal(calls + 1, CpuGemm.OpenBlasCalls);
            Assert.True(y2.requires_grad);
            y2.sum().backward();
            using var w2 = lin.weight.detach().clone().requires_grad_(true);
            using var yRef = nn.functional.linear(x, w2, lin.bias!.detach());
            yRef.sum().backward();
            using var expectedGrad = w2.grad!.clone();
            using var actualGrad = lin.weight.grad!.clone();
            TensorAssert.Close(expectedGrad, actualGrad, 1e-5, "d(sum y)/dW");

            CpuGemm.Backend = GemmBackend.Torch;
            using (no_grad())
            using (var y3 = lin.forward(x)) { }
            Assert.Equal(calls + 1, CpuGemm.OpenBlasCalls);
        }
        finally
        {
            (CpuGemm.Backend, CpuGemm.MinRows, CpuGemm.Plan) = saved;
        }
    }

    [Fact]
    public void One_row_goes_to_openblas_only_for_a_large_weight()
    {
        RequireOpenBlas();
        var saved = (CpuGemm.Backend, CpuGemm.MinRows, CpuGemm.GemvMinWeights, CpuGemm.Plan);
        try
        {
            CpuGemm.Backend = GemmBackend.Auto;
            CpuGemm.Plan = null;
            CpuGemm.MinRows = 16;
            CpuGemm.GemvMinWeights = 8 * 40;
            using var small = Nn.Layers.Linear(8, 39, true, null, ScalarType.Float32);   // 312 weights: libtorch
            using var large = Nn.Layers.Linear(8, 40, true, null, ScalarType.Float32);   // 320 weights: sgemv
            Nn.Layers.InitNormal(small, 0.5, new Generator(5));
            Nn.Layers.InitNormal(large, 0.5, new Generator(6));
            using var x = randn([1, 1, 8], generator: new Generator(7));
            using var _ = no_grad();
            long calls = CpuGemm.OpenBlasCalls;
            using (var y = small.forward(x)) TensorAssert.Close(nn.functional.linear(x, small.weight, small.bias), y, 1e-5, "small");
            Assert.Equal(calls, CpuGemm.OpenBlasCalls);
            using (var y = large.forward(x)) TensorAssert.Close(nn.functional.linear(x, large.weight, large.bias), y, 1e-5, "large");
            Assert.Equal(calls + 1, CpuGemm.OpenBlasCalls);
            using (var two = large.forward(randn([2, 8], generator: new Generator(8)))) { }   // 2 rows < MinRows: libtorch
            Assert.Equal(calls + 1, CpuGemm.OpenBlasCalls);
        }
        finally
        {
            (CpuGemm.Backend, CpuGemm.MinRows, CpuGemm.GemvMinWeights, CpuGemm.Plan) = saved;
        }
    }

    [Fact]
    public void Packed_qkv_attention_equals_three_separate_projections_and_declines_after_a_move()
    {
        RequireOpenBlas();
        var saved = (CpuGemm.MinRows, CpuGemm.Plan);
        try
        {
            CpuGemm.Plan = null;
            CpuGemm.MinRows = 4;
            using var attn = new SharpGlance.Vision.ClipAttention(SharpGlance.Vision.ClipVisionConfig.Tiny, null, ScalarType.Float32);
            var g = new Generator(8);
            foreach (var (_, p) in attn.named_parameters()) using (no_grad()) p.normal_(0, 0.2, g);
            Assert.Equal(["k_proj.weight", "k_proj.bias", "v_proj.weight", "v_proj.bias", "q_proj.weight", "q_proj.bias", "out_proj.weight", "out_proj.bias"],
                attn.state_dict().Keys.ToArray());
            using var x = randn([2, 17, 32], generator: g);
            using var _ = no_grad();
            using var packed = attn.PackedQkv(x);
            Assert.NotNull(packed);
            TensorAssert.Close(nn.functional.linear(x, attn.q_proj.weight, attn.q_proj.bias), packed!.narrow(-1, 0, 32), 1e-5, "q");
            TensorAssert.Close(nn.functional.linear(x, attn.k_proj.weight, attn.k_proj.bias), packed.narrow(-1, 32, 32), 1e-5, "k");
            TensorAssert.Close(nn.functional.linear(x, attn.v_proj.weight, attn.v_proj.bias), packed.narrow(-1, 64, 32), 1e-5, "v");

            using var fast = attn.forward(x, null);
            CpuGemm.Backend = GemmBackend.Torch;
            using var reference = attn.forward(x, null);
            CpuGemm.Backend = GemmBackend.Auto;
            TensorAssert.Close(reference, fast, 1e-5, "attention with the packed product");

            // A new weight (as a dtype/device move or an assignment makes) is no longer in the buffer.
            attn.k_proj.weight = new TorchSharp.Modules.Parameter(attn.k_proj.weight.detach().clone());
            Assert.Null(attn.PackedQkv(x));
            using var after = attn.forward(x, null);
            TensorAssert.Close(reference, after, 1e-5, "attention after the parts stopped sharing the buffer");
        }
        finally
        {
            (CpuGemm.MinRows, CpuGemm.Plan) = saved;
            CpuGemm.Backend = GemmBackend.Auto;
        }
    }

    [Fact]
    public void Linear_keeps_pytorch_parameter_names()
    {
        using var withBias = Nn.Layers.Linear(4, 3, true, null, ScalarType.Float32);
        Assert.Equal(["weight", "bias"], withBias.state_dict().Keys.ToArray());
        using var noBias = Nn.Layers.Linear(4, 3, false, null, ScalarType.Float32);
        Assert.Equal(["weight"], noBias.state_dict().Keys.ToArray());
        Assert.Equal([3L, 4L], noBias.weight.shape);
        Assert.Throws<ArgumentException>(() => new Linear(new TorchSharp.Modules.Parameter(zeros(3, 4)), new TorchSharp.Modules.Parameter(zeros(2))));
    }

    [Fact]
    public void Fp64_and_shape_mismatches_stay_on_libtorch_or_fail_cleanly()
    {
        using var _ = no_grad();
        using var x = randn([20, 8], ScalarType.Float64);
        using var w = randn([5, 8], ScalarType.Float64);
        long calls = CpuGemm.OpenBlasCalls;
        using (var y = CpuGemm.Linear(x, w, null)) Assert.Equal(ScalarType.Float64, y.dtype);
        Assert.Equal(calls, CpuGemm.OpenBlasCalls);
        if (!CpuGemm.UsesOpenBlas) return;
        using var xf = randn(20, 8);
        using var wf = randn(5, 9);
        Assert.Throws<GlanceException>(() => CpuGemm.Linear(xf, wf, null));
    }

    [Fact]
    public void Forcing_a_missing_or_present_openblas_is_explicit()
    {
        var saved = CpuGemm.Backend;
        try
        {
            if (OpenBlas.IsAvailable)
            {
                CpuGemm.Backend = GemmBackend.OpenBlas;
                Assert.True(CpuGemm.UsesOpenBlas);
                Assert.Contains("OpenBLAS", CpuGemm.Describe());
                Assert.False(string.IsNullOrEmpty(OpenBlas.CoreName()));
            }
            else
            {
                Assert.Throws<GlanceException>(() => CpuGemm.Backend = GemmBackend.OpenBlas);
            }
            CpuGemm.Backend = GemmBackend.Torch;
            Assert.False(CpuGemm.UsesOpenBlas);
        }
        finally
        {
            CpuGemm.Backend = saved;
        }
    }
}
