using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

/// <summary>The tower's hidden states for a batch of images, keyed by hidden_states index (with CLS at row 0).</summary>
public sealed class VisionFeatures : IDisposable
{
    private readonly Dictionary<int, Tensor> _layers;

    public VisionFeatures(Dictionary<int, Tensor> layers) => _layers = layers;

    public IReadOnlyDictionary<int, Tensor> Layers => _layers;
    public long Batch => _layers.Values.First().shape[0];

    public Tensor Layer(int index) => _layers.TryGetValue(index, out var t) ? t
        : throw new GlanceException($"vision features: hidden_states[{index}] was not computed (have {string.Join(", ", _layers.Keys)})");

    /// <summary>Rows <paramref name="rows"/> of every layer (a sub-batch).</summary>
    public VisionFeatures Select(long[] rows)
    {
        using var idx = tensor(rows, device: _layers.Values.First().device);
        return new VisionFeatures(_layers.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx)));
    }

    public void Dispose()
    {
        foreach (var t in _layers.Values) t.Dispose();
        _layers.Clear();
    }
}
