using static TorchSharp.torch;

namespace SharpGlance.Nn;

/// <summary>Tensor dtypes as Hugging Face configs name them (<c>torch_dtype</c>).</summary>
public static class Dtypes
{
    /// <summary>"float16", "bfloat16", "float64", else "float32".</summary>
    public static string Name(ScalarType t) => t switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float64 => "float64",
        _ => "float32",
    };
}
