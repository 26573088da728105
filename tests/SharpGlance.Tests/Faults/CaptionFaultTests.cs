using SharpGlance.Preprocessing;
using SharpGlance.Tests.Preprocessing;

namespace SharpGlance.Tests.Faults;

/// <summary>
/// `glance caption` against bad images among good ones (issue #16): each bad image gets one
/// <c>glance: error: FILE: …</c> line and the good ones of the same run are still captioned.
/// </summary>
public class CaptionFaultTests
{
    /// <summary>A grey PNG of <paramref name="width"/>×<paramref name="height"/> in <paramref name="dir"/>.</summary>
    internal static string Png(string dir, string name, int width, int height)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, TestImages.Png(width, height, Enumerable.Repeat((byte)128, width * height * 3).ToArray()));
        return path;
    }

    /// <summary>`glance caption` with the tiny captioner, greedy and short (the captions themselves do not matter).</summary>
    internal static (int Code, string Output, string Error) Caption(params string[] images) =>
        GlanceCli.Run(["caption", "--model", TinyModels.CaptionerFolder, "--beams", "1", "--max-new-tokens", "2", .. images]);

    internal static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Theory]
    [InlineData(1, 100_000)]   // was an OverflowException for the whole run
    [InlineData(30_000, 1)]    // was 1.2 GB in the resize
    [InlineData(1, 10_000)]    // with a pad model: was an error naming no file, for the whole batch
    public void An_elongated_image_gets_one_error_line_and_the_others_are_captioned(int width, int height)
    {
        var dir = TempDir.Create("elongated");
        string good1 = Png(dir, "good1.png", 20, 20), strip = Png(dir, "strip.png", width, height), good2 = Png(dir, "good2.png", 24, 16);

        var (code, output, error) = Caption(good1, strip, good2);

        Assert.Equal(2, code);
        Assert.Equal([good1, good2], Lines(output).Select(l => l[..l.IndexOf(": ", StringComparison.Ordinal)]));
        var line = Assert.Single(Lines(error));
        Assert.StartsWith($"glance: error: {strip}: image is {width}×{height}, more elongated than the limit of 50:1", line);
    }

    [Fact]
    public void The_size_limits_name_the_file_and_allow_what_fits()
    {
        var processor = new ClipImageProcessor(ImageProcessorConfig.ClipVitL336);
        processor.CheckSize(RgbImage.Filled(50, 1, 0, 0, 0), AspectMode.Square);   // 50:1 is allowed
        var strip = RgbImage.Filled(51, 1, 0, 0, 0);
        Assert.Contains("51×1, more elongated than the limit of 50:1", Assert.Throws<GlanceException>(() => processor.CheckSize(strip)).Message);

        // 10000×200 is 50:1 and 2 megapixels, but padded it would be a 100-megapixel square.
        var wide = new RgbImage(10_000, 200, new byte[10_000 * 200 * 3]) { Source = "wide.png" };
        processor.CheckSize(wide, AspectMode.Square);
        Assert.StartsWith("wide.png: a 10000×200 image padded to a 10000×10000 square exceeds the limit",
            Assert.Throws<GlanceException>(() => processor.CheckSize(wide, AspectMode.Pad)).Message);
    }
}
