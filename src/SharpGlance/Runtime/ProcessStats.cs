using System.Globalization;

namespace SharpGlance.Runtime;

/// <summary>What Linux says about this process and machine (for benchmarks and <c>glance info</c>); NaN or null elsewhere.</summary>
public static class ProcessStats
{
    /// <summary>Peak resident set size (VmHWM) in MiB since the process started.</summary>
    public static double PeakRssMiB => StatusKiB("VmHWM:") / 1024.0;

    /// <summary>Current resident set size (VmRSS) in MiB.</summary>
    public static double RssMiB => StatusKiB("VmRSS:") / 1024.0;

    /// <summary>The 1-, 5- and 15-minute load averages (/proc/loadavg).</summary>
    public static (double One, double Five, double Fifteen) LoadAverage
    {
        get
        {
            try
            {
                var f = File.ReadAllText("/proc/loadavg").Split(' ');
                return (Parse(f[0]), Parse(f[1]), Parse(f[2]));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException or FormatException)
            {
                return (double.NaN, double.NaN, double.NaN);
            }
        }
    }

    /// <summary>The CPU's model name (/proc/cpuinfo), or null.</summary>
    public static string? CpuModel
    {
        get
        {
            try
            {
                return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        }
    }

    private static double Parse(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    private static double StatusKiB(string field)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            if (line is null) return double.NaN;
            var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return Parse(parts[0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return double.NaN; }
    }
}
