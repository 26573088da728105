using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Nn;

/// <summary>The activations HF's <c>ACT2FN</c> names that CLIP and OPT configs use.</summary>
public static class Activations
{
    public static readonly IReadOnlyList<string> Known = ["relu", "gelu", "quick_gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "silu", "swish"];

    public static bool IsKnown(string name) => Known.Contains(name);

    public static Func<Tensor, Tensor> Resolve(string name) => name switch
    {
        "relu" => x => nn.functional.relu(x),
        "gelu" => x => nn.functional.gelu(x),
        // CLIP's activation: x·sigmoid(1.702x) (SPEC §2).
        "quick_gelu" => x => x * nn.functional.sigmoid(x * 1.702),
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => x => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        "silu" or "swish" => x => nn.functional.silu(x),
        _ => throw new GlanceException($"unknown activation '{name}' (known: {string.Join(", ", Known)})"),
    };
}
