using System.Text.RegularExpressions;
using SharpGlance.Evaluation;
using SharpGlance.Evaluation.Judges;
using SharpGlance.Evaluation.Report;
using SkiaSharp;

namespace SharpGlance.Tests.Evaluation;

/// <summary>The HTML report and the JSON output of <c>glance eval</c>.</summary>
public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("glance-eval-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private EvaluationResult Evaluate() => CocoEvaluator.Evaluate(
    [
        new EvaluationItem("1", "a dog runs on the beach", ["a dog runs on the beach", "a dog on sand"], "imgs/1.png"),
        new EvaluationItem("2", "a <b>cat</b> & a hat", ["a cat sleeps", "a cat on a bed"], "imgs/2.png"),
        new EvaluationItem("3", "a car", ["a red car parked", "a car on a street"], "missing.png"),
    ], new EvaluationOptions { Metrics = ["bleu", "rouge", "cider"] });

    private void WriteImage(string relative, SKColor color)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(640, 480);
        bitmap.Erase(color);
        using var data = SKImage.FromBitmap(bitmap).Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void Report_has_corpus_table_sortable_rows_and_worst_first_gallery()
    {
        WriteImage("imgs/1.png", SKColors.Blue);
        WriteImage("imgs/2.png", SKColors.Green);
        var result = Evaluate();
        var path = Path.Combine(_dir, "out", "report.html");
        var judge = new JudgeReport("CLAIR", "m", 2, [0], 72.5, 0, [72.5], 2, 0, 0, 2, new Dictionary<string, int> { ["HTTP 429"] = 1 }, false, 0, 100,
            [new JudgeVerdict("1", 0, 90, "same", null, 1), new JudgeVerdict("2", 0, 55, "close", null, 1)]);
        HtmlReport.Write(path, result, new ReportOptions { ImagesDir = _dir, Judges = [judge], ReferencesPath = "refs.json", ResultsPath = "res.json" });
        var html = File.ReadAllText(path);

        Assert.Contains("<td>CIDEr-D</td><td>" + result.Corpus["CIDEr"].ToString("F4", System.Globalization.CultureInfo.InvariantCulture), html);
        Assert.Contains("<td>CLAIR (m)</td><td>72.50 ± 0.00</td>", html);
        Assert.Contains("HTTP 429 ×1", html);
        Assert.Contains("class=\"sortable\"", html);
        Assert.Contains("addEventListener('click'", html);                  // the inline sorter
        Assert.Contains("a &lt;b&gt;cat&lt;/b&gt; &amp; a hat", html);       // captions are escaped
        Assert.DoesNotContain("<b>cat</b>", html);
        // Three rows, each with its raw CIDEr value for sorting.
        Assert.Equal(3, Regex.Matches(html, "<tr><td>[123]</td>").Count);
        Assert.Contains($"data-v=\"{result.Images[0].Scores["CIDEr"]:R}\"", html);
        // Gallery: worst CIDEr first, thumbnails embedded, a placeholder for the missing file.
        var order = Regex.Matches(html, "<div class=\"id\">(\\d)").Select(m => m.Groups[1].Value).ToList();
        var expected = result.Images.OrderBy(i => i.Scores["CIDEr"]).ThenBy(i => i.ImageId).Select(i => i.ImageId).ToList();
        Assert.Equal(expected, order);
        Assert.Equal(2, Regex.Matches(html, "<img src=\"data:image/jpeg;base64,").Count);
        Assert.Contains("image not found", html);
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "out"), "*.tmp"));   // written atomically
    }

    [Fact]
    public void Report_without_images_has_no_gallery()
    {
        var html = HtmlReport.Render(Evaluate(), new ReportOptions());
        Assert.DoesNotContain("class=\"gallery\"", html);
        Assert.Contains("<table class=\"sortable\"", html);
    }

    [Fact]
    public void Pipeline_runs_files_to_json()
    {
        var refs = Path.Combine(_dir, "refs.json");
        File.WriteAllText(refs, """{"images": [{"id": 1}, {"id": 2}], "annotations": [{"image_id": 1, "caption": "A dog runs."}, {"image_id": 2, "caption": "A cat sleeps."}]}""");
        var res = Path.Combine(_dir, "res.json");
        File.WriteAllText(res, """[{"image_id": 2, "caption": "a cat sleeps"}, {"image_id": 1, "caption": "a dog"}]""");
        var outcome = EvalPipeline.Run(new EvalRequest { ReferencesPath = refs, ResultsPath = res, Metrics = ["bleu", "cider"], ReportPath = Path.Combine(_dir, "r.html") }, cancel: TestContext.Current.CancellationToken);
        var json = System.Text.Json.Nodes.JsonNode.Parse(EvalPipeline.ToJson(outcome))!;
        Assert.Equal(2, json["images"]!.GetValue<int>());
        Assert.Equal(outcome.Result.Corpus["CIDEr"], json["metrics"]!["CIDEr"]!.GetValue<double>());
        Assert.Equal("1", json["per_image"]![0]!["image_id"]!.GetValue<string>());     // reference order
        Assert.Equal("a dog", json["per_image"]![0]!["tokenized"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(_dir, "r.html")));
    }

    [Fact]
    public void Pipeline_checks_its_options_before_working()
    {
        var e = Assert.Throws<GlanceException>(() => EvalPipeline.Run(new EvalRequest { ReferencesPath = "r", ResultsPath = "s", Judges = ["clair"] }, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("--judge needs an endpoint", e.Message);
        e = Assert.Throws<GlanceException>(() => EvalPipeline.Run(new EvalRequest { ReferencesPath = "r", ResultsPath = "s", ImagesDir = Path.Combine(_dir, "nope") }, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("images folder not found", e.Message);
    }
}
