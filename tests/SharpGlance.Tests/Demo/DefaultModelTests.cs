using System.Text.Json;
using SharpGlance.Cli.Commands;

namespace SharpGlance.Tests.Demo;

/// <summary>The README's main job: <c>glance caption --refine</c> with no model and no images captions the shipped samples with the embedded model.</summary>
public class DefaultModelTests
{
    [Fact]
    public void The_embedded_model_captions_the_shipped_samples_twice()
    {
        Assert.True(File.Exists(Path.Combine(DefaultModel.Folder, "config.json")), $"no embedded model in {DefaultModel.Folder}");
        var (code, output, _) = GlanceCli.Run("caption", "--refine", "--json");
        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var samples = Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "samples"), "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(samples.Count, lines.Length);
        var images = new List<string?>();
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            images.Add(r.GetProperty("image").GetString());   // the shipped samples by name, not the build folder's path
            Assert.False(string.IsNullOrWhiteSpace(r.GetProperty("initial").GetString()));
            Assert.False(string.IsNullOrWhiteSpace(r.GetProperty("caption").GetString()));
            Assert.InRange(r.GetProperty("seconds").GetDouble(), 1e-4, 600);
        }
        Assert.Equal(samples, images);
    }

    [Fact]
    public void Given_paths_are_shown_as_given_and_a_bad_image_does_not_stop_the_others()
    {
        string dir = TempDir.Create("caption");
        string bad = Path.Combine(dir, "broken.png");
        File.WriteAllText(bad, "not a png");
        string good = Path.GetRelativePath(Directory.GetCurrentDirectory(), Directory.GetFiles(DefaultModel.SamplesFolder, "*.png").Order(StringComparer.Ordinal).First());

        var (code, output, error) = GlanceCli.Run("caption", "--json", "--beams", "1", bad, good);

        Assert.Equal(2, code);
        Assert.Contains("broken.png", error);
        using var doc = JsonDocument.Parse(output.Trim());
        Assert.Equal(good, doc.RootElement.GetProperty("image").GetString());
        Assert.InRange(doc.RootElement.GetProperty("seconds").GetDouble(), 1e-4, 600);
    }

    [Fact]
    public void Cuda_is_refused_with_one_clear_line()
    {
        var e = Assert.Throws<GlanceException>(() => GlanceCli.Run("caption", "--device", "cuda"));
        Assert.Equal("--device cuda: this build has no CUDA support (it is built on TorchSharp-cpu); use --device cpu", e.Message);
    }

    [Fact]
    public void A_llava_folder_is_refused_without_suggesting_options_caption_lacks()
    {
        string dir = TempDir.Create("llava");
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\": \"llava\"}");

        var e = Assert.Throws<GlanceException>(() => GlanceCli.Run("caption", "--model", dir, "x.png"));

        Assert.StartsWith(Path.Combine(dir, "config.json") + ": model_type 'llava' is not a captioner SharpGlance reads", e.Message);
        Assert.Contains("LlavaForConditionalGeneration", e.Message);
        Assert.Contains("`glance train --stage pretrain --vision CLIP_DIR --lm OPT_DIR ...`", e.Message);
    }
}
