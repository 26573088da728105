using System.CommandLine;
using SharpGlance.Cli;

namespace SharpGlance.Tests;

/// <summary>Runs a <c>glance</c> command in-process with its output and error writers captured (exceptions propagate).</summary>
public static class GlanceCli
{
    public static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        int code = Program.Parse(args).Invoke(config);
        return (code, output.ToString(), error.ToString());
    }
}
