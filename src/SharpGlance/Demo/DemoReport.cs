using System.Net;
using System.Text;
using System.Text.Json;
using SharpGlance.Evaluation;
using SharpGlance.IO;

namespace SharpGlance.Demo;

/// <summary>Writes the demo's results as results.json, results.md (the table) and results.html (table + examples).</summary>
public static class DemoReport
{
    public static readonly (string Key, string Label)[] MetricColumns =
        [(CocoEvaluator.Bleu4, "B@4"), (CocoEvaluator.MeteorName, "METEOR"), (CocoEvaluator.RougeName, "ROUGE-L"), (CocoEvaluator.CiderName, "CIDEr")];

    public static void Write(string folder, DemoResult r)
    {
        var json = JsonSerializer.Serialize(new
        {
            seed = r.Options.Seed,
            quick = r.Options.Quick,
            options = r.Options,
            rows = r.Rows.Select(row => new { name = row.Name, description = row.Description, metrics = row.Metrics, errors = row.Errors, captions_with_errors = row.CaptionsWithErrors, images = row.Images }),
            step_seconds = r.StepSeconds,
            total_seconds = r.StepSeconds.Values.Sum(),
            notes = r.Notes,
            losses = r.Losses.ToDictionary(kv => kv.Key, kv => new { first = kv.Value.First, last = kv.Value.Last, steps = kv.Value.Steps }),
            second_glance = r.SecondGlance,
            validation_cider = r.Validation.ToDictionary(kv => kv.Key, kv => kv.Value.Select(p => new { step = p.Step, cider = p.Cider })),
            examples = r.Examples.Select(e => new { image_id = e.ImageId, references = e.References, initial = e.Initial, refined = e.Refined, initial_errors = e.InitialErrors.Total, refined_errors = e.RefinedErrors.Total }),
        }, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        AtomicFile.WriteAllText(Path.Combine(folder, "results.json"), json + "\n");
        AtomicFile.WriteAllText(Path.Combine(folder, "results.md"), Markdown(r));
        AtomicFile.WriteAllText(Path.Combine(folder, "results.html"), Html(r));
    }

    private static double Cider(DemoRow row) => row.Metrics.TryGetValue(CocoEvaluator.CiderName, out var c) ? c : double.NaN;

    public static string Markdown(DemoResult r)
    {
        var sb = new StringBuilder();
        var baseline = r.Rows[0];
        sb.AppendLine($"# SharpGlance in miniature (seed {r.Options.Seed}{(r.Options.Quick ? ", quick" : "")})");
        sb.AppendLine();
        sb.AppendLine($"Test split: {baseline.Images} synthetic scenes, 5 references each; beams {r.Options.EvalBeams}, length penalty 0. " +
                      "Metrics ×100 (coco-caption arithmetic; METEOR without a paraphrase table). Errors: counted against each image's scene graph.");
        sb.AppendLine();
        // ΔCIDEr against the single pass, and against the single pass trained for stage 2's extra steps.
        var more = r.Rows.Count > 1 && r.Rows[1].Name.StartsWith("Single pass +", StringComparison.Ordinal) ? r.Rows[1] : null;
        sb.Append("| model | ").Append(string.Join(" | ", MetricColumns.Select(c => c.Label))).Append(" | ΔCIDEr | ").Append(more is null ? "" : "Δ vs + steps | ")
          .Append(string.Join(" | ", Data.Synthetic.ErrorBreakdown.Kinds)).AppendLine(" | errors | captions with errors |");
        sb.Append("|---|").Append(string.Concat(Enumerable.Repeat("---:|", MetricColumns.Length + 1 + (more is null ? 0 : 1) + Data.Synthetic.ErrorBreakdown.Kinds.Length + 2))).AppendLine();
        foreach (var row in r.Rows)
        {
            sb.Append($"| {row.Name} | ");
            sb.Append(string.Join(" | ", MetricColumns.Select(c => row.Metrics.TryGetValue(c.Key, out var v) ? $"{100 * v:0.0}" : "–")));
            string Delta(DemoRow against) => ReferenceEquals(row, against) ? "" : $"{100 * (Cider(row) - Cider(against)):+0.0;-0.0;0.0}";
            sb.Append($" | {Delta(baseline)} | ");
            if (more is not null) sb.Append($"{Delta(more)} | ");
            sb.Append(string.Join(" | ", Data.Synthetic.ErrorBreakdown.Kinds.Select(k => row.Errors[k].ToString())));
            sb.Append($" | {row.Errors.Values.Sum()}");
            sb.AppendLine($" | {row.CaptionsWithErrors} ({100.0 * row.CaptionsWithErrors / Math.Max(1, row.Images):0.0}%) |");
        }
        sb.AppendLine();
        if (r.SecondGlance is { } g)
        {
            sb.AppendLine($"The second glance (SeR ①+②, one round) changed {g.Changed} of {g.Images} captions. Of the {g.RightBefore} first glances without an error, " +
                          $"{g.KeptRight} stayed right ({100 * g.KeptRightShare:0.0}%) and {g.Broken} gained an error; it corrected {Plural(g.Fixed, "caption")} completely; " +
                          $"errors against the scene graphs {g.ErrorsBefore} → {g.ErrorsAfter}.");
            sb.AppendLine();
        }
        foreach (var (key, curve) in r.Validation)
            sb.AppendLine($"Validation CIDEr of {key} by step: " + string.Join(", ", curve.Select(p => $"{p.Step}: {p.Cider:0.0}")) + ".");
        if (r.Validation.Count > 0) sb.AppendLine();
        sb.AppendLine("① = the initial caption is given to DeepLens; ② = multi-level ViT features. Rows are described in results.json.");
        sb.AppendLine();
        sb.AppendLine($"Time: {r.StepSeconds.Values.Sum() / 60:0.0} min on this machine — " + string.Join(", ", r.StepSeconds.Select(kv => $"{kv.Key} {kv.Value:0} s")) + ".");
        return sb.ToString();
    }

    public static string Html(DemoResult r)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.AppendLine("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>SharpGlance in miniature</title><style>");
        sb.AppendLine("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}table{border-collapse:collapse;margin:1em 0}" +
                      "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}" +
                      ".ex{display:flex;gap:1em;margin:1em 0;padding:.8em;border:1px solid #ddd;border-radius:6px}.ex img{width:192px;height:192px;image-rendering:pixelated}" +
                      ".regression{color:#b00}.fix{color:#070}.changed{color:#555}.refs{color:#666;font-size:90%}");
        sb.AppendLine("</style></head><body>");
        sb.AppendLine($"<h1>SharpGlance in miniature</h1><p>Seed {r.Options.Seed}{(r.Options.Quick ? " (quick run)" : "")}. " +
                      $"The paper's Tab. 3 on the synthetic world: a tiny CLIP + tiny OPT specialist, then Sharp-Eyed Refinement. Test split: {r.Rows[0].Images} images.</p>");
        var md = Markdown(r).Split('\n').Where(l => l.StartsWith('|')).ToList();
        sb.AppendLine("<table>");
        for (int i = 0; i < md.Count; i++)
        {
            if (i == 1) continue;   // the markdown alignment row
            var cells = md[i].Trim().Trim('|').Split('|').Select(c => E(c.Trim()));
            string tag = i == 0 ? "th" : "td";
            sb.Append("<tr>").Append(string.Concat(cells.Select(c => $"<{tag}>{c}</{tag}>"))).AppendLine("</tr>");
        }
        sb.AppendLine("</table><p>① = initial caption given to DeepLens; ② = multi-level ViT features.</p>");
        // The paragraphs of the markdown below its table: what the second glance did, the validation curves.
        if (r.SecondGlance is not null || r.Validation.Count > 0)
            foreach (var line in Markdown(r).Split('\n').SkipWhile(l => !l.StartsWith('|')).SkipWhile(l => l.StartsWith('|'))
                         .Where(l => l.StartsWith("The second glance", StringComparison.Ordinal) || l.StartsWith("Validation CIDEr", StringComparison.Ordinal)))
                sb.AppendLine($"<p>{E(line)}</p>");
        sb.AppendLine("<h2>What the second glance changed</h2><p>Test images whose caption changed in the first refinement round, ordered by the change in errors: " +
                      "<span class=\"fix\">fixes</span> (fewer errors), <span class=\"changed\">changes</span> (as many) and " +
                      "<span class=\"regression\">regressions</span> (more). Error counts are against the scene graph.</p>");
        foreach (var e in r.Examples)
        {
            string img = File.Exists(e.ImageFile) ? "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(e.ImageFile)) : "";
            string kind = ChangeKind(e.InitialErrors.Total, e.RefinedErrors.Total);
            sb.AppendLine($"<div class=\"ex {kind}-example\"><img src=\"{img}\" alt=\"test image {E(e.ImageId)}\"><div>" +
                          $"<p><b>initial</b> ({Errors(e.InitialErrors.Total)}): {E(e.Initial)}</p>" +
                          $"<p class=\"{kind}\"><b>refined</b> ({Errors(e.RefinedErrors.Total)}, {kind}): {E(e.Refined)}</p>" +
                          $"<p class=\"refs\">references: {string.Join(" · ", e.References.Select(E))}</p></div></div>");
        }
        sb.AppendLine("</body></html>");
        return sb.ToString();
    }

    /// <summary>What a refinement did to a caption, by its error counts: <c>fix</c> (fewer), <c>regression</c> (more), <c>changed</c> (as many).</summary>
    public static string ChangeKind(int before, int after) => after < before ? "fix" : after > before ? "regression" : "changed";

    /// <summary>"1 error", "2 errors".</summary>
    public static string Errors(int count) => Plural(count, "error");

    /// <summary>"1 caption", "0 captions": the count and the word, in the plural unless the count is one.</summary>
    public static string Plural(long count, string word) => count == 1 ? $"1 {word}" : $"{count} {word}s";
}
