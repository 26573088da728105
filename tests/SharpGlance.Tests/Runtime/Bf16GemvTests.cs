using SharpGlance.Runtime;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Runtime;

/// <summary>The bf16 decoding kernels: our one-row product and the widened attention, and how the plan routes to them.</summary>
[Collection(nameof(GemmRouting))]
public class Bf16GemvTests
{
    private static readonly MachineIdentity Machine = new("Test CPU", "avx2 avx512f avx512_bf16", "TorchSharp 0.107.0.0", "none", 2);

    [Theory]
    [InlineData(1, 7, true)]          // shorter than one vector: the scalar tail only
    [InlineData(48, 37, false)]       // a 32-wide vector and a tail
    [InlineData(3072, 768, true)]     // OPT-125M's fc1: split across threads
    [InlineData(700, 3075, true)]     // fc2-like with a tail, split across threads
    public void One_row_equals_the_fp32_product_of_the_same_bf16_numbers_rounded_once(int n, int k, bool withBias)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new TorchSharp.torch.Generator(11);
        var x = randn([1, 1, k], generator: g).to(ScalarType.BFloat16);
        var w = (randn([n, k], generator: g) * 0.05).to(ScalarType.BFloat16);
        var b = withBias ? randn([n], generator: g).to(ScalarType.BFloat16) : null;
        Assert.True(Bf16Gemv.Applies(x, w, b));
        var y = Bf16Gemv.Linear(x, w, b);
        Assert.Equal(new long[] { 1, 1, n }, y.shape);
        Assert.Equal(ScalarType.BFloat16, y.dtype);

        // The exact value of the same bf16 inputs, in fp32: ours must be it rounded once to bf16 (half a step:
        // at most 2⁻⁸ of the value, with 8 significant bits) plus fp32 summation-order noise.
        var exact = nn.functional.linear(x.to(ScalarType.Float32), w.to(ScalarType.Float32), b?.to(ScalarType.Float32));
        var error = (y.to(ScalarType.Float32) - exact).abs();
        var bound = exact.abs() * Math.Pow(2, -8) + 1e-5 * Math.Sqrt(k);
        Assert.True((error <= bound).all().item<bool>(), $"max error {error.max().item<float>()} beyond half a bf16 step");

        // And libtorch's bf16 linear agrees to a step where the two summation orders round apart.
        var torch = nn.functional.linear(x, w, b).to(ScalarType.Float32);
        TensorAssert.Close(torch, y.to(ScalarType.Float32), exact.abs().max().item<float>() * Math.Pow(2, -7) + 1e-4, "against libtorch's bf16 linear");
    }

    [Fact]
    public void Rounding_to_bf16_is_to_nearest_even_and_keeps_infinities_and_nan()
    {
        Assert.Equal(0x3F80, Bf16Gemv.ToBf16(1f));
        Assert.Equal(0x3F80, Bf16Gemv.ToBf16(1f + MathF.Pow(2, -8)));                  // a tie goes to the even 1.0
        Assert.Equal(0x3F82, Bf16Gemv.ToBf16(1f + 3 * MathF.Pow(2, -8)));              // a tie goes to the even 1 + 2⁻⁶
        Assert.Equal(0x3F81, Bf16Gemv.ToBf16(1f + MathF.Pow(2, -8) + MathF.Pow(2, -20)));   // past the tie: up
        Assert.Equal(0xBF80, Bf16Gemv.ToBf16(-1f));
        Assert.Equal(0x7F80, Bf16Gemv.ToBf16(float.PositiveInfinity));
        Assert.Equal(0x7F80, Bf16Gemv.ToBf16(float.MaxValue));                        // rounds up into infinity, as a cast does
        Assert.True(float.IsNaN(BitConverter.Int32BitsToSingle(Bf16Gemv.ToBf16(float.NaN) << 16)));
        using var t = tensor(new[] { 1f + 3 * MathF.Pow(2, -8), -2.7182817f, 1e-30f, 65504.5f }).to(ScalarType.BFloat16);
        var torchBits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(t.bytes).ToArray();
        Assert.Equal(torchBits, new[] { 1f + 3 * MathF.Pow(2, -8), -2.7182817f, 1e-30f, 65504.5f }.Select(Bf16Gemv.ToBf16));
    }

    [Theory]
    [InlineData(1, 12, 600, 64)]   // OPT-125M decoding one sequence: split across threads
    [InlineData(3, 2, 7, 16)]      // three beams over a short cache, one thread
    [InlineData(2, 3, 40, 20)]     // a head width that is not a whole vector
    public void Decoding_attention_reads_the_strided_cache_and_equals_fp32_attention_rounded_once(int batch, int heads, int cached, int dim)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new TorchSharp.torch.Generator(21);
        var q = randn([batch, 1, heads, dim], generator: g).to(ScalarType.BFloat16).transpose(1, 2);   // as OPT's view(b, t, h, d).transpose(1, 2)
        var k = (randn([batch, heads, cached + 9, dim], generator: g) * 2).to(ScalarType.BFloat16).narrow(2, 0, cached);   // the cache's views
        var v = randn([batch, heads, cached + 9, dim], generator: g).to(ScalarType.BFloat16).narrow(2, 0, cached);
        Assert.True(Bf16DecodeAttention.Applies(q, k, v));
        var ours = Bf16DecodeAttention.Forward(q, k, v).to(ScalarType.Float32);
        var exact = nn.functional.scaled_dot_product_attention(q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32));
        var error = (ours - exact).abs();
        Assert.True(error.le(exact.abs() * Math.Pow(2, -8) + 1e-5).all().item<bool>(), $"max error {error.max().item<float>()}");
        Assert.False(Bf16DecodeAttention.Applies(q.to(ScalarType.Float32), k, v));
        Assert.False(Bf16DecodeAttention.Applies(cat([q, q], 2), k, v));   // two queries: a prefill
    }

    [Fact]
    public void Only_one_bf16_row_without_gradients_qualifies()
    {
        using var scope = NewDisposeScope();
        var w = zeros([8, 16], ScalarType.BFloat16);
        Assert.True(Bf16Gemv.Applies(zeros([1, 16], ScalarType.BFloat16), w, null));
        Assert.False(Bf16Gemv.Applies(zeros([2, 16], ScalarType.BFloat16), w, null));    // beams, a batch: libtorch
        Assert.False(Bf16Gemv.Applies(zeros([1, 16]), w, null));                          // fp32 input
        Assert.False(Bf16Gemv.Applies(zeros([1, 16], ScalarType.BFloat16), zeros([8, 16]), null));
        Assert.False(Bf16Gemv.Applies(zeros([1, 16], ScalarType.BFloat16), zeros([16, 8], ScalarType.BFloat16).t(), null));   // not contiguous
        Assert.False(Bf16Gemv.Applies(zeros([1, 16], ScalarType.BFloat16), w, zeros([8])));                // fp32 bias
        var trained = zeros([8, 16], ScalarType.BFloat16).requires_grad_();
        Assert.False(Bf16Gemv.Applies(zeros([1, 16], ScalarType.BFloat16), trained, null));                // autograd records it
    }

    [Fact]
    public void The_plan_routes_bf16_decoding_and_gemm_torch_overrides_it()
    {
        var saved = (CpuGemm.Backend, CpuGemm.Plan);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new TorchSharp.torch.Generator(4);
        var w = (randn([64, 96], generator: g) * 0.05).to(ScalarType.BFloat16);
        var one = randn([1, 96], generator: g).to(ScalarType.BFloat16);
        var q = randn([1, 4, 1, 16], generator: g).to(ScalarType.BFloat16);
        var k = randn([1, 4, 30, 16], generator: g).to(ScalarType.BFloat16);
        var v = randn([1, 4, 30, 16], generator: g).to(ScalarType.BFloat16);
        long Calls(Tensor x)
        {
            long before = Bf16Gemv.Calls;
            CpuGemm.Linear(x, w, null).Dispose();
            return Bf16Gemv.Calls - before;
        }
        try
        {
            CpuGemm.Backend = GemmBackend.Auto;
            var plan = KernelPlan.FromTimings(Machine, [], 0, DateTimeOffset.UnixEpoch);
            CpuGemm.Plan = plan with { Bf16Gemv = GemmBackend.Torch };
            Assert.Equal(0, Calls(one));
            CpuGemm.Plan = plan with { Bf16Gemv = GemmBackend.Own, Bf16Attention = GemmBackend.Own };
            Assert.Equal(1, Calls(one));
            Assert.Equal(0, Calls(cat([one, one])));   // two rows: libtorch
            Assert.Contains("bf16 decoding: one-row products on our loop and attention on ours", CpuGemm.Describe());

            var ours = CpuGemm.Attention(q, k, v, null, 0, false);
            Assert.Equal(ScalarType.BFloat16, ours.dtype);
            Assert.Equal(new long[] { 1, 4, 1, 16 }, ours.shape);
            var exact = nn.functional.scaled_dot_product_attention(q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32));
            Assert.True((ours.to(ScalarType.Float32) - exact).abs().le(exact.abs() * Math.Pow(2, -8) + 1e-5).all().item<bool>());
            // A mask (padding) or a causal block is libtorch's.
            var mask = zeros([1, 1, 1, 30], ScalarType.BFloat16);
            Assert.Equal(0, (CpuGemm.Attention(q, k, v, mask, 0, false).to(ScalarType.Float32)
                - nn.functional.scaled_dot_product_attention(q, k, v, mask).to(ScalarType.Float32)).abs().max().item<float>());

            CpuGemm.Backend = GemmBackend.Torch;
            Assert.Equal(0, Calls(one));
            var bf16 = nn.functional.scaled_dot_product_attention(q, k, v);
            Assert.Equal(0, (CpuGemm.Attention(q, k, v, null, 0, false).to(ScalarType.Float32) - bf16.to(ScalarType.Float32)).abs().max().item<float>());
        }
        finally
        {
            (CpuGemm.Backend, CpuGemm.Plan) = saved;
        }
    }

    [Fact]
    public void Training_autocast_multiplies_in_bf16_and_keeps_fp32_weights_and_gradients()
    {
        bool saved = CpuGemm.TrainingAutocast;
        using var scope = NewDisposeScope();
        var g = new TorchSharp.torch.Generator(8);
        var x = randn([5, 40], generator: g);
        var w = (randn([12, 40], generator: g) * 0.1).requires_grad_();
        var b = randn([12], generator: g).requires_grad_();
        try
        {
            CpuGemm.TrainingAutocast = true;
            var y = CpuGemm.Linear(x, w, b);
            Assert.Equal(ScalarType.Float32, y.dtype);
            using (no_grad())
            {
                var rounded = nn.functional.linear(x.to(ScalarType.BFloat16), w.to(ScalarType.BFloat16), b.to(ScalarType.BFloat16)).to(ScalarType.Float32);
                Assert.Equal(0, (y - rounded).abs().max().item<float>());
                Assert.True((y - nn.functional.linear(x, w, b)).abs().max().item<float>() > 0);   // not the fp32 product
            }
            y.sum().backward();
            Assert.Equal(ScalarType.Float32, w.grad!.dtype);
            // d(sum)/dW[j, :] = Σ rows of x (rounded to bf16 on the way in, the gradient itself rounded): close to fp32's.
            TensorAssert.Close(x.sum([0L], false).expand(12, 40), w.grad, 0.05, "autocast weight gradient");
            TensorAssert.Close(full(12, 5f), b.grad!, 1e-6, "autocast bias gradient");

            CpuGemm.TrainingAutocast = false;
            using var plain = CpuGemm.Linear(x, w, b);
            using (no_grad()) Assert.Equal(0, (plain - nn.functional.linear(x, w, b)).abs().max().item<float>());
        }
        finally
        {
            CpuGemm.TrainingAutocast = saved;
        }
    }

    [Fact]
    public void The_bf16_routes_accept_a_bf16_step_of_difference_but_not_a_wrong_kernel()
    {
        static KernelTiming T(GemmRoute route, double torch, double own, double diff) =>
            new() { Shape = "s", M = 1, K = 768, N = 3072, Route = route, PerCaption = 228, TorchMs = torch, OwnMs = own, OwnMaxAbsDiff = diff };
        var (backend, reason) = KernelPlan.Decide(GemmRoute.Bf16Gemv, [T(GemmRoute.Bf16Gemv, 0.37, 0.17, 0.0078)]);
        Assert.Equal(GemmBackend.Own, backend);
        Assert.Contains("bf16 one row: our bf16 loop (38.8 ms per caption against libtorch's 84.4)", reason);
        (backend, reason) = KernelPlan.Decide(GemmRoute.Bf16Gemv, [T(GemmRoute.Bf16Gemv, 0.37, 0.17, 0.5)]);
        Assert.Equal(GemmBackend.Torch, backend);
        Assert.Contains("our bf16 loop wrong on s", reason);
        (backend, reason) = KernelPlan.Decide(GemmRoute.Bf16Attention, [T(GemmRoute.Bf16Attention, 0.2, 0.3, 0.001)]);
        Assert.Equal(GemmBackend.Torch, backend);
        Assert.Contains("our attention loop 68.4 ms per caption against 45.6: slower; slower on s", reason);
        // OpenBLAS's timings do not decide a bf16 route, nor ours an fp32 one.
        (backend, _) = KernelPlan.Decide(GemmRoute.Gemv, [new KernelTiming { Shape = "s", M = 1, K = 1, N = 1, Route = GemmRoute.Gemv, TorchMs = 1, OwnMs = 0.1, OwnMaxAbsDiff = 0 }]);
        Assert.Equal(GemmBackend.Torch, backend);
    }
}
