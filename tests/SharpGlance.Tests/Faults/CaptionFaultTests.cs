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

    [Fact]
    public void A_folder_or_glob_without_images_is_reported_and_the_good_files_are_captioned()
    {
        var dir = TempDir.Create("no-images");
        var empty = Directory.CreateDirectory(Path.Combine(dir, "empty")).FullName;
        var good = Png(dir, "good.png", 16, 16);
        var (code, output, error) = Caption(empty, Path.Combine(dir, "*.gif"), good);
        Assert.Equal(2, code);
        Assert.StartsWith(good + ": ", Assert.Single(Lines(output)));
        Assert.Equal([$"glance: error: {empty}: the folder holds no images", $"glance: error: {Path.Combine(dir, "*.gif")}: no image matches this pattern"],
            Lines(error).Select(l => l.Split(" (")[0]));
    }

    [Fact]
    public void A_jpeg_cut_before_its_end_marker_is_called_truncated()
    {
        var dir = TempDir.Create("jpeg");
        using (var bitmap = new SkiaSharp.SKBitmap(32, 32))
        using (var image = SkiaSharp.SKImage.FromBitmap(bitmap))
        using (var jpeg = image.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90))
            File.WriteAllBytes(Path.Combine(dir, "cut.jpg"), jpeg.ToArray()[..^2]);   // no EOI: libjpeg fills in and says success
        var good = Png(dir, "good.png", 16, 16);
        var (code, output, error) = Caption(Path.Combine(dir, "cut.jpg"), good);
        Assert.Equal(2, code);
        Assert.StartsWith(good + ": ", Assert.Single(Lines(output)));
        Assert.Equal($"glance: error: {Path.Combine(dir, "cut.jpg")}: truncated image: the JPEG data ends before its end-of-image marker", Assert.Single(Lines(error)));
    }

    [Fact]
    public void Beams_and_new_tokens_are_limited_and_the_limits_are_in_the_help()
    {
        var e = Assert.Throws<GlanceException>(() => GlanceCli.Run("caption", "--model", TinyModels.CaptionerFolder, "--beams", "100000", "x.png"));
        Assert.Equal("generation: beams must be 1 to 32, got 100000", e.Message);
        Assert.Contains("1 to 1024", Assert.Throws<GlanceException>(() => GlanceCli.Run("caption", "--max-new-tokens", "5000", "x.png")).Message);
        var help = GlanceCli.Run("caption", "--help").Output;
        Assert.Contains("at most 32", help);
        Assert.Contains("50:1", help);
    }

    [Fact]
    public void Nan_weights_are_refused_at_load_naming_the_tensor()
    {
        // Was: captions of "<s><s><s>…" with exit 0.
        var dir = TempDir.Create("nan-model");
        foreach (var f in Directory.GetFiles(TinyModels.CaptionerFolder)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var weights = Path.Combine(dir, "model.safetensors");
        Dictionary<string, TorchSharp.torch.Tensor> tensors;
        using (var ck = SharpGlance.IO.Checkpoint.Open(weights))
            tensors = ck.Keys.ToDictionary(k => k, k => ck.Load(k));
        tensors["model.mm_projector.0.bias"][0] = float.NaN;
        SharpGlance.IO.SafeTensorsFile.Save(weights, tensors);
        var e = Assert.Throws<GlanceException>(() => GlanceCli.Run("caption", "--model", dir, Png(dir, "good.png", 8, 8)));
        Assert.Equal($"{weights}: tensor 'model.mm_projector.0.bias' holds NaN or infinite values", e.Message);
    }

    [Fact]
    public void A_vision_tower_too_large_to_build_is_refused_from_its_config()
    {
        // Was a libtorch allocation failure with ~20 native frames on one line.
        var config = SharpGlance.Vision.ClipVisionConfig.Tiny with { ImageSize = 100_000 };
        Assert.Equal("config.json: image_size 100000 / patch_size 14 is a 7142-patch side, above the limit of 64 (4,096 patches)",
            Assert.Throws<GlanceException>(() => config.Validate("config.json")).Message);
    }

    [Fact]
    public async Task A_closed_pipe_ends_the_run()
    {
        // `glance caption … | head -1` used to caption every image for nobody.
        var dir = TempDir.Create("pipe");
        var first = Png(dir, "a000.png", 16, 16);
        for (int i = 1; i < 400; i++) File.Copy(first, Path.Combine(dir, $"a{i:000}.png"));
        using var p = Training.CrossProcessTrainingTests.Start(["caption", "--model", TinyModels.CaptionerFolder, "--beams", "1", "--max-new-tokens", "2", "--batch", "1", dir]);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.StartsWith(first, p.StandardOutput.ReadLine());
        p.StandardOutput.Close();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(141, p.ExitCode);
        // No message, only the progress log lines a redirected run prints.
        Assert.All((await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.Matches(@"^\[\d\d:\d\d:\d\d\] caption: ", l));
    }
}
