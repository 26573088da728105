using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Runtime;

/// <summary>Device selection for <c>--device cpu|cuda[:N]</c>; picked once, passed everywhere.</summary>
public static class Devices
{
    public static Device Parse(string? name)
    {
        name = string.IsNullOrWhiteSpace(name) ? "cpu" : name.Trim().ToLowerInvariant();
        if (name == "cpu") return CPU;
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new GlanceException($"--device {name}: this build has no CUDA support (it is built on TorchSharp-cpu); use --device cpu");
            return new Device(name);
        }
        throw new GlanceException($"--device {name}: unknown device (use cpu or cuda)");
    }
}
