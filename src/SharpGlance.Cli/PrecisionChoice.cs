using System.CommandLine;
using SharpGlance.Runtime;

namespace SharpGlance.Cli;

/// <summary><c>--precision auto|fp32|bf16</c> of the commands that caption (auto: bf16 where the CPU has AMX-BF16 or AVX512-BF16).</summary>
public static class PrecisionChoice
{
    public static Option<string> Option() => new("--precision")
    {
        Description = "Inference number format: auto (bf16 where the CPU has AMX-BF16 or AVX512-BF16, else fp32), fp32 or bf16",
        DefaultValueFactory = _ => "auto",
    };

    public static Precision Parse(string? value) => Precisions.Parse(value);
}
