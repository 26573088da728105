using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SharpGlance.Tests;

/// <summary><c>glance</c> as a child process (the build's glance.dll beside the tests), for tests that signal or kill it.</summary>
public static class GlanceProcess
{
    public static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "glance.dll"), .. args])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        return Process.Start(start) ?? throw new InvalidOperationException("cannot start glance");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>SIGTERM, the polite stop (Process.Kill sends SIGKILL).</summary>
    public static void Terminate(int pid) => Assert.Equal(0, kill(pid, 15));
}
