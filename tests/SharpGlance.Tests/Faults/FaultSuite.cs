using System.Runtime.InteropServices;

namespace SharpGlance.Tests.Faults;

/// <summary>
/// One generated bad input (issue #16's fault-injection suite): <see cref="Arrange"/> writes it, with
/// whatever good inputs share its run, into a fresh folder and says how to run `glance` on it.
/// </summary>
public sealed record FaultCase(string Name, Func<string, FaultRun> Arrange);

/// <summary>What a case runs and what must hold afterwards.</summary>
public sealed record FaultRun(string[] Args, string BadFile)
{
    /// <summary>Good images of the same run: each must get a caption line (<c>IMAGE: …</c>).</summary>
    public IReadOnlyList<string> Captioned { get; init; } = [];
    /// <summary>A FIFO outside the folder the user named: opening it blocks, so a read shows as a stalled run.</summary>
    public string? Outside { get; init; }
}

/// <summary>Runs fault cases in-process and checks the one promise issue #16 makes for every bad input.</summary>
public static class FaultSuite
{
    /// <summary>Far above any case's run time (about 0.1 s): a case still running after it is a hang.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    /// <summary>How long a case that names an outside FIFO may run before the FIFO is checked for a blocked reader.</summary>
    private static readonly TimeSpan OutsideLimit = TimeSpan.FromSeconds(10);

    private static readonly Lock LogLock = new();

    private static async Task<bool> Finishes(Task task, TimeSpan limit) =>
        await Task.WhenAny(task, Task.Delay(limit, TestContext.Current.CancellationToken)) == task;

    /// <summary>Case names for a theory's member data; the names are the data, so each case is its own test.</summary>
    public static TheoryData<string> Names(IEnumerable<FaultCase> cases) => new(cases.Select(c => c.Name));

    /// <summary>
    /// Arranges the case, runs it and asserts, as one assertion listing every broken promise: exit code 2;
    /// exactly one <c>glance: error: </c> line on stderr, naming the bad file, with no exception type or
    /// stack trace; each good image captioned; no file left behind; the FIFO outside never opened.
    /// </summary>
    public static async Task Check(IReadOnlyDictionary<string, FaultCase> cases, string name)
    {
        var dir = TempDir.Create("fault");
        var run = cases[name].Arrange(dir);
        var before = Listing(dir);
        var task = Task.Factory.StartNew(() => GlanceCli.RunReported(run.Args), TestContext.Current.CancellationToken,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var problems = new List<string>();
        if (!await Finishes(task, run.Outside is null ? HangLimit : OutsideLimit))
        {
            // A reader blocked on the FIFO is released by a writer that closes at once (the reader sees an empty file).
            bool opened = run.Outside is not null && Fifo.Release(run.Outside);
            problems.Add(opened ? $"read {run.Outside}, outside the folder named" : $"no answer after {HangLimit.TotalSeconds} s (a hang)");
            if (!opened || !await Finishes(task, HangLimit))
                Assert.Fail(string.Join("; ", problems));
        }
        var (code, output, error) = await task;
        if (Environment.GetEnvironmentVariable("FAULT_SUITE_LOG") is { Length: > 0 } log)   // each case's exit code and error line, for a survey
            lock (LogLock) File.AppendAllText(log, $"{name}\t{code}\t{error.ReplaceLineEndings(" ").Replace(dir, "DIR")}\n");

        if (code != 2) problems.Add($"exit code {code}, expected 2");
        var lines = Lines(error);
        if (lines.Length != 1 || !lines[0].StartsWith("glance: error: ", StringComparison.Ordinal))
            problems.Add($"expected one 'glance: error: ' line, got {lines.Length}");
        else if (!lines[0].Contains(run.BadFile, StringComparison.Ordinal))
            problems.Add($"the error line does not name {run.BadFile}");
        if (error.Contains("Exception", StringComparison.Ordinal) || error.Contains("   at ", StringComparison.Ordinal))
            problems.Add("an exception type or stack trace on stderr");
        foreach (var good in run.Captioned)
            if (!Lines(output).Any(l => l.StartsWith(good + ": ", StringComparison.Ordinal)))
                problems.Add($"the good image {good} was not captioned");
        var left = Listing(dir).Except(before).ToList();
        if (left.Count > 0) problems.Add($"left behind: {string.Join(", ", left)}");

        Assert.True(problems.Count == 0, $"{name}: {string.Join("; ", problems)}\nstderr: {error}\nfolder: {dir}");
        Directory.Delete(dir, recursive: true);   // ~90 cases hold a 7 MB weights file; a failing case's folder stays to be looked at
    }

    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Every file and folder under <paramref name="dir"/>, relative, without following links.</summary>
    private static HashSet<string> Listing(string dir) =>
        new DirectoryInfo(dir).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(f => Path.GetRelativePath(dir, f.FullName)).ToHashSet(StringComparer.Ordinal);

    /// <summary>Named pipes through libc (.NET can make neither them nor a non-blocking open).</summary>
    public static class Fifo
    {
        private const int WriteOnly = 1, NonBlocking = 0x800;

        public static string Create(string path)
        {
            if (mkfifo(path, Convert.ToUInt32("644", 8)) != 0) throw new IOException($"mkfifo {path}: errno {Marshal.GetLastPInvokeError()}");
            return path;
        }

        /// <summary>Opens and closes the write end if a reader waits on it; whether one did.</summary>
        public static bool Release(string path)
        {
            int fd = open(path, WriteOnly | NonBlocking);
            if (fd < 0) return false;
            close(fd);
            return true;
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int mkfifo(string path, uint mode);

        [DllImport("libc", SetLastError = true)]
        private static extern int open(string path, int flags);

        [DllImport("libc")]
        private static extern int close(int fd);
    }
}
