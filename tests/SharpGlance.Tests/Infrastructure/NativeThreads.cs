using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpGlance.Tests;

/// <summary>
/// libtorch's OpenMP threads spin-wait between parallel regions by default. On a busy machine (xunit runs
/// test classes in parallel; other builds share the 2 cores) the spinning steals the cores the work
/// needs: a tiny model's training step measured 50–100× slower. OMP_WAIT_POLICY=PASSIVE makes idle
/// threads sleep instead. libgomp reads it when libtorch loads, so it is set in the native environment
/// (setenv; .NET's Environment.SetEnvironmentVariable does not reach native getenv on Linux) before any
/// test touches TorchSharp. A value the user set is kept.
/// </summary>
internal static class NativeThreads
{
    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "must run before libtorch loads")]
    internal static void Init()
    {
        if (OperatingSystem.IsLinux()) SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0);
    }
}
