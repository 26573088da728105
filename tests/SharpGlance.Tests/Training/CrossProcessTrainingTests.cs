using System.Diagnostics;
using System.Text.Json.Nodes;

namespace SharpGlance.Tests.Training;

/// <summary>
/// Determinism across processes, with real `glance train` processes: a seed must mean the same run in
/// every process, and a run killed with SIGKILL and resumed in a new process must end where the
/// uninterrupted run ends. (In-process resume tests cannot see per-process randomness such as
/// <see cref="HashCode"/>'s seed, which once shuffled the epochs.)
/// </summary>
public class CrossProcessTrainingTests
{
    private const int Steps = 40;

    private static readonly Lazy<(string Json, string Images)> _data = new(CaptionerTrainingTests.WriteData);
    private static readonly Lazy<string> _cache = new(() => TempDir.Create("features"));

    internal static string[] TrainArgs(string output) =>
    [
        "train", "--stage", "finetune", "--vision", TinyModels.ClipFolder, "--lm", TinyModels.OptFolder,
        "--data", _data.Value.Json, "--images", _data.Value.Images, "--out", output, "--feature-cache", _cache.Value,
        "--batch", "2", "--epochs", "1000", "--max-steps", $"{Steps}", "--lr", "3e-3", "--seed", "5", "--checkpoint-every", "2",
    ];

    internal static Process Start(string[] args)
    {
        // The test project references the CLI, so its apphost and glance.dll sit beside the tests.
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "glance"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start glance");
    }

    internal static void RunToEnd(string[] args)
    {
        using var p = Start(args);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"glance {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}");
    }

    private static string TrainLosses(string run) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(run, "checkpoint", "trainer_state.json")))!["train"]!.ToJsonString();

    [Fact]
    public void Two_processes_with_the_same_seed_log_the_same_losses_and_write_the_same_weights()
    {
        string a = TempDir.Create("run-a"), b = TempDir.Create("run-b");
        RunToEnd(TrainArgs(a));
        RunToEnd(TrainArgs(b));
        Assert.Equal(TrainLosses(a), TrainLosses(b));
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, "model.safetensors")), File.ReadAllBytes(Path.Combine(b, "model.safetensors")));
    }

    [Fact]
    public void A_run_killed_at_a_random_step_and_resumed_in_a_new_process_ends_with_the_same_weights()
    {
        string whole = TempDir.Create("run-whole"), killed = TempDir.Create("run-killed");
        RunToEnd(TrainArgs(whole));

        // Kill -9 once a checkpoint past a random step is on disk (checkpoints every 2 steps).
        int killAfter = Random.Shared.Next(2, Steps - 6);
        using (var p = Start(TrainArgs(killed)))
        {
            _ = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            _ = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            var state = Path.Combine(killed, "checkpoint", "trainer_state.json");
            var clock = Stopwatch.StartNew();
            while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
            {
                try
                {
                    if (File.Exists(state) && JsonNode.Parse(File.ReadAllText(state))!["step"]!.GetValue<long>() >= killAfter) break;
                }
                catch (Exception e) when (e is IOException or System.Text.Json.JsonException) { }   // mid-swap: look again
                Thread.Sleep(5);
            }
            Assert.False(p.HasExited, $"the run ended before step {killAfter}: the kill would test nothing");
            p.Kill();   // SIGKILL
            p.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(killed, "model.safetensors")), "killed before the end, no model yet");

        RunToEnd(TrainArgs(killed));
        Assert.Equal(TrainLosses(whole), TrainLosses(killed));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model.safetensors")));
    }
}
