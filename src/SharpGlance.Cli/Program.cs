using System.CommandLine;
using System.Text;
using Microsoft.Win32.SafeHandles;
using SharpGlance;
using SharpGlance.Cli.Commands;

namespace SharpGlance.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // Before anything loads libtorch (its libgomp reads this once): idle OpenMP threads sleep instead of
        // spinning. See bench/README.md for the measurements behind the choice; a value the user set wins.
        Runtime.NativeEnvironment.SetDefault("OMP_WAIT_POLICY", "PASSIVE");
        try
        {
            // System.CommandLine's own handler would print "Unhandled exception:" and a stack trace; errors
            // come here instead and are reported as one line.
            var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
            // .NET's console ignores EPIPE, so `glance caption … | head -1` would go on captioning for nobody:
            // a redirected stdout is written through a stream that fails when the reader is gone.
            if (Console.IsOutputRedirected)
                config.Output = new StreamWriter(new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1), new UTF8Encoding(false)) { AutoFlush = true };
            return Parse(args).Invoke(config);
        }
        catch (IOException e) when (e.HResult == BrokenPipe)
        {
            return 128 + 13;   // as if SIGPIPE had ended it, the shell's convention; the reader is gone, so no message
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("GLANCE_DEBUG") != "1")
        {
            return ReportError(e);
        }
    }

    /// <summary>EPIPE, the errno .NET puts in an IOException's HResult on Unix.</summary>
    private const int BrokenPipe = 32;

    /// <summary>Parses a command line; a mistyped option is an error (<see cref="UnknownOptions"/>), never a file name.</summary>
    public static ParseResult Parse(params string[] args)
    {
        var parse = BuildRoot().Parse(args);
        UnknownOptions.Reject(parse);
        return parse;
    }

    /// <summary>Every command, one line each; each lives in Commands/ and is thin over the library.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("SharpGlance: a lightweight image-captioning specialist with Sharp-Eyed Refinement.");
        foreach (var command in new[]
        {
            InfoCommand.Create(),
            TokenizeCommand.Create(),
            CaptionCommand.Create(),
            VideoCommand.Create(),
            AskCommand.Create(),
            AttendCommand.Create(),
            TrainCommand.Create(),
            SynthCommand.Create(),
            PseudoCommand.Create(),
            EvalCommand.Create(),
            DemoCommand.Create(),
            BenchCommand.Create(),
            DownloadCommand.Create(),
            AnalyzeCommand.Create(),
            ServeCommand.Create(),
            QueueCommand.Create(),
            QueueCommand.Worker(),
        })
            root.Subcommands.Add(command);
        return root;
    }

    /// <summary>One line on stderr, never a stack trace (set GLANCE_DEBUG=1 to see one).</summary>
    public static int ReportError(Exception e)
    {
        var (code, line) = Describe(e);
        Console.Error.WriteLine(line);
        return code;
    }

    /// <summary>The exit code and the one error line for an exception: 2 for a <see cref="GlanceException"/> (bad input), 1 for anything else (a bug).</summary>
    public static (int Code, string Line) Describe(Exception e)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerExceptions[0] : e;
        if (inner is System.Reflection.TargetInvocationException { InnerException: { } ti }) inner = ti;
        string message = inner switch
        {
            GlanceException g => g.Message,
            OutOfMemoryException => "out of memory: " + inner.Message,
            _ => $"{inner.GetType().Name}: {inner.Message}",
        };
        return (inner is GlanceException ? 2 : 1, $"glance: error: {message.ReplaceLineEndings(" ")}");
    }
}
