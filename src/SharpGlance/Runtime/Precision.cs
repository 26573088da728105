using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Runtime;

/// <summary>The number format inference runs in (<c>--precision</c>); training and the parity tests stay fp32.</summary>
public enum Precision
{
    /// <summary>bf16 where the CPU multiplies bf16 in hardware (AMX-BF16 or AVX512-BF16), fp32 elsewhere.</summary>
    Auto,
    Fp32,
    /// <summary>Weights and activations in bfloat16 (fp32's range, 8 bits of mantissa): half the bytes; libtorch's oneDNN kernels.</summary>
    Bf16,
}

public static class Precisions
{
    public static Precision Parse(string? value) => value?.ToLowerInvariant() switch
    {
        null or "auto" => Precision.Auto,
        "fp32" or "float32" => Precision.Fp32,
        "bf16" or "bfloat16" => Precision.Bf16,
        var other => throw new GlanceException($"--precision {other}: use auto, fp32 or bf16"),
    };

    /// <summary>The dtype <paramref name="precision"/> means on <paramref name="device"/> (auto: bf16 on a CPU with bf16 hardware, else fp32).</summary>
    public static ScalarType Resolve(Precision precision, Device device, CpuFeatures? cpu = null) => precision switch
    {
        Precision.Fp32 => ScalarType.Float32,
        Precision.Bf16 => ScalarType.BFloat16,
        _ => device.type == DeviceType.CPU && HasBf16Hardware(cpu ?? CpuFeatures.Current) ? ScalarType.BFloat16 : ScalarType.Float32,
    };

    public static bool HasBf16Hardware(CpuFeatures cpu) => cpu.AmxBf16 || cpu.Avx512Bf16;

    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        ScalarType.Float32 => "fp32",
        _ => dtype.ToString(),
    };
}
