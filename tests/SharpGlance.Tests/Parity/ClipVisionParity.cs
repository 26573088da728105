using SharpGlance.IO;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Parity;

/// <summary>
/// <c>clip_vision_model</c> fixtures: <c>pixel_values</c> → every <c>hidden_states.k</c>, <c>last_hidden_state</c>,
/// <c>pooler_output</c> (≤ 1e-4), and early exit at each layer giving the same states.
/// </summary>
public static class ClipVisionParity
{
    [FixtureKind("clip_vision_model")]
    public static void Check(string folder)
    {
        string name = Path.GetFileName(folder);
        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        using var model = ClipVisionModel.FromPretrained(folder);
        using var _ = no_grad();
        using var pixels = expected.Load("pixel_values");
        using var output = model.forward(pixels);
        int n = model.Config.NumHiddenLayers;

        var hiddenKeys = expected.Tensors.Keys.Where(k => k.StartsWith("hidden_states.", StringComparison.Ordinal)).ToList();
        Assert.True(hiddenKeys.Count == 0 || hiddenKeys.Count == n + 1, $"{name}: {hiddenKeys.Count} hidden_states in the fixture for {n} layers");
        foreach (var key in hiddenKeys)
        {
            int k = int.Parse(key["hidden_states.".Length..]);
            using var e = expected.Load(key);
            ParityReport.Close(name, e, output.HiddenStates[k], 1e-4, key);
        }
        if (expected.Tensors.ContainsKey("last_hidden_state"))
        {
            using var e = expected.Load("last_hidden_state");
            ParityReport.Close(name, e, output.LastHiddenState!, 1e-4, "last_hidden_state");
        }
        if (expected.Tensors.ContainsKey("pooler_output"))
        {
            using var e = expected.Load("pooler_output");
            ParityReport.Close(name, e, output.PoolerOutput!, 1e-4, "pooler_output");
        }

        // Early exit: stopping after block k gives exactly the states of the full run.
        for (int k = 0; k < n; k++)
        {
            using var partial = model.Forward(pixels, [k, -(n + 1)]);
            Assert.Null(partial.LastHiddenState);
            Assert.Equal(new[] { 0, k }.Distinct().ToArray(), partial.HiddenStates.Keys.Order().ToArray());
            TensorAssert.Close(output.HiddenStates[k], partial.Hidden(k), 0, $"{name}: hidden_states[{k}] with early exit");
        }
    }
}
