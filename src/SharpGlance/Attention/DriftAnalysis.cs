using System.Globalization;
using System.Text;
using SharpGlance.Captioning;
using SharpGlance.Data.Synthetic;
using SharpGlance.Preprocessing;
using SkiaSharp;

namespace SharpGlance.Attention;

/// <summary>
/// What <c>glance analyze drift</c> measures over a synthetic world's images (paper Sec. 4, "visual
/// blindness"): does the first glance look at the image less as its caption grows, and do its later
/// mentions go wrong more often? Per generated-token position, the mean share of the token's attention on
/// the image tokens (mean over LM layers, and per layer); per mention position (the k-th entity, count,
/// colour, size or relation the caption states, judged against the scene graph by
/// <see cref="SceneErrorAnalyzer.Mentions"/>), the share of wrong mentions.
/// </summary>
public sealed class DriftStatistics
{
    public int Images { get; internal set; }
    public int Tokens { get; internal set; }
    /// <summary>[t]: captions with a token at position t (0-based).</summary>
    public List<int> TokensAt { get; } = [];
    /// <summary>[layer][t]: summed share of the image at position t (divide by <see cref="TokensAt"/>).</summary>
    public required List<double>[] ShareSum { get; init; }
    /// <summary>
    /// [t]: summed share the image would have if a token spread its attention evenly over every position
    /// before it (image tokens ÷ all keys: a longer context alone lowers the share).
    /// </summary>
    public List<double> EvenSum { get; } = [];
    /// <summary>The even-spread share at position t.</summary>
    public double Even(int t) => EvenSum[t] / TokensAt[t];
    /// <summary>[k]: mentions judged at mention position k (0-based) and how many of them were wrong.</summary>
    public List<int> MentionsAt { get; } = [];
    public List<int> WrongAt { get; } = [];
    /// <summary>Judged mentions and wrong ones, by relative position in the caption (fifths of its words).</summary>
    public int[] MentionsByFifth { get; } = new int[5];
    public int[] WrongByFifth { get; } = new int[5];
    /// <summary>Per kind, [k]: the k-th mention of that kind in a caption (0-based): (judged, wrong).</summary>
    public Dictionary<string, List<(int Judged, int Wrong)>> ByKindOrdinal { get; } = [];
    /// <summary>Per kind: (judged, wrong).</summary>
    public Dictionary<string, (int Judged, int Wrong)> ByKind { get; } = [];
    /// <summary>Errors that have no place in the caption: groups never mentioned, scene relations never stated.</summary>
    public int Omissions { get; internal set; }
    public int CaptionsWithoutError { get; internal set; }
    public double MeanWords { get; internal set; }

    public int Layers => ShareSum.Length;

    /// <summary>Mean share of the image at position t over LM layers.</summary>
    public double Share(int t) => Enumerable.Range(0, Layers).Average(l => ShareSum[l][t]) / TokensAt[t];
    public double Share(int layer, int t) => ShareSum[layer][t] / TokensAt[t];

    /// <summary>Mean share over the positions [from, to) weighted by tokens.</summary>
    public double ShareOver(int from, int to)
    {
        double sum = 0; int n = 0;
        for (int t = from; t < Math.Min(to, TokensAt.Count); t++)
        {
            sum += Enumerable.Range(0, Layers).Average(l => ShareSum[l][t]);
            n += TokensAt[t];
        }
        return n == 0 ? double.NaN : sum / n;
    }

    public string Format(int minCount = 10)
    {
        var s = new StringBuilder();
        var ic = CultureInfo.InvariantCulture;
        s.AppendLine(ic, $"{Images} images, {Tokens} generated tokens (mean {(double)Tokens / Math.Max(1, Images):F1} per caption, {MeanWords:F1} words); {CaptionsWithoutError} captions without any error");
        s.AppendLine();
        s.AppendLine("share of a generated token's attention on the image tokens, by its position in the caption (mean over LM layers)");
        s.AppendLine("(even: the share if each token spread its attention evenly over all positions before it; ratio = share ÷ even)");
        s.AppendLine(ic, $"{"positions",-12} {"tokens",7} {"share",7}{string.Concat(Enumerable.Range(0, Layers).Select(l => $" {"layer " + l,8}"))} {"even",7} {"ratio",6}");
        int width = TokensAt.Count <= 24 ? 4 : 8;
        for (int from = 0; from < TokensAt.Count; from += width)
        {
            int to = Math.Min(from + width, TokensAt.Count);
            int n = Enumerable.Range(from, to - from).Sum(t => TokensAt[t]);
            s.Append(ic, $"{$"{from}–{to - 1}",-12} {n,7} {Pct(ShareOver(from, to)),7}");
            for (int l = 0; l < Layers; l++)
                s.Append(ic, $" {Pct(Enumerable.Range(from, to - from).Sum(t => ShareSum[l][t]) / n),8}");
            double even = Enumerable.Range(from, to - from).Sum(t => EvenSum[t]) / n;
            s.AppendLine(ic, $" {Pct(even),7} {ShareOver(from, to) / even,6:F2}");
        }
        s.AppendLine();
        s.AppendLine("mentions (entity, count, colour, size, relation) judged against the scene graph, by their place in the caption");
        s.AppendLine(ic, $"{"mention",-12} {"judged",7} {"wrong",7} {"rate",7}");
        for (int k = 0; k < MentionsAt.Count; k++)
            if (MentionsAt[k] >= minCount) s.AppendLine(ic, $"{k + 1,-12} {MentionsAt[k],7} {WrongAt[k],7} {Pct((double)WrongAt[k] / MentionsAt[k]),7}");
        int rare = MentionsAt.Where(m => m < minCount).Sum();
        if (rare > 0) s.AppendLine(ic, $"(positions with fewer than {minCount} mentions left out: {rare} mentions)");
        s.AppendLine(ic, $"{"fifth of the caption",-22} {"judged",7} {"wrong",7} {"rate",7}");
        for (int f = 0; f < 5; f++)
            s.AppendLine(ic, $"{$"{20 * f}–{20 * (f + 1)}% of its words",-22} {MentionsByFifth[f],7} {WrongByFifth[f],7} {Pct(Rate(WrongByFifth[f], MentionsByFifth[f])),7}");
        s.AppendLine(ic, $"{"kind",-12} {"judged",7} {"wrong",7} {"rate",7}");
        foreach (var kind in ErrorBreakdown.Kinds)
            if (ByKind.TryGetValue(kind, out var k)) s.AppendLine(ic, $"{kind,-12} {k.Judged,7} {k.Wrong,7} {Pct(Rate(k.Wrong, k.Judged)),7}");
        s.AppendLine("the k-th mention of each kind (wrong/judged; positions with fewer than the minimum left out)");
        foreach (var kind in ErrorBreakdown.Kinds)
            if (ByKindOrdinal.TryGetValue(kind, out var list))
                s.AppendLine($"{kind,-12} " + string.Join("  ", list.Select((x, k) => (x, k)).Where(p => p.x.Judged >= minCount)
                    .Select(p => string.Create(ic, $"{p.k + 1}: {p.x.Wrong}/{p.x.Judged} = {Pct((double)p.x.Wrong / p.x.Judged)}"))));
        s.AppendLine(ic, $"omissions (groups never mentioned, scene relations never stated; no position): {Omissions}");
        return s.ToString();
    }

    private static string Pct(double v) => double.IsNaN(v) ? "–" : (100 * v).ToString("F1", CultureInfo.InvariantCulture) + "%";

    private static double Rate(int wrong, int judged) => judged == 0 ? double.NaN : (double)wrong / judged;
}

/// <summary>Runs the first glance with its attention read (<see cref="AttentionMaps.Read"/>) over a world's images and gathers <see cref="DriftStatistics"/>.</summary>
public static class DriftAnalysis
{
    public static DriftStatistics Run(Captioner captioner, IReadOnlyList<string> images, AttentionOptions options,
        (IReadOnlyDictionary<string, SceneGraph> Scenes, WorldLexicon Lexicon) world, IProgress<ProgressUpdate>? progress = null)
    {
        if (images.Count == 0) throw new GlanceException("analyze drift: no images");
        if (options.Refine) throw new ArgumentException("the drift analysis reads the first glance only", nameof(options));
        int layers = captioner.Lm.Config.NumHiddenLayers;
        var stats = new DriftStatistics { ShareSum = Enumerable.Range(0, layers).Select(_ => new List<double>()).ToArray() };
        var analyzer = new SceneErrorAnalyzer(world.Lexicon);
        var prompt = captioner.Template.Encode(captioner.Tokenizer, null, options.Question).Prompt;
        long words = 0;
        for (int i = 0; i < images.Count; i++)
        {
            if (!world.Scenes.TryGetValue(Path.GetFileName(images[i]), out var scene))
                throw GlanceException.ForFile(images[i], "has no scene graph in its world's SPLIT.scenes.json");
            var image = RgbImage.FromFile(images[i]);
            captioner.ImageProcessor.CheckSize(image, captioner.Config.Aspect);
            var first = AttentionMaps.Read(captioner, image, options).First;
            stats.Images++;
            // Token t is chosen at position promptLength − 1 + t, which sees promptLength + t keys (AttentionMaps.ReadTokens).
            int visual = first.Layout.Count, promptLength = prompt.Length - 1 + visual;
            for (int t = 0; t < first.Tokens.Count; t++)
            {
                if (t == stats.TokensAt.Count)
                {
                    stats.TokensAt.Add(0);
                    stats.EvenSum.Add(0);
                    foreach (var l in stats.ShareSum) l.Add(0);
                }
                stats.TokensAt[t]++;
                stats.EvenSum[t] += (double)visual / (promptLength + t);
                for (int l = 0; l < layers; l++) stats.ShareSum[l][t] += first.Tokens[t].VisualShare[l];
            }
            stats.Tokens += first.Tokens.Count;

            var verdicts = analyzer.Mentions(first.Caption, scene);
            var errors = analyzer.Analyze(first.Caption, scene);
            int wordCount = Math.Max(1, first.Caption.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
            words += wordCount;
            var seenOfKind = new Dictionary<string, int>();
            for (int k = 0; k < verdicts.Count; k++)
            {
                if (k == stats.MentionsAt.Count) { stats.MentionsAt.Add(0); stats.WrongAt.Add(0); }
                var v = verdicts[k];
                stats.MentionsAt[k]++;
                int fifth = Math.Clamp(5 * v.Word / wordCount, 0, 4);
                stats.MentionsByFifth[fifth]++;
                var (judged, wrong) = stats.ByKind.GetValueOrDefault(v.Kind);
                stats.ByKind[v.Kind] = (judged + 1, wrong + (v.Right ? 0 : 1));
                int nth = seenOfKind.GetValueOrDefault(v.Kind);
                seenOfKind[v.Kind] = nth + 1;
                if (!stats.ByKindOrdinal.TryGetValue(v.Kind, out var ordinals)) stats.ByKindOrdinal[v.Kind] = ordinals = [];
                if (nth == ordinals.Count) ordinals.Add((0, 0));
                ordinals[nth] = (ordinals[nth].Judged + 1, ordinals[nth].Wrong + (v.Right ? 0 : 1));
                if (v.Right) continue;
                stats.WrongAt[k]++;
                stats.WrongByFifth[fifth]++;
            }
            stats.Omissions += errors.Total - verdicts.Count(v => !v.Right);
            if (errors.Total == 0) stats.CaptionsWithoutError++;
            progress?.Report(new ProgressUpdate(i + 1, images.Count));
        }
        stats.MeanWords = (double)words / stats.Images;
        return stats;
    }

    private static readonly SKColor[] Palette = [new(0x1f, 0x77, 0xb4), new(0xff, 0x7f, 0x0e), new(0x2c, 0xa0, 0x2c), new(0xd6, 0x27, 0x28), new(0x94, 0x67, 0xbd)];

    /// <summary>
    /// Two PNGs in <paramref name="dir"/>: <c>attention-by-position.png</c> (the image's share per token
    /// position: mean of layers and each layer) and <c>errors-by-position.png</c> (the wrong share of the
    /// k-th mention, with how many were judged). Positions reached by fewer than <paramref name="minCount"/>
    /// captions are left out.
    /// </summary>
    public static IReadOnlyList<string> WritePlots(DriftStatistics stats, string dir, string title, int minCount = 10)
    {
        Directory.CreateDirectory(dir);
        int tokens = Enumerable.Range(0, stats.TokensAt.Count).TakeWhile(t => stats.TokensAt[t] >= minCount).Count();
        var share = new List<(string, double[])> { ("mean of layers", Enumerable.Range(0, tokens).Select(t => stats.Share(t)).ToArray()) };
        for (int l = 0; l < stats.Layers; l++)
        {
            int layer = l;
            share.Add(($"layer {l}", Enumerable.Range(0, tokens).Select(t => stats.Share(layer, t)).ToArray()));
        }
        share.Add(("even spread over all positions before", Enumerable.Range(0, tokens).Select(stats.Even).ToArray()));
        string a = Path.Combine(dir, "attention-by-position.png");
        Chart(a, $"{title}: attention on the image by generated token ({stats.Images} captions)", "generated token position",
            share, Enumerable.Range(0, tokens).Select(t => stats.TokensAt[t]).ToArray(), "captions");

        int mentions = Enumerable.Range(0, stats.MentionsAt.Count).TakeWhile(k => stats.MentionsAt[k] >= minCount).Count();
        var rate = Enumerable.Range(0, mentions).Select(k => (double)stats.WrongAt[k] / stats.MentionsAt[k]).ToArray();
        string e = Path.Combine(dir, "errors-by-position.png");
        Chart(e, $"{title}: wrong mentions by their place in the caption", "mention (1 = first entity/count/colour/size/relation stated)",
            [("share of mentions that are wrong (bars: binomial 95% interval)", rate)], Enumerable.Range(0, mentions).Select(k => stats.MentionsAt[k]).ToArray(), "judged",
            xFrom: 1, interval: "binomial");
        // The k-th mention of each kind: entity, count and relation (colour and size are said of shapes only, and rarely more than twice).
        string[] kinds = ["entity", "count", "relation"];
        int most = kinds.Select(kind => stats.ByKindOrdinal.TryGetValue(kind, out var l) ? l.TakeWhile(x => x.Judged >= minCount).Count() : 0).DefaultIfEmpty(0).Max();
        var perKind = kinds.Where(stats.ByKindOrdinal.ContainsKey)
            .Select(kind => ($"{kind} (judged: {string.Join(", ", stats.ByKindOrdinal[kind].Take(most).Select(x => x.Judged))})",
                stats.ByKindOrdinal[kind].Take(most).TakeWhile(x => x.Judged >= minCount).Select(x => (double)x.Wrong / x.Judged).ToArray()))
            .ToList();
        string byKind = Path.Combine(dir, "errors-by-kind-position.png");
        Chart(byKind, $"{title}: wrong share of the k-th mention of each kind", "k (the k-th entity / count / relation the caption states)",
            perKind, stats.ByKindOrdinal.GetValueOrDefault("entity")?.Take(most).Select(x => x.Judged).ToArray() ?? [], "entities", xFrom: 1, legendRows: true);
        return [a, e, byKind];
    }

    /// <summary>A line chart of shares (0–100%) over positions, with the count behind each point along the bottom (and, given <paramref name="interval"/>, the first series' binomial 95% bars).</summary>
    private static void Chart(string path, string title, string xLabel, IReadOnlyList<(string Name, double[] Values)> series, int[] counts, string countLabel,
        int xFrom = 0, string? interval = null, bool legendRows = false)
    {
        const int W = 900, L = 64, R = 24, T = 44;
        int B = legendRows ? 70 + 18 * series.Count : 86, H = 334 + B;
        int n = counts.Length;
        double peak = series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max();
        if (interval is not null) peak = Math.Max(peak, series[0].Values.Select((v, i) => v + 1.96 * Math.Sqrt(v * (1 - v) / counts[i])).DefaultIfEmpty(0).Max());
        double top = Math.Min(1.0, Math.Ceiling(peak * 10 + 0.5) / 10);
        using var bitmap = new SKBitmap(W, H, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var c = new SKCanvas(bitmap))
        {
            c.Clear(SKColors.White);
            using var font = new SKFont(Runtime.Fonts.Sans, 14);
            using var small = new SKFont(Runtime.Fonts.Sans, 11);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var grey = new SKPaint { Color = new SKColor(120, 120, 120), IsAntialias = true };
            using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1 };
            c.DrawText(title, L, 24, SKTextAlign.Left, font, ink);
            float plotW = W - L - R, plotH = H - T - B;
            float X(int i) => L + (n <= 1 ? plotW / 2 : plotW * i / (n - 1));
            float Y(double v) => T + plotH * (float)(1 - v / top);
            int ticks = (int)Math.Round(top * 10);
            for (int tick = 0; tick <= ticks; tick++)
            {
                double v = 0.1 * tick;
                c.DrawLine(L, Y(v), W - R, Y(v), grid);
                c.DrawText($"{10 * tick}%", L - 6, Y(v) + 4, SKTextAlign.Right, small, ink);
            }
            int every = Math.Max(1, (int)Math.Ceiling(n / 30.0));
            for (int i = 0; i < n; i += every)
            {
                c.DrawText((i + xFrom).ToString(CultureInfo.InvariantCulture), X(i), H - B + 16, SKTextAlign.Center, small, ink);
                c.DrawText(counts[i].ToString(CultureInfo.InvariantCulture), X(i), H - B + 32, SKTextAlign.Center, small, grey);
            }
            c.DrawText(countLabel, L - 16, H - B + 32, SKTextAlign.Right, small, grey);
            c.DrawText(xLabel, L + plotW / 2, H - B + 50, SKTextAlign.Center, small, ink);
            float lx = L;
            for (int s = 0; s < series.Count; s++)
            {
                using var pen = new SKPaint { Color = Palette[s % Palette.Length], StrokeWidth = s == 0 ? 3 : 1.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
                using var dot = new SKPaint { Color = Palette[s % Palette.Length], IsAntialias = true };
                var values = series[s].Values;
                for (int i = 0; i < values.Length; i++)
                {
                    if (i > 0) c.DrawLine(X(i - 1), Y(values[i - 1]), X(i), Y(values[i]), pen);
                    c.DrawCircle(X(i), Y(values[i]), s == 0 ? 3 : 2.5f, dot);
                    if (s == 0 && interval is not null)
                    {
                        // The binomial 95% band of a share: ±1.96·√(p(1 − p)/n).
                        double half = 1.96 * Math.Sqrt(values[i] * (1 - values[i]) / counts[i]);
                        c.DrawLine(X(i), Y(Math.Max(0, values[i] - half)), X(i), Y(Math.Min(top, values[i] + half)), pen);
                    }
                }
                float ly = legendRows ? H - 18 * (series.Count - s) : H - 20;
                c.DrawRect(SKRect.Create(lx, ly, 12, 12), dot);
                c.DrawText(series[s].Name, lx + 16, ly + 10, SKTextAlign.Left, small, ink);
                if (!legendRows) lx += 16 + small.MeasureText(series[s].Name) + 24;
            }
        }
        AttentionSheet.SavePng(bitmap, path);
    }
}
