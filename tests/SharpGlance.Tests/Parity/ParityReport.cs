using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Parity;

/// <summary>Asserts closeness like <see cref="TensorAssert.Close"/> and logs the max abs diff to the test output.</summary>
internal static class ParityReport
{
    public static double MaxAbsDiff(Tensor expected, Tensor actual)
    {
        using var e = expected.to_type(ScalarType.Float64).cpu();
        using var a = actual.to_type(ScalarType.Float64).cpu();
        using var d = (e - a).abs();
        return d.NumberOfElements == 0 ? 0 : d.max().item<double>();
    }

    public static void Close(string fixture, Tensor expected, Tensor actual, double atol, string what)
    {
        TensorAssert.Close(expected, actual, atol, $"{fixture}: {what}");
        Log($"{fixture}: {what}: max abs diff {MaxAbsDiff(expected, actual):E2}");
    }

    /// <summary>To the test's output; also to stderr when SHARPGLANCE_PARITY_LOG is set (passing tests' output is not shown).</summary>
    public static void Log(string line)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("SHARPGLANCE_PARITY_LOG"))) Console.Error.WriteLine(line);
    }
}
