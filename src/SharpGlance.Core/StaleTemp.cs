using System.Diagnostics;
using System.Globalization;

namespace SharpGlance;

/// <summary>
/// Temporary folders named after the process that writes them (<c>.checkpoint.{pid}.tmp</c>,
/// <c>.staging-{pid}-…</c>): a killed process leaves its folder behind, so the next run removes those of
/// processes that no longer exist. A live process's folder is never touched.
/// </summary>
public static class StaleTemp
{
    /// <summary>
    /// Deletes the folders in <paramref name="folder"/> named <paramref name="prefix"/> + a process id +
    /// anything, whose process is gone. Returns how many it removed.
    /// </summary>
    public static int Clean(string folder, string prefix)
    {
        if (!Directory.Exists(folder)) return 0;
        int removed = 0;
        foreach (var dir in Directory.EnumerateDirectories(folder, prefix + "*"))
        {
            var rest = Path.GetFileName(dir).AsSpan(prefix.Length);
            int digits = 0;
            while (digits < rest.Length && char.IsAsciiDigit(rest[digits])) digits++;
            if (digits == 0 || !int.TryParse(rest[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || IsAlive(pid)) continue;
            try
            {
                Directory.Delete(dir, recursive: true);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // not ours to fight over
        }
        return removed;
    }

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { return false; }
    }
}
