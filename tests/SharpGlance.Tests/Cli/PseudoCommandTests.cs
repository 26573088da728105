using SharpGlance.Tests.Data.Pseudo;

namespace SharpGlance.Tests.Cli;

/// <summary><c>glance pseudo</c> as a command (the generator's own tests are in SharpGlance.Data.Tests).</summary>
public sealed class PseudoCommandTests : IDisposable
{
    private readonly string _dir = PseudoTestData.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Input(IEnumerable<string>? captions = null) => PseudoTestData.WriteLlava(_dir, captions ?? PseudoTestData.CocoCaptions);

    [Fact]
    public void CliReportsOneLineErrors()
    {
        var missing = Path.Combine(_dir, "nope.json");
        var err = new StringWriter();
        var previous = Console.Error;
        Console.SetError(err);
        try
        {
            Assert.Equal(2, SharpGlance.Cli.Program.Main(["pseudo", "--in", missing, "--out", Path.Combine(_dir, "o.json")]));
            Assert.Equal(2, SharpGlance.Cli.Program.Main(["pseudo", "--in", Input(), "--out", Path.Combine(_dir, "o.json"), "--max-edits", "-2"]));
        }
        finally { Console.SetError(previous); }
        Assert.Equal([$"glance: error: {missing}: input file not found", "glance: error: --max-edits must be 0 or more (got -2)"],
            err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
