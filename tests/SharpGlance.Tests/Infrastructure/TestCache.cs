using System.Runtime.CompilerServices;

namespace SharpGlance.Tests;

/// <summary>
/// The commands the tests run in-process measure and cache this machine's kernel plan on first use; the
/// cache goes to a folder of this test process (SHARPGLANCE_CACHE), removed at exit, not the user's.
/// </summary>
internal static class TestCache
{
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "before any test runs a command")]
    internal static void Init()
    {
        if (Environment.GetEnvironmentVariable("SHARPGLANCE_CACHE") is { Length: > 0 }) return;
        string folder = Path.Combine(Path.GetTempPath(), $"sharpglance-tests-cache-{Environment.ProcessId}");
        Environment.SetEnvironmentVariable("SHARPGLANCE_CACHE", folder);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
            catch (IOException) { }
        };
    }
}
