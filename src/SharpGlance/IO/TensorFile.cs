using static TorchSharp.torch;

namespace SharpGlance.IO;

/// <summary>
/// One file of a model's weights, whatever its format: <see cref="SafeTensorsFile"/> or
/// <see cref="TorchSaveFile"/> (a <c>torch.save</c> zip). Both read a tensor only when asked.
/// </summary>
public interface ITensorFile : IDisposable
{
    string Path { get; }

    /// <summary>Each tensor's dtype (safetensors' names) and shape; the byte range is the format's own.</summary>
    IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }

    /// <summary>Reads one tensor into a new CPU tensor of its stored dtype, then converts and moves it when asked.</summary>
    Tensor Load(string name, ScalarType? dtype = null, Device? device = null);

    /// <summary>Reads one tensor straight into <paramref name="target"/> when that needs no conversion; false (nothing read) otherwise.</summary>
    bool TryReadInto(string name, Tensor target);

    /// <summary>Opens a weight file by its name: <c>*.safetensors</c>, else a <c>torch.save</c> checkpoint (<c>*.bin</c>, <c>*.pt</c>, …).</summary>
    static ITensorFile Open(string path) =>
        path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? SafeTensorsFile.Open(path) : TorchSaveFile.Open(path);
}
