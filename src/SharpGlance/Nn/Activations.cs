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
        "quick_gelu" => QuickGelu,
        // HF's NewGELUActivation, written out as HF writes it: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). The
        // fused tanh kernel below is the same function but not the same bits.
        "gelu_new" => x => 0.5 * x * (1 + tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3)))),
        "gelu_pytorch_tanh" or "gelu_fast" => x => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        "silu" or "swish" => x => nn.functional.silu(x),
        _ => throw new GlanceException($"unknown activation '{name}' (known: {string.Join(", ", Known)})"),
    };

    // CLIP's activation: x·sigmoid(1.702x) (SPEC §2). Without autograd it runs in place on one buffer
    // (ViT-L's fc1 output is 9.4 MB per image): the same operations on the same values, so the same bits.
    private static Tensor QuickGelu(Tensor x)
    {
        if (is_grad_enabled() && x.requires_grad) return x * nn.functional.sigmoid(x * 1.702);
        var s = x * 1.702;
        s.sigmoid_();
        return s.mul_(x);
    }
}
