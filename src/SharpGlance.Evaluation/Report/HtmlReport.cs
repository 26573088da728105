using System.Globalization;
using System.Net;
using System.Text;
using SharpGlance.Evaluation.Judges;
using SkiaSharp;

namespace SharpGlance.Evaluation.Report;

/// <summary>What goes into the HTML report besides the scores.</summary>
public sealed record ReportOptions
{
    public string? ReferencesPath { get; init; }
    public string? ResultsPath { get; init; }
    /// <summary>Folder the images live in; null = no gallery.</summary>
    public string? ImagesDir { get; init; }
    /// <summary>How many of the worst images the gallery shows (thumbnails are embedded, so this bounds the size).</summary>
    public int GalleryImages { get; init; } = 100;
    /// <summary>Longest side of an embedded thumbnail, in pixels.</summary>
    public int ThumbnailSize { get; init; } = 320;
    /// <summary>Rows of the per-image table that get a small thumbnail (the first ones, in table order).</summary>
    public int TableThumbnails { get; init; } = 1000;
    /// <summary>Longest side of a per-image table thumbnail, in pixels.</summary>
    public int TableThumbnailSize { get; init; } = 64;
    public IReadOnlyList<JudgeReport> Judges { get; init; } = [];
    /// <summary>
    /// What <c>glance caption --refine --attention DIR</c> wrote (DIR/&lt;image name&gt;/first.png, second.png,
    /// attention.json); null = no attention section.
    /// </summary>
    public string? AttentionDir { get; init; }
    /// <summary>How many images the attention section shows (the contact sheets are embedded, so this bounds the size).</summary>
    public int AttentionImages { get; init; } = 12;
    /// <summary>How the captions were made ("model", "decoding", anything else), shown under the title.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A self-contained HTML report: how the captions were made (when known), the corpus table, every image's
/// scores in a table that sorts by any column (a few lines of inline JavaScript), and — when the images are
/// given — a thumbnail in each table row and a gallery of the worst images by CIDEr-D (or the first metric
/// computed), each with its candidate and references. Images are embedded as small JPEG thumbnails in
/// <c>data:</c> URIs, so the file can be moved or mailed on its own; both are capped
/// (<see cref="ReportOptions.TableThumbnails"/>, <see cref="ReportOptions.GalleryImages"/>) so a
/// 5,000-image run stays a few MB. Without the images the report says so where they would be.
/// </summary>
public static class HtmlReport
{
    public static void Write(string path, EvaluationResult result, ReportOptions options, IProgress<ProgressUpdate>? progress = null)
    {
        var html = Render(result, options, progress);
        try { AtomicFile.WriteAllText(path, html); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw GlanceException.ForFile(path, "cannot write the report: " + e.Message);
        }
    }

    public static string Render(EvaluationResult result, ReportOptions options, IProgress<ProgressUpdate>? progress = null)
    {
        var metrics = MetricOrder(result);
        string? rankBy = metrics.Contains(CocoEvaluator.CiderName) ? CocoEvaluator.CiderName : metrics.FirstOrDefault();
        var judgeScores = options.Judges.ToDictionary(j => j.Judge, PerImageMeans);

        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>glance eval</title>\n<style>")
         .Append(Css).Append("</style></head><body>\n<h1>Caption evaluation</h1>\n<p class=\"meta\">");
        if (options.ReferencesPath is not null) h.Append("references <code>").Append(Enc(options.ReferencesPath)).Append("</code> · ");
        if (options.ResultsPath is not null) h.Append("results <code>").Append(Enc(options.ResultsPath)).Append("</code> · ");
        h.Append(result.Images.Count.ToString(CultureInfo.InvariantCulture)).Append(" images, ")
         .Append(result.ReferenceCaptions.ToString(CultureInfo.InvariantCulture)).Append(" reference captions · coco-caption arithmetic (PTB tokenizer 3.4.1)</p>\n");
        if (options.Metadata.Count > 0)
        {
            h.Append("<table class=\"run\">\n");
            foreach (var (key, value) in options.Metadata)
                h.Append("<tr><th>").Append(Enc(key)).Append("</th><td>").Append(Enc(value)).Append("</td></tr>\n");
            h.Append("</table>\n");
        }
        else
            h.Append("<p class=\"note\">The results do not say which model and decoding settings made the captions " +
                     "(<code>glance caption --json</code> records them; <code>glance eval --meta KEY=VALUE</code> adds them).</p>\n");
        bool images = options.ImagesDir is not null;
        if (!images) h.Append("<p class=\"note warn\">").Append(NoImagesNote).Append("</p>\n");

        // ---- corpus table ----
        h.Append("<h2>Corpus scores</h2>\n<table class=\"corpus\"><tr><th>metric</th><th>score</th><th>×100</th></tr>\n");
        foreach (var m in metrics)
        {
            double v = result.Corpus[m];
            h.Append("<tr><td>").Append(Enc(Label(m))).Append("</td><td>").Append(F(v, 4)).Append("</td><td>").Append(F(100 * v, 1)).Append("</td></tr>\n");
        }
        foreach (var j in options.Judges)
            h.Append("<tr><td>").Append(Enc(j.Judge)).Append(" (").Append(Enc(j.Model)).Append(")</td><td>").Append(F(j.Mean, 2))
             .Append(" ± ").Append(F(j.Std, 2)).Append("</td><td>").Append($"{j.MinScore:0}–{j.MaxScore:0} scale").Append("</td></tr>\n");
        h.Append("</table>\n");
        if (result.MeteorParaphrase is { } para)
            h.Append("<p class=\"note\">METEOR paraphrase matching: <b>").Append(para ? "on" : "off").Append("</b></p>\n");
        foreach (var j in options.Judges)
        {
            h.Append("<p class=\"note\">").Append(Enc(j.Judge)).Append(": ").Append(j.Samples).Append(" images × ").Append(j.Seeds.Count)
             .Append(" seed(s) (").Append(Enc(string.Join(", ", j.Seeds))).Append("); scored ").Append(j.Scored).Append(", malformed ").Append(j.Malformed)
             .Append(", failed ").Append(j.Failed).Append(", calls ").Append(j.Calls);
            if (j.Errors.Count > 0) h.Append("; errors seen: ").Append(string.Join(", ", j.Errors.Select(e => $"{Enc(e.Key)} ×{e.Value}")));
            h.Append(j.ImagesSent ? "; images sent" : "").Append("</p>\n");
        }

        // ---- per-image table ----
        int thumbnails = images ? Math.Min(options.TableThumbnails, result.Images.Count) : 0;
        h.Append("<h2>Per image</h2>\n<p class=\"note\">Click a column to sort.")
         .Append(images && thumbnails < result.Images.Count ? $" Thumbnails for the first {thumbnails} rows." : "")
         .Append("</p>\n<table class=\"sortable\" id=\"images\"><thead><tr><th>image</th>")
         .Append(images ? "<th></th>" : "").Append("<th>candidate</th>");
        foreach (var m in metrics) h.Append("<th class=\"num\">").Append(Enc(Label(m))).Append("</th>");
        foreach (var j in judgeScores.Keys) h.Append("<th class=\"num\">").Append(Enc(j)).Append("</th>");
        h.Append("</tr></thead><tbody>\n");
        for (int row = 0; row < result.Images.Count; row++)
        {
            var img = result.Images[row];
            h.Append("<tr><td>").Append(Enc(img.ImageId)).Append("</td>");
            if (images)
            {
                h.Append("<td class=\"thumb\">");
                if (row < thumbnails)
                {
                    progress?.Report(new ProgressUpdate(row + 1, thumbnails, "table thumbnails"));
                    if (ResolveImage(options.ImagesDir!, img.ImageFile, img.ImageId) is { } file && Thumbnail(file, options.TableThumbnailSize) is { } uri)
                        h.Append("<img src=\"").Append(uri).Append("\" alt=\"\">");
                }
                h.Append("</td>");
            }
            h.Append("<td>").Append(Enc(img.Candidate)).Append("</td>");
            foreach (var m in metrics) Cell(h, img.Scores[m]);
            foreach (var scores in judgeScores.Values) Cell(h, scores.TryGetValue(img.ImageId, out var s) ? s : null);
            h.Append("</tr>\n");
        }
        h.Append("</tbody></table>\n");

        // ---- gallery, worst first ----
        if (options.ImagesDir is not null && rankBy is not null && options.GalleryImages > 0)
        {
            var worst = result.Images.OrderBy(i => i.Scores[rankBy]).ThenBy(i => i.ImageId, StringComparer.Ordinal).Take(options.GalleryImages).ToList();
            // With no more images than the gallery holds it shows them all: then it is not "the worst N".
            h.Append("<h2>").Append(worst.Count == result.Images.Count
                    ? $"All {worst.Count} images, lowest {Enc(Label(rankBy))} first"
                    : $"Worst {worst.Count} of {result.Images.Count} images by {Enc(Label(rankBy))}")
             .Append("</h2>\n<div class=\"gallery\">\n");
            int n = 0;
            foreach (var img in worst)
            {
                progress?.Report(new ProgressUpdate(++n, worst.Count, "report thumbnails"));
                var file = ResolveImage(options.ImagesDir, img.ImageFile, img.ImageId);
                h.Append("<div class=\"card\">");
                if (file is not null && Thumbnail(file, options.ThumbnailSize) is { } uri)
                    h.Append("<img src=\"").Append(uri).Append("\" alt=\"").Append(Enc(img.ImageId)).Append("\">");
                else
                    h.Append("<div class=\"noimg\">image not found</div>");
                h.Append("<div class=\"id\">").Append(Enc(img.ImageId)).Append(" · ");
                h.Append(string.Join(" · ", metrics.Select(m => $"{Enc(Label(m))} {F(img.Scores[m], 3)}")));
                h.Append("</div><div class=\"cand\">").Append(Enc(img.Candidate)).Append("</div><ol class=\"refs\">");
                foreach (var r in img.References) h.Append("<li>").Append(Enc(r)).Append("</li>");
                h.Append("</ol></div>\n");
            }
            h.Append("</div>\n");
        }
        if (options.AttentionDir is { } attention) AttentionSection(h, result, attention, options.AttentionImages);
        h.Append("<script>").Append(Script).Append("</script>\n</body></html>\n");
        return h.ToString();
    }

    /// <summary>
    /// For the captions the second glance changed, the two glances' contact sheets side by side (each image's
    /// maps are found by its file name without extension, as <c>glance caption --attention</c> names them).
    /// </summary>
    private static void AttentionSection(StringBuilder h, EvaluationResult result, string dir, int most)
    {
        int withMaps = 0;
        var changed = new List<(ImageScore Image, string Folder, string First, string Second)>();
        foreach (var img in result.Images)
        {
            var folder = Path.Combine(dir, Path.GetFileNameWithoutExtension(img.ImageFile ?? img.ImageId));
            if (GlanceCaptions(Path.Combine(folder, "attention.json")) is not { Second: { } second } captions) continue;
            withMaps++;
            if (captions.First != second) changed.Add((img, folder, captions.First, second));
        }
        h.Append("<h2>Where the two glances looked</h2>\n<p class=\"note\">").Append(withMaps).Append(" of ").Append(result.Images.Count)
         .Append(" images have both glances' attention maps in <code>").Append(Enc(dir)).Append("</code>; the second glance changed the caption of ")
         .Append(changed.Count).Append(changed.Count > most ? $", the first {most} shown" : "")
         .Append(". Each row of a sheet is a word; each tile its attention over the image's patches (README: Where the model looks).</p>\n");
        foreach (var (img, folder, first, second) in changed.Take(most))
        {
            h.Append("<div class=\"glances\"><div class=\"id\">").Append(Enc(img.ImageId)).Append(": <b>").Append(Enc(first))
             .Append("</b> → <b>").Append(Enc(second)).Append("</b></div>");
            foreach (var sheet in new[] { "first.png", "second.png" })
                if (Thumbnail(Path.Combine(folder, sheet), int.MaxValue) is { } uri)
                    h.Append("<img src=\"").Append(uri).Append("\" alt=\"").Append(Enc(sheet)).Append("\">");
            h.Append("</div>\n");
        }
    }

    /// <summary>The first and second glance's captions in an attention.json, or null when there is none to read.</summary>
    private static (string First, string? Second)? GlanceCaptions(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path));
            var first = root?["first"]?["caption"]?.GetValue<string>();
            return first is null ? null : (first, root?["second"]?["caption"]?.GetValue<string>());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or IOException)
        {
            throw GlanceException.ForFile(path, "not an attention.json of glance attend: " + e.Message);
        }
    }

    /// <summary>Where an image is: its recorded path (absolute, or under the folder, or its file name in the folder), else {id}.jpg/.png.</summary>
    public static string? ResolveImage(string imagesDir, string? imageFile, string imageId)
    {
        var tries = new List<string>();
        if (imageFile is not null)
        {
            if (Path.IsPathRooted(imageFile)) tries.Add(imageFile);
            tries.Add(Path.Combine(imagesDir, imageFile));
            tries.Add(Path.Combine(imagesDir, Path.GetFileName(imageFile)));
        }
        foreach (var ext in new[] { ".jpg", ".jpeg", ".png" }) tries.Add(Path.Combine(imagesDir, imageId + ext));
        return tries.FirstOrDefault(File.Exists);
    }

    /// <summary>A JPEG thumbnail as a data URI, or null when the file does not decode.</summary>
    internal static string? Thumbnail(string file, int size)
    {
        try
        {
            using var bitmap = SKBitmap.Decode(file);
            if (bitmap is null) return null;
            double scale = Math.Min(1.0, (double)size / Math.Max(bitmap.Width, bitmap.Height));
            int w = Math.Max(1, (int)Math.Round(bitmap.Width * scale)), h = Math.Max(1, (int)Math.Round(bitmap.Height * scale));
            using var small = bitmap.Resize(new SKImageInfo(w, h), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
            if (small is null) return null;
            using var image = SKImage.FromBitmap(small);
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, 80);
            return data is null ? null : "data:image/jpeg;base64," + Convert.ToBase64String(data.ToArray());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The metrics present, in coco-caption's print order.</summary>
    public static List<string> MetricOrder(EvaluationResult result)
    {
        string[] order = [CocoEvaluator.Bleu1, CocoEvaluator.Bleu2, CocoEvaluator.Bleu3, CocoEvaluator.Bleu4,
            CocoEvaluator.MeteorName, CocoEvaluator.RougeName, CocoEvaluator.CiderName];
        return order.Where(result.Corpus.ContainsKey).Concat(result.Corpus.Keys.Where(k => !order.Contains(k))).ToList();
    }

    /// <summary>A readable column name: BLEU-4, METEOR, ROUGE-L, CIDEr-D.</summary>
    public static string Label(string metric) => metric switch
    {
        CocoEvaluator.Bleu1 => "BLEU-1",
        CocoEvaluator.Bleu2 => "BLEU-2",
        CocoEvaluator.Bleu3 => "BLEU-3",
        CocoEvaluator.Bleu4 => "BLEU-4",
        CocoEvaluator.RougeName => "ROUGE-L",
        CocoEvaluator.CiderName => "CIDEr-D",
        _ => metric,
    };

    private static Dictionary<string, double> PerImageMeans(JudgeReport report) =>
        report.Verdicts.Where(v => v.Score is not null).GroupBy(v => v.ImageId)
            .ToDictionary(g => g.Key, g => g.Average(v => v.Score!.Value), StringComparer.Ordinal);

    private static void Cell(StringBuilder h, double? value)
    {
        if (value is { } v) h.Append("<td class=\"num\" data-v=\"").Append(v.ToString("R", CultureInfo.InvariantCulture)).Append("\">").Append(F(v, 3)).Append("</td>");
        else h.Append("<td class=\"num\" data-v=\"\">–</td>");
    }

    /// <summary>What the report says, and <c>glance eval</c> prints, when no images folder was given.</summary>
    public const string NoImagesNote = "No images folder was given (--images DIR), so the report has no thumbnails and no gallery of the worst captions.";

    private static string F(double v, int digits) => double.IsNaN(v) ? "–" : v.ToString("F" + digits, CultureInfo.InvariantCulture);
    private static string Enc(string s) => WebUtility.HtmlEncode(s);

    internal const string Css = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
.meta,.note{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.9em}
td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th.asc::after{content:" ▲"}table.sortable th.desc::after{content:" ▼"}
.gallery{display:flex;flex-wrap:wrap;gap:1em}
.card{width:340px;border:1px solid #ddd;border-radius:6px;padding:.6em;font-size:.85em}
.card img{max-width:320px;max-height:320px;display:block;margin:0 auto .4em}
.noimg{height:80px;display:flex;align-items:center;justify-content:center;background:#f4f4f4;color:#999}
.id{color:#555}.cand{font-weight:600;margin:.3em 0}.refs{margin:0;padding-left:1.4em;color:#444}
table.run{margin:.6em 0}table.run th{text-align:left;font-weight:600}
td.thumb{padding:.15em;width:64px}td.thumb img{max-width:64px;max-height:64px;display:block}
.glances{margin:1em 0;border-top:1px solid #ddd;padding-top:.6em}.glances img{vertical-align:top;margin:.3em .6em 0 0;max-width:49%}
.warn{color:#8a5a00;background:#fff6e0;padding:.4em .6em;border-radius:4px;display:inline-block}
""";

    internal const string Script = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,col){
    th.addEventListener('click',function(){
      var asc=!th.classList.contains('asc');
      t.querySelectorAll('th').forEach(function(x){x.classList.remove('asc','desc');});
      th.classList.add(asc?'asc':'desc');
      var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=a.cells[col],y=b.cells[col],vx=x.getAttribute('data-v'),vy=y.getAttribute('data-v'),r;
        if(vx!==null&&vy!==null){var nx=vx===''?-Infinity:+vx,ny=vy===''?-Infinity:+vy;r=nx-ny;}
        else r=x.textContent.localeCompare(y.textContent,undefined,{numeric:true});
        return asc?r:-r;});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
""";
}
