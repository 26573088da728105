using System.Text.Json;
using System.Text.Json.Nodes;
using SharpGlance.Cli.Commands;
using SharpGlance.Tokenization;

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
    public void Synth_defaults_make_the_world_the_default_model_knows()
    {
        string dir = TempDir.Create("synth");
        var (code, _, _) = GlanceCli.Run("synth", "--out", dir, "--test", "24", "--threads", "1");
        Assert.Equal(0, code);

        var model = JsonNode.Parse(File.ReadAllText(Path.Combine(DefaultModel.Folder, "config.json")))!;
        var world = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "world.json")))!;
        Assert.Equal(model["vision_config"]!["image_size"]!.GetValue<int>(), world["image_size"]!.GetValue<int>());
        Assert.Equal("mini", world["vocab"]!.GetValue<string>());

        // Every word of the new captions is one the model was trained to write (its closed vocabulary).
        var known = model["vocabulary_subset"]!.AsArray().Select(n => n!.GetValue<int>()).ToHashSet();
        var tokenizer = OptTokenizer.FromFolder(DefaultModel.Folder);
        var captions = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "test.coco.json")))!["annotations"]!.AsArray()
            .Select(a => a!["caption"]!.GetValue<string>()).ToList();
        Assert.NotEmpty(captions);
        foreach (var caption in captions)
        {
            var unknown = tokenizer.Encode(" " + caption, addBos: false).Where(id => !known.Contains(id)).ToList();
            Assert.True(unknown.Count == 0, $"'{caption}': tokens {string.Join(", ", tokenizer.ToTokens(unknown))} are outside the default model's vocabulary");
        }
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
