using System.Text.Json.Nodes;
using SharpGlance.Cli.Commands;
using SkiaSharp;

namespace SharpGlance.Tests.Cli;

public class AttendCommandTests
{
    private static string Sample => Directory.GetFiles(DefaultModel.SamplesFolder, "*.png").Order(StringComparer.Ordinal).First();

    [Fact]
    public void Attend_maps_the_caption_glance_caption_writes_with_its_default_decoding()
    {
        // Three beams, length penalty 0 (the paper's): with HF's default penalty of 1 the beams' winner was
        // another, longer caption on half of the samples ("a photo of a pair of whales" for "a photo of a whale").
        var samples = Directory.GetFiles(DefaultModel.SamplesFolder, "*.png").Order(StringComparer.Ordinal).ToArray();
        var (code, output, _) = GlanceCli.Run(["caption", "--json", "--precision", "fp32", .. samples]);   // attend reads attention in fp32
        Assert.Equal(0, code);
        var captions = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!["caption"]!.GetValue<string>()).ToList();
        for (int i = 0; i < samples.Length; i++)
        {
            string dir = TempDir.Create("attend-default");
            Assert.Equal(0, GlanceCli.Run("attend", samples[i], "--out", dir).Code);
            Assert.Equal(captions[i], JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "attention.json")))!["first"]!["caption"]!.GetValue<string>());
        }
    }

    [Fact]
    public void Attend_draws_a_tile_per_word_and_the_contact_sheets_of_both_glances()
    {
        string dir = TempDir.Create("attend");
        var (code, output, _) = GlanceCli.Run("attend", Sample, "--out", dir, "--refine", "--beams", "1");
        Assert.Equal(0, code);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "attention.json")))!;
        foreach (var glance in new[] { "first", "second" })
        {
            var caption = json[glance]!["caption"]!.GetValue<string>();
            Assert.Contains(caption, output);
            var words = json[glance]!["words"]!.AsArray();
            Assert.Equal(caption.Split(' ').Length, words.Count);
            Assert.Equal(words.Count, Directory.GetFiles(Path.Combine(dir, glance), "*.png").Length);
            using var sheet = SKBitmap.Decode(Path.Combine(dir, glance + ".png"));
            Assert.True(sheet.Height > words.Count * 96, $"{glance}.png has a row per word");
        }
        Assert.True(File.Exists(Path.Combine(dir, "deeplens.png")));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));

        // Again without --refine: the second glance's maps of the last run do not stay behind.
        Assert.Equal(0, GlanceCli.Run("attend", Sample, "--out", dir, "--beams", "1").Code);
        Assert.False(File.Exists(Path.Combine(dir, "second.png")));
        Assert.Empty(Directory.GetFiles(Path.Combine(dir, "second")));
    }

    [Fact]
    public void A_bad_image_is_one_error_line_naming_it()
    {
        string dir = TempDir.Create("attend-bad");
        string bad = Path.Combine(dir, "broken.png");
        File.WriteAllText(bad, "not a png");
        var (code, _, error) = GlanceCli.RunReported("attend", bad, "--out", Path.Combine(dir, "maps"));
        Assert.Equal(2, code);
        Assert.Contains("broken.png", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(Directory.Exists(Path.Combine(dir, "maps")));
    }

    [Fact]
    public void Caption_with_attention_writes_each_images_maps_in_its_own_folder()
    {
        string dir = TempDir.Create("caption-attention");
        var (code, output, _) = GlanceCli.Run("caption", "--beams", "1", "--attention", dir, Sample);
        Assert.Equal(0, code);
        string name = Path.GetFileNameWithoutExtension(Sample);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, name, "attention.json")))!;
        Assert.Contains(json["first"]!["caption"]!.GetValue<string>(), output);   // the maps are of the caption printed
        Assert.True(File.Exists(Path.Combine(dir, name, "first.png")));
    }
    [Fact]
    public void The_eval_report_shows_both_glances_maps_for_the_captions_the_second_glance_changed()
    {
        string dir = TempDir.Create("eval-attention");
        string world = Path.Combine(dir, "world"), maps = Path.Combine(dir, "maps"), results = Path.Combine(dir, "results.jsonl"), report = Path.Combine(dir, "report.html");
        Assert.Equal(0, GlanceCli.Run("synth", "--out", world, "--test", "8", "--seed", "7", "--threads", "1").Code);
        var (code, output, _) = GlanceCli.Run("caption", "--json", "--beams", "1", "--refine", "--attention", maps, Path.Combine(world, "images", "test"));
        Assert.Equal(0, code);
        File.WriteAllText(results, output);
        var changed = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!)
            .Where(r => r["initial"]!.GetValue<string>() != r["caption"]!.GetValue<string>())
            .Select(r => $"<b>{System.Net.WebUtility.HtmlEncode(r["initial"]!.GetValue<string>())}</b> → <b>{System.Net.WebUtility.HtmlEncode(r["caption"]!.GetValue<string>())}</b>")
            .ToList();
        Assert.NotEmpty(changed);   // seed 7's first scenes: the default model's second glance rewrites some

        Assert.Equal(0, GlanceCli.Run("eval", "--refs", Path.Combine(world, "test.coco.json"), "--results", results, "--report", report, "--attention", maps).Code);

        var html = File.ReadAllText(report);
        Assert.Contains("Where the two glances looked", html);
        Assert.Contains($"the second glance changed the caption of {changed.Count}", html);
        Assert.Equal(changed.Count, html.Split("class=\"glances\"").Length - 1);
        Assert.All(changed, c => Assert.Contains(c, html));
        Assert.Equal(2 * changed.Count, html.Split("alt=\"first.png\"").Length - 1 + html.Split("alt=\"second.png\"").Length - 1);

        var (bad, _, error) = GlanceCli.RunReported("eval", "--refs", Path.Combine(world, "test.coco.json"), "--results", results, "--attention", maps);
        Assert.Equal(2, bad);
        Assert.Contains("--report", error);
    }
}
