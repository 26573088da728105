using System.Text.Json;

namespace SharpGlance.Tests.Demo;

/// <summary>
/// <c>glance demo --quick</c> end to end (the synthetic-world issue's smoke check): every training step's
/// loss goes down, the table and report are written, and the SeR model it trains captions an image
/// through <c>glance caption --refine</c>. Loose on purpose: the quick run is too short for the numbers
/// to mean anything; the full run's results are in docs/demo/.
/// </summary>
public class DemoSmokeTests
{
    [Fact]
    public void Quick_demo_trains_every_stage_and_writes_the_table()
    {
        var dir = TempDir.Create("demo");
        var (code, output, _) = GlanceCli.Run("demo", "--quick", "--out", dir, "--tokenizer", Fixtures.OptTokenizer);
        Assert.Equal(0, code);
        Assert.Contains("| Single pass |", output);

        foreach (var f in new[] { "results.json", "results.md", "results.html" })
            Assert.True(new FileInfo(Path.Combine(dir, f)).Length > 200, f);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
        var root = doc.RootElement;
        Assert.True(root.GetProperty("quick").GetBoolean());

        // Every training step ran and its loss went down.
        var losses = root.GetProperty("losses");
        foreach (var step in new[] { "lm", "clip", "stage0", "stage1", "stage2-more", "stage2-both", "stage2-caption", "stage2-multi", "stage2-single" })
        {
            var l = losses.GetProperty(step);
            Assert.True(l.GetProperty("last").GetDouble() < l.GetProperty("first").GetDouble(), $"{step}: loss did not decrease ({l})");
        }

        // The table: single pass, the control with stage 2's extra steps, the ablations, 3 rounds, the SeR
        // model's own first glance; all 100 test images.
        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(9, rows.Count);
        Assert.Equal("Single pass", rows[0].GetProperty("name").GetString());
        Assert.Equal("Single pass + the same extra steps", rows[1].GetProperty("name").GetString());
        // Stage 1 logged its validation CIDEr (the plateau check), and the second glance's effect is counted.
        Assert.Equal(2, root.GetProperty("validation_cider").GetProperty("stage1").GetArrayLength());   // 100 steps, every 50
        var change = root.GetProperty("second_glance");
        Assert.Equal(100, change.GetProperty("Images").GetInt32());
        Assert.InRange(change.GetProperty("KeptRight").GetInt32(), 0, change.GetProperty("RightBefore").GetInt32());
        foreach (var row in rows)
        {
            Assert.Equal(100, row.GetProperty("images").GetInt32());
            foreach (var m in new[] { "Bleu_4", "METEOR", "ROUGE_L", "CIDEr" })
                Assert.InRange(row.GetProperty("metrics").GetProperty(m).GetDouble(), 0, 10);
        }
        // Captions were written: a model that wrote nothing scores ROUGE-L 0.
        Assert.True(rows[0].GetProperty("metrics").GetProperty("ROUGE_L").GetDouble() > 0.1);

        // The exported SeR model captions a test image, first glance and refined, both non-empty; a corrupt
        // image beside it gets one error line naming it, and the exit code says something failed.
        var image = Directory.EnumerateFiles(Path.Combine(dir, "world", "images", "test"), "*.png").First();
        var corrupt = Path.Combine(dir, "corrupt.png");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(image).Take(100).ToArray());
        var (c2, json, error) = GlanceCli.Run("caption", "--model", Path.Combine(dir, "default-model"), "--refine", "--json", image, corrupt);
        Assert.Equal(2, c2);
        var errorLine = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("glance: error: ", errorLine);
        Assert.Contains("corrupt.png", errorLine);
        using var captioned = JsonDocument.Parse(Assert.Single(json.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(string.IsNullOrWhiteSpace(captioned.RootElement.GetProperty("caption").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(captioned.RootElement.GetProperty("initial").GetString()));
        Directory.Delete(dir, recursive: true);
    }
}
