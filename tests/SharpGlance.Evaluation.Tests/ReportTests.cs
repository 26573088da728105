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
        Assert.Equal(2, Regex.Matches(html, "<img src=\"data:image/jpeg;base64,[^\"]+\" alt=\"\\d\">").Count);   // gallery cards (table thumbnails have no alt)
        Assert.Contains("image not found", html);
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "out"), "*.tmp"));   // written atomically
    }

    [Fact]
    public void Report_without_images_has_no_gallery_and_says_so()
    {
        var html = HtmlReport.Render(Evaluate(), new ReportOptions());
        Assert.DoesNotContain("class=\"gallery\"", html);
        Assert.DoesNotContain("class=\"thumb\"", html);
        Assert.Contains("<table class=\"sortable\"", html);
        Assert.Contains(HtmlReport.NoImagesNote, html);
    }

    [Fact]
    public void Table_rows_get_thumbnails_when_the_images_are_given()
    {
        WriteImage("imgs/1.png", SKColors.Blue);
        WriteImage("imgs/2.png", SKColors.Green);
        var html = HtmlReport.Render(Evaluate(), new ReportOptions { ImagesDir = _dir, GalleryImages = 0 });
        // Images 1 and 2 exist, 3 does not: its cell stays empty.
        Assert.Equal(2, Regex.Matches(html, "<td class=\"thumb\"><img src=\"data:image/jpeg;base64,").Count);
        Assert.Single(Regex.Matches(html, "<td class=\"thumb\"></td>"));
        Assert.DoesNotContain(HtmlReport.NoImagesNote, html);

        var capped = HtmlReport.Render(Evaluate(), new ReportOptions { ImagesDir = _dir, GalleryImages = 0, TableThumbnails = 1 });
        Assert.Single(Regex.Matches(capped, "<td class=\"thumb\"><img"));
        Assert.Contains("Thumbnails for the first 1 rows.", capped);
    }

    [Fact]
    public void A_gallery_holding_every_image_is_not_called_the_worst()
    {
        var result = Evaluate();
        var all = HtmlReport.Render(result, new ReportOptions { ImagesDir = _dir });
        Assert.Contains("<h2>All 3 images, lowest CIDEr-D first</h2>", all);
        Assert.DoesNotContain("Worst", all);

        var two = HtmlReport.Render(result, new ReportOptions { ImagesDir = _dir, GalleryImages = 2 });
        Assert.Contains("<h2>Worst 2 of 3 images by CIDEr-D</h2>", two);
        var best = result.Images.OrderByDescending(i => i.Scores["CIDEr"]).First().ImageId;
        var shown = Regex.Matches(two, "<div class=\"id\">(\\d)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, shown.Count);
        Assert.DoesNotContain(best, shown);
    }

    [Fact]
    public void Report_shows_the_model_and_decoding_or_says_they_are_unknown()
    {
        var html = HtmlReport.Render(Evaluate(), new ReportOptions { Metadata = new Dictionary<string, string> { ["model"] = "tiny <opt>", ["decoding"] = "greedy" } });
        Assert.Contains("<tr><th>model</th><td>tiny &lt;opt&gt;</td></tr>", html);
        Assert.Contains("<tr><th>decoding</th><td>greedy</td></tr>", html);

        var unknown = HtmlReport.Render(Evaluate(), new ReportOptions());
        Assert.DoesNotContain("class=\"run\"", unknown);
        Assert.Contains("do not say which model and decoding settings", unknown);
    }

    [Fact]
    public void Caption_json_lines_carry_their_settings_into_the_report_and_options_override_them()
    {
        var refs = Path.Combine(_dir, "refs.jsonl");
        File.WriteAllText(refs, "{\"image\": \"a.png\", \"captions\": [\"a dog\", \"a brown dog\"]}\n{\"image\": \"b.png\", \"caption\": \"a cat\"}\n");
        var res = Path.Combine(_dir, "res.jsonl");
        File.WriteAllText(res,
            "{\"image\": \"x/a.png\", \"caption\": \"a dog\", \"seconds\": 0.1, \"model\": \"m1\", \"decoding\": \"greedy\"}\n" +
            "{\"image\": \"x/b.png\", \"caption\": \"a dog\", \"seconds\": 0.1, \"model\": \"m1\", \"decoding\": \"beam search\"}\n");

        var candidates = CaptionFiles.LoadCandidates(res);
        Assert.Equal("m1", candidates.Metadata["model"]);
        Assert.Equal("greedy | beam search", candidates.Metadata["decoding"]);   // mixed settings are shown, not hidden

        var outcome = EvalPipeline.Run(new EvalRequest
        {
            ReferencesPath = refs, ResultsPath = res, Metrics = ["bleu"], ReportPath = Path.Combine(_dir, "r.html"),
            Metadata = new Dictionary<string, string> { ["model"] = "named on the command line" },
        }, cancel: TestContext.Current.CancellationToken);
        var html = File.ReadAllText(Path.Combine(_dir, "r.html"));
        Assert.Contains("<tr><th>model</th><td>named on the command line</td></tr>", html);
        Assert.Contains("<tr><th>decoding</th><td>greedy | beam search</td></tr>", html);
        var json = System.Text.Json.Nodes.JsonNode.Parse(EvalPipeline.ToJson(outcome))!;
        Assert.Equal("named on the command line", json["run"]!["model"]!.GetValue<string>());
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
