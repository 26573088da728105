using SharpGlance.Benchmarking;
using SharpGlance.Captioning;
using SharpGlance.Connectors;
using SharpGlance.Runtime;
using SharpGlance.Training;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Benchmarking;

public class PrecisionTests
{
    private static CpuFeatures Cpu(string flags) => CpuFeatures.Parse($"vendor_id\t: X\nmodel name\t: test\nflags\t\t: {flags}\n");

    [Fact]
    public void Auto_is_bf16_only_on_a_cpu_that_multiplies_bf16_in_hardware()
    {
        Assert.Equal(ScalarType.BFloat16, Precisions.Resolve(Precision.Auto, CPU, Cpu("avx2 fma avx512f avx512_bf16")));        // Zen 4, Cooper Lake
        Assert.Equal(ScalarType.BFloat16, Precisions.Resolve(Precision.Auto, CPU, Cpu("avx2 fma avx512f amx_tile amx_bf16")));   // Sapphire Rapids
        Assert.Equal(ScalarType.Float32, Precisions.Resolve(Precision.Auto, CPU, Cpu("avx2 fma")));                             // the AVX2 EPYC
        Assert.Equal(ScalarType.Float32, Precisions.Resolve(Precision.Auto, CPU, Cpu("avx2 fma amx_bf16")));                    // AMX-BF16 without tiles is not AMX
        Assert.Equal(ScalarType.Float32, Precisions.Resolve(Precision.Auto, new TorchSharp.torch.Device("cuda"), Cpu("avx512_bf16")));
        Assert.Equal(ScalarType.BFloat16, Precisions.Resolve(Precision.Bf16, CPU, Cpu("avx2")));                                // asked for: given
        Assert.Equal(ScalarType.Float32, Precisions.Resolve(Precision.Fp32, CPU, Cpu("avx512_bf16")));
        Assert.Equal(Precision.Bf16, Precisions.Parse("BF16"));
        Assert.Equal("--precision fp64: use auto, fp32 or bf16", Assert.Throws<GlanceException>(() => Precisions.Parse("fp64")).Message);
    }

    [Fact]
    public void A_bf16_captioner_holds_bf16_weights_and_benchmarks_in_bf16()
    {
        using (var c = Captioner.Load(TinyRefiner.Value, new CaptionerLoadOptions { TrimVision = true, DType = ScalarType.BFloat16 }))
        {
            Assert.All(c.Vision.parameters().Concat(c.MlpConnector.parameters()).Concat(c.Lm.parameters()), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        }
        var result = CaptionBenchmark.Run(new CaptionBenchmarkOptions { ModelFolder = TinyRefiner.Value, Iterations = 1, Warmup = 0, NewTokens = 3, Batch = 0, Precision = Precision.Bf16 });
        Assert.Equal("bf16", result.Precision);
        Assert.Contains("bf16", result.Gemm);   // the fp32 OpenBLAS routing does not apply
    }

    [Fact]
    public void The_benchmark_times_the_second_glance_and_its_overhead()
    {
        var result = CaptionBenchmark.Run(new CaptionBenchmarkOptions
        {
            ModelFolder = TinyRefiner.Value, Iterations = 2, Warmup = 1, NewTokens = 4, Batch = 2, Refine = true, Precision = Precision.Fp32,
        });
        Assert.Equal(2, result.Single.SecondGlance.Count);
        Assert.Equal(1, result.Batched!.SecondGlance.Count);
        Assert.True(result.Single.SecondGlance.Mean > 0);
        Assert.Equal(result.Single.SecondGlance.Mean / result.Single.Total.Mean, result.Single.SecondGlanceOverhead, 12);

        var plain = CaptionBenchmark.Run(new CaptionBenchmarkOptions { ModelFolder = TinyRefiner.Value, Iterations = 1, Warmup = 0, NewTokens = 2, Batch = 0 });
        Assert.Equal(0, plain.Single.SecondGlance.Count);
        Assert.True(double.IsNaN(plain.Single.SecondGlanceOverhead));
    }

    [Fact]
    public void Refine_on_a_single_pass_captioner_is_one_clear_error()
    {
        var single = TempDir.Create("bench-single");
        using (var c = Captioner.Assemble(TinyModels.ClipFolder, TinyModels.OptFolder, new AssembleOptions { Seed = 5 })) c.Save(single);
        var e = Assert.Throws<GlanceException>(() => CaptionBenchmark.Run(new CaptionBenchmarkOptions { ModelFolder = single, Iterations = 1, Batch = 0, Refine = true }));
        Assert.Equal($"--refine: {single} has no DeepLens (a single-pass captioner); leave out --model to time the paper's size", e.Message);
    }

    /// <summary>The tiny fixture captioner with a small DeepLens attached (random weights; timing only).</summary>
    private static readonly Lazy<string> TinyRefiner = new(() =>
    {
        var dir = TempDir.Create("bench-refiner");
        using var c = Captioner.Assemble(TinyModels.ClipFolder, TinyModels.OptFolder, new AssembleOptions { Seed = 5 });
        int layers = c.Vision.Config.NumHiddenLayers;
        c.AttachDeepLens(new DeepLensConfig
        {
            TappedLayers = [layers - 1, 1], VisionWidth = c.Vision.Config.HiddenSize, DModel = 16, DecoderLayers = 1, DecoderAttentionHeads = 2,
            DecoderFfnDim = 32, NumQueries = 4, LmHidden = c.Lm.Config.EmbeddingDim,
        }, seed: 3);
        c.Save(dir);
        return dir;
    });
}
