using System.CommandLine;
using TorchSharp;

namespace SharpGlance.Cli.Commands;

/// <summary><c>glance info</c>: versions, threads and devices, the first thing to paste into a bug report.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Print versions, thread count and available devices.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"SharpGlance {typeof(GlanceException).Assembly.GetName().Version}");
            Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores");
            Console.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, threads {torch.get_num_threads()}, cuda {(torch.cuda.is_available() ? "yes" : "no")}");
            Console.WriteLine($"CPU GEMM: {SharpGlance.Runtime.CpuGemm.Describe()}");
            Console.WriteLine($"OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(unset)"}");
            return 0;
        });
        return command;
    }
}
