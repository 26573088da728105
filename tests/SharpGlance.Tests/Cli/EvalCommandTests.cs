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

    [Fact]
    public void Compare_of_a_file_with_itself_prints_zero_width_intervals_as_json()
    {
        var refs = Path.Combine(_dir, "refs.jsonl");
        File.WriteAllText(refs, "{\"image\": \"a.png\", \"caption\": \"a dog on grass\"}\n{\"image\": \"b.png\", \"caption\": \"two red circles\"}\n");
        var res = Path.Combine(_dir, "res.jsonl");
        File.WriteAllText(res, "{\"image\": \"a.png\", \"caption\": \"a dog\"}\n{\"image\": \"b.png\", \"caption\": \"a red circle\"}\n");

        var (code, output, _) = GlanceCli.Run("eval", "--refs", refs, "--compare", res, res, "--metrics", "bleu,cider", "--json", "--bootstrap-resamples", "50");

        Assert.Equal(0, code);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        var intervals = json.RootElement.GetProperty("intervals").EnumerateArray().ToList();
        Assert.Equal(5, intervals.Count);
        Assert.All(intervals, i => Assert.Equal((0.0, 0.0, 0.0), (i.GetProperty("delta").GetDouble(), i.GetProperty("low").GetDouble(), i.GetProperty("high").GetDouble())));
        Assert.Equal(50, json.RootElement.GetProperty("bootstrap").GetProperty("resamples").GetInt32());
        var both = Assert.Throws<GlanceException>(() => GlanceCli.Run("eval", "--refs", refs, "--results", res, "--compare", res, res));
        Assert.Contains("not both", both.Message);
    }
}
