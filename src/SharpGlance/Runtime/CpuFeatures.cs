namespace SharpGlance.Runtime;

/// <summary>
/// What the CPU is and which vector instructions it has, from <c>/proc/cpuinfo</c> (Linux; elsewhere an
/// unknown CPU with no flags). The kernel plan is keyed by it, OpenBLAS's core type is checked against it,
/// and <c>--precision auto</c> reads its bf16 flags.
/// </summary>
public sealed record CpuFeatures(string Vendor, string Model, int Family, int ModelNumber, int Stepping, IReadOnlySet<string> Flags)
{
    public bool Avx2 => Flags.Contains("avx2") && Flags.Contains("fma");

    /// <summary>The AVX-512 subset OpenBLAS's SkylakeX kernels need (F, BW, DQ, VL).</summary>
    public bool Avx512 => Flags.Contains("avx512f") && Flags.Contains("avx512bw") && Flags.Contains("avx512dq") && Flags.Contains("avx512vl");

    public bool Avx512Bf16 => Flags.Contains("avx512_bf16");

    public bool AmxBf16 => Flags.Contains("amx_bf16") && Flags.Contains("amx_tile");

    /// <summary>The widest vector level, as a name: "AVX-512", "AVX2", "AVX" or "SSE".</summary>
    public string VectorLevel => Avx512 ? "AVX-512" : Avx2 ? "AVX2" : Flags.Contains("avx") ? "AVX" : "SSE";

    /// <summary>One line: model, family/model, vector level and the bf16 units, e.g. "AMD EPYC (family 25 model 17): AVX-512, AVX512-BF16".</summary>
    public string Describe()
    {
        var parts = new List<string> { VectorLevel };
        if (Flags.Contains("avx512_vnni")) parts.Add("AVX512-VNNI");
        if (Avx512Bf16) parts.Add("AVX512-BF16");
        if (AmxBf16) parts.Add("AMX-BF16");
        return $"{Model} ({Vendor} family {Family} model {ModelNumber} stepping {Stepping}): {string.Join(", ", parts)}";
    }

    private static readonly Lazy<CpuFeatures> Here = new(ReadThisMachine);

    private static CpuFeatures ReadThisMachine()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo")) return Parse(File.ReadAllText("/proc/cpuinfo"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return Unknown;
    }

    /// <summary>This machine's CPU (read once).</summary>
    public static CpuFeatures Current => Here.Value;

    public static CpuFeatures Unknown { get; } = new("unknown", "unknown CPU", 0, 0, 0, new HashSet<string>());

    /// <summary>The first processor block of a <c>/proc/cpuinfo</c> text (every core of these machines is the same).</summary>
    public static CpuFeatures Parse(string cpuinfo)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in cpuinfo.Split('\n'))
        {
            if (line.Trim().Length == 0)
            {
                if (fields.Count > 0) break;   // the end of the first processor's block
                continue;
            }
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0) continue;
            fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
        }
        int Int(string key) => fields.TryGetValue(key, out var v) && int.TryParse(v, out int i) ? i : 0;
        var flags = fields.TryGetValue("flags", out var f) ? f.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal) : [];
        return new CpuFeatures(fields.GetValueOrDefault("vendor_id", "unknown"), fields.GetValueOrDefault("model name", "unknown CPU"),
            Int("cpu family"), Int("model"), Int("stepping"), flags);
    }
}
