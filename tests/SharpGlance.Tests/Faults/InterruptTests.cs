using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpGlance.Tests.Data;
using SharpGlance.Tests.Training;

namespace SharpGlance.Tests.Faults;

/// <summary>
/// SIGTERM and SIGINT against real `glance` processes (issue #16, item 6): training writes a checkpoint at
/// the step it reached and says so, synth removes its staging folder; exit 143 or 130 with one line.
/// </summary>
public class InterruptTests
{
    private static void Signal(Process p, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, p.Id.ToString()]);
        kill.WaitForExit();
    }

    /// <summary>Waits (up to two minutes) until <paramref name="ready"/> holds while <paramref name="p"/> runs.</summary>
    private static void WaitFor(Process p, Func<bool> ready, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            try { if (ready()) return; }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException) { }   // mid-write: look again
            Thread.Sleep(10);
        }
        Assert.Fail($"the process ended or stalled before {what}");
    }

    private static (int Code, string[] Errors) Finish(Process p, Task<string> stderr)
    {
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), "no exit within a minute of the signal");
        return (p.ExitCode, stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>Whether SIGINT (signal 2) is in this process's ignored set (<c>SigIgn</c> in /proc/self/status).</summary>
    private static bool SigintIgnored()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0;
    }

    private static long Step(string run) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(run, "checkpoint", "trainer_state.json")))!["step"]!.GetValue<long>();

    [Fact]
    public void Sigterm_stops_training_with_a_checkpoint_at_the_step_reached_and_the_run_resumes()
    {
        var run = TempDir.Create("run-term");
        var args = CrossProcessTrainingTests.TrainArgs(run);
        args[Array.IndexOf(args, "--checkpoint-every") + 1] = "7";
        int code;
        string[] errors;
        using (var p = CrossProcessTrainingTests.Start(args))
        {
            var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            _ = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            WaitFor(p, () => File.Exists(Path.Combine(run, "checkpoint", "trainer_state.json")) && Step(run) >= 7, "the first checkpoint");
            Signal(p, "TERM");
            (code, errors) = Finish(p, stderr);
        }
        Assert.Equal(143, code);
        long step = Step(run);
        Assert.Equal($"glance: interrupted by SIGTERM: checkpoint written at step {step} in {Path.Combine(run, "checkpoint")}; run the same command to resume", errors[^1]);
        Assert.DoesNotContain(errors, e => e.Contains("Exception"));
        Assert.Empty(Directory.GetDirectories(run, ".checkpoint.*"));
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));

        CrossProcessTrainingTests.RunToEnd(args);
        Assert.True(File.Exists(Path.Combine(run, "model.safetensors")));
    }

    [Fact]
    public void Sigint_stops_synth_and_removes_its_staging_folder()
    {
        if (!SynthWorldFixture.AssetsPresent) Assert.Skip("emoji font or CLDR annotations missing: run scripts/setup.sh");
        // A process started in the background by a shell without job control (`(cmd &)`, nohup scripts) ignores
        // SIGINT, its children inherit that and .NET keeps an inherited SIG_IGN: the signal cannot be tested here.
        if (SigintIgnored()) Assert.Skip("SIGINT is ignored in this test process (started in the background without job control), and so in glance");
        var dir = TempDir.Create("synth-int");
        using var p = CrossProcessTrainingTests.Start(["synth", "--out", dir, "--train", "20000", "--size", "96", "--threads", "1"]);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        _ = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        WaitFor(p, () => Directory.EnumerateFiles(dir, "*.png", SearchOption.AllDirectories).Take(3).Count() == 3, "the first images");
        Signal(p, "INT");
        var (code, errors) = Finish(p, stderr);
        Assert.Equal(130, code);
        Assert.Equal($"glance: interrupted by SIGINT: nothing written to {dir}; the staging folder is removed", errors[^1]);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
    }
}
