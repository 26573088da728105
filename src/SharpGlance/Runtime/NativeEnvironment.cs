using System.Runtime.InteropServices;

namespace SharpGlance.Runtime;

/// <summary>
/// Environment variables that native libraries read once, when they load (libgomp's OMP_WAIT_POLICY,
/// OpenBLAS's OPENBLAS_*). They must be in the C environment before the first TorchSharp call:
/// .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach native
/// <c>getenv</c> on Unix, so this calls libc's <c>setenv</c> (and updates .NET's copy too).
/// </summary>
public static partial class NativeEnvironment
{
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "unsetenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnsetEnv(string name);

    /// <summary>Sets <paramref name="name"/> in the C environment and .NET's, overwriting (Unix; elsewhere .NET's only).</summary>
    public static void Set(string name, string value)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) SetEnv(name, value, 1);
        Environment.SetEnvironmentVariable(name, value);
    }

    /// <summary>Removes <paramref name="name"/> from the C environment and .NET's.</summary>
    public static void Unset(string name)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) UnsetEnv(name);
        Environment.SetEnvironmentVariable(name, null);
    }

    /// <summary>
    /// Sets <paramref name="name"/> to <paramref name="value"/> unless the user already set it. Returns the
    /// value in effect. A no-op returning null off Unix.
    /// </summary>
    public static string? SetDefault(string name, string value)
    {
        var existing = Environment.GetEnvironmentVariable(name);
        if (existing is not null) return existing;
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return null;
        if (SetEnv(name, value, 0) != 0) return null;
        Environment.SetEnvironmentVariable(name, value);
        return value;
    }
}
