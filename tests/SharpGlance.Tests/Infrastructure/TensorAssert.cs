using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests;

/// <summary>Tensor comparisons that report the max abs diff and the share of values that differ.</summary>
public static class TensorAssert
{
    public static void Close(Tensor expected, Tensor actual, double atol, string what)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        using var e = expected.to_type(ScalarType.Float64).cpu();
        using var a = actual.to_type(ScalarType.Float64).cpu();
        using var diff = (e - a).abs();
        double max = diff.NumberOfElements == 0 ? 0 : diff.max().item<double>();
        double share = diff.NumberOfElements == 0 ? 0 : (diff > atol).to_type(ScalarType.Float64).mean().item<double>() * 100;
        Assert.True(max <= atol, $"{what}: max abs diff {max:E3} > {atol:E1} ({share:F2}% of {diff.NumberOfElements} values differ)");
    }

    public static void Equal(long[] expected, long[] actual, string what) =>
        Assert.True(expected.SequenceEqual(actual), $"{what}: got [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
}
