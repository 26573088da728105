using System.CommandLine;
using SharpGlance.Runtime;
using TorchSharp;

namespace SharpGlance.Cli.Commands;

/// <summary><c>glance info</c>: versions, threads and devices, the first thing to paste into a bug report.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var remeasure = new Option<bool>("--remeasure") { Description = "Measure this machine's kernel plan again (e.g. after measuring it on a busy machine)" };
        var command = new Command("info", "Print versions, thread count, the CPU, available devices and this machine's kernel plan (measured on first use).")
        {
            remeasure,
        };
        command.SetAction(parse =>
        {
            Console.WriteLine($"SharpGlance {typeof(GlanceException).Assembly.GetName().Version}");
            Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores");
            Console.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, threads {torch.get_num_threads()}, cuda {(torch.cuda.is_available() ? "yes" : "no")}");
            Console.WriteLine($"CPU: {CpuFeatures.Current.Describe()}");
            Console.WriteLine($"--precision auto: {Precisions.Name(Precisions.Resolve(Precision.Auto, torch.CPU))}" +
                (Precisions.HasBf16Hardware(CpuFeatures.Current) ? " (the CPU multiplies bf16 in hardware)" : " (no bf16 hardware)"));
            GemmChoice.Apply(GemmBackend.Auto, parse.GetValue(remeasure));
            Console.WriteLine($"CPU GEMM: {CpuGemm.Describe()}");
            if (CpuGemm.Plan is { } plan)
            {
                foreach (var line in plan.Describe()) Console.WriteLine(line);
                Console.WriteLine($"  cached in {KernelPlan.CachePath(MachineIdentity.Current)}; --gemm torch|openblas overrides it, glance info --remeasure measures again");
            }
            Console.WriteLine($"OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(unset)"}");
            return 0;
        });
        return command;
    }
}
