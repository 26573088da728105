using System.CommandLine;
using SharpGlance.Cli;

namespace SharpGlance.Tests;

/// <summary>Runs a <c>glance</c> command in-process with its output and error writers captured.</summary>
public static class GlanceCli
{
    /// <summary>Exceptions propagate, for tests that check the exception itself.</summary>
    public static (int Code, string Output, string Error) Run(params string[] args) => Invoke(args, report: false);

    /// <summary>As a user sees it: an exception becomes <c>Program.Main</c>'s error line and exit code.</summary>
    public static (int Code, string Output, string Error) RunReported(params string[] args) => Invoke(args, report: true);

    private static (int Code, string Output, string Error) Invoke(string[] args, bool report)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        int code;
        try { code = Program.Parse(args).Invoke(config); }
        catch (Exception e) when (report)
        {
            (code, var line) = Program.Describe(e);
            error.WriteLine(line);
        }
        return (code, output.ToString(), error.ToString());
    }
}
