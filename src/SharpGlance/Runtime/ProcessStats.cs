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

    /// <summary>Machine-wide CPU time since boot from /proc/stat: busy and total, in seconds summed over cores (NaN elsewhere).</summary>
    public static (double Busy, double Total) MachineCpuSeconds
    {
        get
        {
            try
            {
                var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // cpu user nice system idle iowait irq softirq steal ...
                double[] v = f.Skip(1).Take(8).Select(Parse).ToArray();
                double idle = v[3] + v[4], total = v.Sum();
                return ((total - idle) / 100.0, total / 100.0);   // USER_HZ is 100 on Linux
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException or IndexOutOfRangeException)
            {
                return (double.NaN, double.NaN);
            }
        }
    }

    /// <summary>
    /// Measures how many cores other processes kept busy while <paramref name="work"/> ran: the machine's busy
    /// CPU time minus this process's, divided by the wall time (0 on a quiet machine, ~2 when another job
    /// saturates two cores). NaN where /proc/stat is unavailable.
    /// </summary>
    public static (T Result, double OtherCores) WithOtherLoad<T>(Func<T> work)
    {
        var machine0 = MachineCpuSeconds;
        var self0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = work();
        double wall = clock.Elapsed.TotalSeconds;
        var machine1 = MachineCpuSeconds;
        var self1 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        double other = ((machine1.Busy - machine0.Busy) - (self1 - self0)) / Math.Max(wall, 1e-3);
        return (result, Math.Max(0, other));
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
