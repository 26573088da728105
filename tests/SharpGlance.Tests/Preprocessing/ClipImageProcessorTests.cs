using SharpGlance.Preprocessing;
using TorchSharp;

namespace SharpGlance.Tests.Preprocessing;

/// <summary>The LLaVA-1.5 pipeline's geometry and arithmetic (SPEC §3), step by step.</summary>
public class ClipImageProcessorTests
{
    [Theory]
    [InlineData(500, 375, 448, 336)]
    [InlineData(375, 500, 336, 448)]
    [InlineData(336, 336, 336, 336)]
    [InlineData(333, 500, 336, 504)]  // int(336·500/333) = int(504.50…) = 504: truncated, not rounded
    [InlineData(640, 427, 503, 336)]  // int(336·640/427) = int(503.60…) = 503
    [InlineData(100, 1, 33600, 336)]
    public void Shortest_edge_resize_truncates_the_long_edge(int w, int h, int ew, int eh) =>
        Assert.Equal((ew, eh), ClipImageProcessor.ResizedSize(w, h, 336));

    [Fact]
    public void A_written_preprocessor_config_reads_back_to_the_same_settings()
    {
        var c = ImageProcessorConfig.ClipVitL336 with
        {
            ShortestEdge = 96, CropSize = 96, Resample = PilFilter.Bilinear, Aspect = AspectMode.Square,
            Mean = [0.5, 0.25, 0.125], Std = [0.2, 0.3, 0.4], RescaleFactor = 1.0 / 256,
        };
        var path = Path.Combine(TempDir.Create(), "preprocessor_config.json");
        c.WriteHfPreprocessorConfig(path);
        var back = ImageProcessorConfig.FromHfPreprocessorConfig(path);
        Assert.Equal((96, 96, PilFilter.Bilinear, AspectMode.Square, 1.0 / 256), (back.ShortestEdge, back.CropSize, back.Resample, back.Aspect, back.RescaleFactor));
        Assert.Equal(c.Mean, back.Mean);
        Assert.Equal(c.Std, back.Std);
        Assert.Contains("\"image_processor_type\": \"CLIPImageProcessor\"", File.ReadAllText(path));
    }

    [Fact]
    public void Pad_colour_is_int_of_mean_times_255() =>
        Assert.Equal(((byte)122, (byte)116, (byte)104), ImageProcessorConfig.ClipVitL336.PadColor);

    [Fact]
    public void Expand_to_square_centres_with_floor_offsets()
    {
        // 5×2 → 5×5: the image rows land at y = (5 − 2) // 2 = 1 and 2.
        var wide = new RgbImage(5, 2, Enumerable.Range(0, 30).Select(i => (byte)(i + 1)).ToArray());
        var square = ClipImageProcessor.ExpandToSquare(wide, (122, 116, 104));
        Assert.Equal((5, 5), (square.Width, square.Height));
        Assert.Equal((122, 116, 104), square.GetPixel(0, 0));
        Assert.Equal(wide.GetPixel(0, 0), square.GetPixel(0, 1));
        Assert.Equal(wide.GetPixel(4, 1), square.GetPixel(4, 2));
        Assert.Equal((122, 116, 104), square.GetPixel(4, 3));

        // 2×5 → 5×5: the columns land at x = (5 − 2) // 2 = 1 and 2.
        var tall = new RgbImage(2, 5, Enumerable.Range(0, 30).Select(i => (byte)(i + 1)).ToArray());
        var square2 = ClipImageProcessor.ExpandToSquare(tall, (1, 2, 3));
        Assert.Equal((1, 2, 3), square2.GetPixel(0, 4));
        Assert.Equal(tall.GetPixel(0, 0), square2.GetPixel(1, 0));
        Assert.Equal(tall.GetPixel(1, 4), square2.GetPixel(2, 4));
        Assert.Equal((1, 2, 3), square2.GetPixel(3, 2));

        var already = RgbImage.Filled(3, 3, 9, 9, 9);
        Assert.Same(already, ClipImageProcessor.ExpandToSquare(already, (0, 0, 0)));
    }

    [Fact]
    public void Padding_a_thin_strip_is_refused_like_a_bomb()
    {
        var strip = RgbImage.Filled(100, 1, 0, 0, 0);
        Assert.Throws<GlanceException>(() => ClipImageProcessor.ExpandToSquare(strip, (0, 0, 0), maxPixels: 5_000));
    }

    [Fact]
    public void Centre_crop_takes_the_floor_offset()
    {
        // 448×336 needs no resize at shortest edge 336; the crop starts at x = (448 − 336) // 2 = 56.
        var image = RgbImage.Filled(448, 336, 0, 0, 0);
        for (int y = 0; y < 336; y++) { image.Pixels[(y * 448 + 56) * 3] = 255; image.Pixels[(y * 448 + 391) * 3] = 200; }
        var prepared = new ClipImageProcessor().PrepareImage(image, AspectMode.Square);
        Assert.Equal((336, 336), (prepared.Width, prepared.Height));
        Assert.Equal(255, prepared.GetPixel(0, 10).R);
        Assert.Equal(200, prepared.GetPixel(335, 10).R);
        Assert.Equal(0, prepared.GetPixel(1, 10).R);
    }

    [Fact]
    public void Normalisation_follows_hf_float32_arithmetic()
    {
        var processor = new ClipImageProcessor();
        var values = processor.Preprocess(RgbImage.Filled(400, 350, 0, 128, 255), AspectMode.Square);
        Assert.Equal(3 * 336 * 336, values.Length);
        var cfg = processor.Config;
        float Expected(int v, int c) => ((float)(v * (1.0 / 255)) - (float)cfg.Mean[c]) / (float)cfg.Std[c];
        Assert.Equal([Expected(0, 0)], values[..(336 * 336)].Distinct());
        Assert.Equal([Expected(128, 1)], values[(336 * 336)..(2 * 336 * 336)].Distinct());
        Assert.Equal([Expected(255, 2)], values[(2 * 336 * 336)..].Distinct());
        Assert.Equal(-1.7922626f, Expected(0, 0), 5); // (0 − 0.48145466) / 0.26862954
    }

    [Fact]
    public void Pad_and_square_modes_differ_only_for_non_square_images()
    {
        var processor = new ClipImageProcessor();
        var wide = new RgbImage(60, 30, TestImages.RandomBytes(60 * 30 * 3, 21));
        var pad = processor.PrepareImage(wide, AspectMode.Pad);
        var square = processor.PrepareImage(wide, AspectMode.Square);
        Assert.NotEqual(pad.Pixels, square.Pixels);
        Assert.Equal((122, 116, 104), pad.GetPixel(168, 0)); // the letterbox band at the top
        var sq = new RgbImage(30, 30, TestImages.RandomBytes(30 * 30 * 3, 22));
        Assert.Equal(processor.PrepareImage(sq, AspectMode.Pad).Pixels, processor.PrepareImage(sq, AspectMode.Square).Pixels);
    }

    [Fact]
    public void Batch_is_b3ss_and_equals_single_images()
    {
        var processor = new ClipImageProcessor(new ImageProcessorConfig { ShortestEdge = 48, CropSize = 40 });
        var images = new[] { new RgbImage(70, 50, TestImages.RandomBytes(70 * 50 * 3, 1)), new RgbImage(33, 90, TestImages.RandomBytes(33 * 90 * 3, 2)) };
        using var batch = processor.PreprocessBatch(images, AspectMode.Pad);
        Assert.Equal([2L, 3, 40, 40], batch.shape);
        Assert.Equal(torch.ScalarType.Float32, batch.dtype);
        for (int i = 0; i < 2; i++)
            Assert.Equal(processor.Preprocess(images[i], AspectMode.Pad), batch[i].data<float>().ToArray());
    }

    [Fact]
    public void Hf_preprocessor_config_is_read_in_both_forms()
    {
        var dir = Directory.CreateTempSubdirectory("glance-pp-").FullName;
        var path = Path.Combine(dir, "preprocessor_config.json");
        // openai/clip-vit-large-patch14-336 (old form)
        File.WriteAllText(path, """
            {"crop_size": 336, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
             "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 336}
            """);
        Assert.Equal(ImageProcessorConfig.ClipVitL336 with { Mean = ImageProcessorConfig.ClipVitL336.Mean, Std = ImageProcessorConfig.ClipVitL336.Std },
            ImageProcessorConfig.FromFolder(dir) with { Mean = ImageProcessorConfig.ClipVitL336.Mean, Std = ImageProcessorConfig.ClipVitL336.Std });
        Assert.Equal(ImageProcessorConfig.ClipVitL336.Mean, ImageProcessorConfig.FromFolder(dir).Mean);

        File.WriteAllText(path, """
            {"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}, "resample": 2,
             "do_rescale": true, "rescale_factor": 0.00392156862745098, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
            """);
        var config = ImageProcessorConfig.FromFolder(dir, AspectMode.Square);
        Assert.Equal((224, 224, PilFilter.Bilinear, AspectMode.Square), (config.ShortestEdge, config.CropSize, config.Resample, config.Aspect));
        Assert.Equal([0.5, 0.5, 0.5], config.Mean);

        Assert.Equal(336, ImageProcessorConfig.FromFolder(Directory.CreateTempSubdirectory("glance-pp-").FullName).CropSize);
    }

    [Theory]
    [InlineData("{\"do_center_crop\": false}", "do_center_crop")]
    [InlineData("{\"crop_size\": {\"height\": 224, \"width\": 300}}", "square crops")]
    [InlineData("{\"size\": 224, \"crop_size\": 336}", "larger than shortest_edge")]
    [InlineData("{\"resample\": 0}", "resample 0")]
    [InlineData("{\"image_std\": [0.5, 0, 0.5]}", "image_std")]
    [InlineData("{\"size\": \"big\"}", "not a valid preprocessor config")]
    [InlineData("{not json", "not a valid preprocessor config")]
    public void Bad_preprocessor_config_names_the_file_and_field(string json, string expected)
    {
        var dir = Directory.CreateTempSubdirectory("glance-pp-").FullName;
        var path = Path.Combine(dir, "preprocessor_config.json");
        File.WriteAllText(path, json);
        var ex = Assert.Throws<GlanceException>(() => ImageProcessorConfig.FromFolder(dir));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(expected, ex.Message);
    }
}
