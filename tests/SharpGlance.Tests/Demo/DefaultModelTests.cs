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
        Assert.Equal(Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "samples"), "*.png").Length, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            Assert.StartsWith(DefaultModel.SamplesFolder, r.GetProperty("image").GetString());
            Assert.False(string.IsNullOrWhiteSpace(r.GetProperty("initial").GetString()));
            Assert.False(string.IsNullOrWhiteSpace(r.GetProperty("caption").GetString()));
        }
    }
}
