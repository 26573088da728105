using System.Globalization;
using System.Net;
using System.Text;
using SharpGlance.Evaluation.Comparison;

namespace SharpGlance.Evaluation.Report;

/// <summary>
/// The HTML report of <c>glance eval --compare A B</c>, self-contained like <see cref="HtmlReport"/>: every
/// paired difference with its bootstrap interval (drawn to its own scale beside the numbers), the McNemar
/// table of error-free captions when scene graphs were given, each image's two captions and differences in a
/// sortable table, and the largest gains and losses by the ranking metric with their images.
/// </summary>
public static class ComparisonReport
{
    public static void Write(string path, CompareOutcome outcome, IProgress<ProgressUpdate>? progress = null)
    {
        var html = Render(outcome, progress);
        try { AtomicFile.WriteAllText(path, html); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw GlanceException.ForFile(path, "cannot write the report: " + e.Message);
        }
    }

    public static string Render(CompareOutcome o, IProgress<ProgressUpdate>? progress = null)
    {
        var r = o.Request;
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>glance eval --compare</title>\n<style>")
         .Append(HtmlReport.Css).Append(Css).Append("</style></head><body>\n<h1>Caption comparison</h1>\n<p class=\"meta\">references <code>")
         .Append(Enc(r.ReferencesPath)).Append("</code> · ").Append(o.Images.Count).Append(" images · coco-caption arithmetic</p>\n<table class=\"run\"><tr><th>A</th><td><code>")
         .Append(Enc(r.PathA)).Append("</code></td></tr><tr><th>B</th><td><code>").Append(Enc(r.PathB)).Append("</code></td></tr></table>\n");
        if (r.ImagesDir is null) h.Append("<p class=\"note warn\">").Append(HtmlReport.NoImagesNote).Append("</p>\n");

        // ---- paired intervals ----
        h.Append("<h2>B − A with ").Append(F(100 * r.Bootstrap.Confidence, 0)).Append("% paired bootstrap intervals</h2>\n<p class=\"note\">")
         .Append(r.Bootstrap.Resamples).Append(" resamples of the ").Append(o.Images.Count).Append(" images, seed ").Append(r.Bootstrap.Seed)
         .Append("; A and B are scored on the same draws. Metrics ×100 (CIDEr-D with the document frequencies of the full reference set). ")
         .Append("Each bar is drawn to its own scale: the dot is Δ, the line the interval, the grey rule 0.</p>\n")
         .Append("<table class=\"corpus\"><tr><th></th><th class=\"num\">A</th><th class=\"num\">B</th><th class=\"num\">Δ</th><th>interval</th><th></th>")
         .Append("<th class=\"num\">images B &gt; A</th><th class=\"num\">B &lt; A</th><th class=\"num\">same</th></tr>\n");
        foreach (var iv in o.Intervals)
        {
            double k = CaptionComparison.Scale(iv.Name);
            var t = o.Tallies.FirstOrDefault(x => x.Metric == iv.Name);
            h.Append("<tr><td>").Append(Enc(CaptionComparison.Label(iv.Name))).Append("</td><td class=\"num\">").Append(F(k * iv.A, 2))
             .Append("</td><td class=\"num\">").Append(F(k * iv.B, 2)).Append("</td><td class=\"num\"><b>").Append(Signed(k * iv.Delta))
             .Append("</b></td><td class=\"num\">[").Append(Signed(k * iv.Low)).Append(", ").Append(Signed(k * iv.High)).Append("]</td><td>")
             .Append(IntervalSvg(iv)).Append("</td>");
            if (t is not null) h.Append("<td class=\"num\">").Append(t.BetterB).Append("</td><td class=\"num\">").Append(t.WorseB).Append("</td><td class=\"num\">").Append(t.Tied).Append("</td>");
            else h.Append("<td></td><td></td><td></td>");
            h.Append("</tr>\n");
        }
        h.Append("</table>\n");

        // ---- McNemar ----
        if (o.ErrorFree is { } m)
        {
            h.Append("<h2>Error-free captions (exact McNemar test)</h2>\n<p class=\"note\">Each caption checked against its scene graph (<code>")
             .Append(Enc(r.CheckSource ?? "")).Append("</code>): entities, counts, colours, sizes, relations. Only the images where one side is right and the other wrong count.</p>\n")
             .Append("<table class=\"corpus\"><tr><th></th><th class=\"num\">B right</th><th class=\"num\">B wrong</th></tr>\n")
             .Append("<tr><th>A right</th><td class=\"num\">").Append(m.Both).Append("</td><td class=\"num\">").Append(m.OnlyA).Append("</td></tr>\n")
             .Append("<tr><th>A wrong</th><td class=\"num\">").Append(m.OnlyB).Append("</td><td class=\"num\">").Append(m.Neither).Append("</td></tr>\n</table>\n")
             .Append("<p>two-sided p = <b>").Append(m.P.ToString("G4", CultureInfo.InvariantCulture)).Append("</b> (").Append(m.OnlyB).Append(" fixed by B against ")
             .Append(m.OnlyA).Append(" broken)</p>\n");
        }

        // ---- per image ----
        bool images = r.ImagesDir is not null, checks = o.ErrorFree is not null;
        var metrics = o.Metrics;
        h.Append("<h2>Per image</h2>\n<p class=\"note\">Click a column to sort; Δ = B − A per image, ×100.</p>\n<table class=\"sortable\" id=\"images\"><thead><tr><th>image</th>")
         .Append(images ? "<th></th>" : "").Append("<th>A</th><th>B</th>");
        foreach (var metric in metrics) h.Append("<th class=\"num\">Δ ").Append(Enc(HtmlReport.Label(metric))).Append("</th>");
        if (checks) h.Append("<th class=\"num\">errors A</th><th class=\"num\">errors B</th>");
        h.Append("</tr></thead><tbody>\n");
        int row = 0, thumbnails = images ? Math.Min(1000, o.Images.Count) : 0;
        foreach (var p in o.Images)
        {
            h.Append("<tr><td>").Append(Enc(p.ImageId)).Append("</td>");
            if (images)
            {
                h.Append("<td class=\"thumb\">");
                if (row++ < thumbnails && HtmlReport.ResolveImage(r.ImagesDir!, p.A.ImageFile, p.ImageId) is { } file && HtmlReport.Thumbnail(file, 64) is { } uri)
                    h.Append("<img src=\"").Append(uri).Append("\" alt=\"\">");
                progress?.Report(new ProgressUpdate(row, o.Images.Count, "report thumbnails"));
                h.Append("</td>");
            }
            h.Append("<td>").Append(Enc(p.A.Candidate)).Append("</td><td").Append(p.A.Candidate == p.B.Candidate ? " class=\"same\"" : "").Append('>')
             .Append(Enc(p.B.Candidate)).Append("</td>");
            foreach (var metric in metrics) Cell(h, 100 * p.Delta(metric), 1);
            if (checks) { Cell(h, p.CheckA!.Errors, 0); Cell(h, p.CheckB!.Errors, 0); }
            h.Append("</tr>\n");
        }
        h.Append("</tbody></table>\n");

        // ---- gains and losses ----
        if (r.ReportGalleryImages > 0)
        {
            var rank = o.RankBy;
            var changed = o.Images.Where(p => p.Delta(rank) != 0).ToList();
            var losses = changed.Where(p => p.Delta(rank) < 0).OrderBy(p => p.Delta(rank)).ThenBy(p => p.ImageId, StringComparer.Ordinal).Take(r.ReportGalleryImages).ToList();
            var gains = changed.Where(p => p.Delta(rank) > 0).OrderByDescending(p => p.Delta(rank)).ThenBy(p => p.ImageId, StringComparer.Ordinal).Take(r.ReportGalleryImages).ToList();
            foreach (var (title, list) in new[] { ($"Largest gains of B by {HtmlReport.Label(rank)}", gains), ($"Largest losses of B by {HtmlReport.Label(rank)}", losses) })
            {
                h.Append("<h2>").Append(Enc(title)).Append("</h2>\n");
                if (list.Count == 0) { h.Append("<p class=\"note\">none</p>\n"); continue; }
                h.Append("<div class=\"gallery\">\n");
                foreach (var p in list)
                {
                    h.Append("<div class=\"card\">");
                    if (images && HtmlReport.ResolveImage(r.ImagesDir!, p.A.ImageFile, p.ImageId) is { } file && HtmlReport.Thumbnail(file, 320) is { } uri)
                        h.Append("<img src=\"").Append(uri).Append("\" alt=\"").Append(Enc(p.ImageId)).Append("\">");
                    h.Append("<div class=\"id\">").Append(Enc(p.ImageId)).Append(" · Δ ").Append(Enc(HtmlReport.Label(rank))).Append(' ').Append(Signed(100 * p.Delta(rank), 1)).Append("</div>");
                    Caption(h, "A", p.A.Candidate, p.CheckA);
                    Caption(h, "B", p.B.Candidate, p.CheckB);
                    h.Append("</div>\n");
                }
                h.Append("</div>\n");
            }
        }
        h.Append("<script>").Append(HtmlReport.Script).Append("</script>\n</body></html>\n");
        return h.ToString();
    }

    private static void Caption(StringBuilder h, string side, string caption, CaptionCheck? check)
    {
        h.Append("<div class=\"cand\">").Append(side).Append(": ").Append(Enc(caption)).Append("</div>");
        if (check is null) return;
        if (check.Errors == 0) { h.Append("<div class=\"ok\">no error</div>"); return; }
        h.Append("<ul class=\"errs\">");
        foreach (var note in check.Notes) h.Append("<li>").Append(Enc(note)).Append("</li>");
        h.Append("</ul>");
    }

    /// <summary>The interval on its own symmetric scale around 0: grey zero rule, the interval's line, Δ's dot.</summary>
    private static string IntervalSvg(PairedInterval iv)
    {
        const int W = 220, H = 18, Pad = 6;
        double span = new[] { Math.Abs(iv.Low), Math.Abs(iv.High), Math.Abs(iv.Delta) }.Max();
        if (!(span > 0)) span = 1;
        double X(double v) => W / 2.0 + v / span * (W / 2.0 - Pad);
        string colour = iv.Low > 0 ? "#2a8a2a" : iv.High < 0 ? "#c0392b" : "#666";
        string N(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        return $"<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\"><line x1=\"{W / 2}\" y1=\"1\" x2=\"{W / 2}\" y2=\"{H - 1}\" stroke=\"#bbb\"/>" +
               $"<line x1=\"{N(X(iv.Low))}\" y1=\"{H / 2}\" x2=\"{N(X(iv.High))}\" y2=\"{H / 2}\" stroke=\"{colour}\" stroke-width=\"3\"/>" +
               $"<circle cx=\"{N(X(iv.Delta))}\" cy=\"{H / 2}\" r=\"4\" fill=\"{colour}\"/></svg>";
    }

    private static void Cell(StringBuilder h, double v, int digits) =>
        h.Append("<td class=\"num\" data-v=\"").Append(v.ToString("R", CultureInfo.InvariantCulture)).Append("\">").Append(digits == 0 ? F(v, 0) : Signed(v, digits)).Append("</td>");

    private static string Signed(double v, int digits = 2) =>
        double.IsNaN(v) ? "–" : v.ToString($"+0.{new string('0', digits)};-0.{new string('0', digits)};0.{new string('0', digits)}", CultureInfo.InvariantCulture);

    private static string F(double v, int digits) => double.IsNaN(v) ? "–" : v.ToString("F" + digits, CultureInfo.InvariantCulture);
    private static string Enc(string s) => WebUtility.HtmlEncode(s);

    private const string Css = """
td.same{color:#888}
.ok{color:#2a8a2a;font-size:.85em}.errs{margin:.1em 0 .4em;padding-left:1.4em;color:#a33;font-size:.85em}
""";
}
