using SharpGlance.Evaluation.Report;

namespace SharpGlance.Tests.Cli;

/// <summary><c>glance eval</c> as a command: its notes on stderr and its option errors (the pipeline's own tests are in SharpGlance.Evaluation.Tests).</summary>
public sealed class EvalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("glance-eval-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Eval_without_images_notes_the_missing_gallery_on_stderr()
    {
        var refs = Path.Combine(_dir, "refs.jsonl");
        File.WriteAllText(refs, "{\"image\": \"a.png\", \"caption\": \"a dog\"}\n");
        var res = Path.Combine(_dir, "res.jsonl");
        File.WriteAllText(res, "{\"image\": \"a.png\", \"caption\": \"a dog\"}\n");

        var (code, _, error) = GlanceCli.Run("eval", "--refs", refs, "--results", res, "--metrics", "bleu", "--json", "--report", Path.Combine(_dir, "r.html"), "--meta", "model=x");

        Assert.Equal(0, code);
        Assert.Equal($"glance: note: {HtmlReport.NoImagesNote}", error.Trim());
        Assert.Throws<GlanceException>(() => GlanceCli.Run("eval", "--refs", refs, "--results", res, "--meta", "model"));
    }
}
