using SharpGlance.Preprocessing;
using SkiaSharp;

namespace SharpGlance.Tests.Preprocessing;

/// <summary>Decoding to 8-bit RGB as PIL's <c>Image.open(p).convert("RGB")</c>, and refusing bad files clearly.</summary>
public class RgbImageTests
{
    private static RgbImage Random(int width, int height, int seed) => new(width, height, TestImages.RandomBytes(width * height * 3, seed));

    [Fact]
    public void Png_decodes_exactly()
    {
        var image = Random(37, 23, 1);
        var decoded = RgbImage.FromFile(TestImages.TempFile(TestImages.Png(37, 23, image.Pixels), ".png"));
        Assert.Equal((37, 23), (decoded.Width, decoded.Height));
        Assert.Equal(image.Pixels, decoded.Pixels);
    }

    [Fact]
    public void Png_gamma_is_ignored_as_pil_does()
    {
        // gAMA 1.0 (100000) would brighten every mid-tone if a colour transform were applied.
        var image = Random(8, 8, 9);
        Assert.Equal(image.Pixels, RgbImage.FromBytes(TestImages.Png(8, 8, image.Pixels, gamma: 100_000), "linear.png").Pixels);
    }

    [Fact]
    public void Alpha_is_dropped_not_composited_or_premultiplied()
    {
        // RGBA pixels with alpha 0, 128 and 255: convert("RGB") keeps the stored colour of each.
        byte[] rgba = [200, 100, 50, 0, 200, 100, 50, 128, 10, 20, 30, 255];
        var decoded = RgbImage.FromBytes(TestImages.Png(3, 1, rgba, colorType: 6));
        Assert.Equal([200, 100, 50, 200, 100, 50, 10, 20, 30], decoded.Pixels);
    }

    [Fact]
    public void Palette_png_with_transparency_gives_the_palette_colours()
    {
        // Indices 0, 1, 2 with alpha 0, 128, 255: PIL's P → RGB conversion reads the palette, ignoring tRNS.
        var png = TestImages.Png(3, 1, [0, 1, 2], colorType: 3, palette: [10, 20, 30, 40, 50, 60, 70, 80, 90], paletteAlpha: [0, 128, 255]);
        Assert.Equal([10, 20, 30, 40, 50, 60, 70, 80, 90], RgbImage.FromBytes(png, "palette.png").Pixels);
    }

    [Fact]
    public void Sixteen_bit_png_keeps_the_high_byte()
    {
        // PIL unpacks "RGB;16B" by taking each sample's most significant byte (0x80FF → 128, 0xFF00 → 255),
        // where rounding to 8 bits would give 129 and 254.
        byte[] samples = [0x80, 0xFF, 0x12, 0x34, 0xFF, 0x00, 0x7F, 0x80, 0x00, 0x80, 0x01, 0x7F];
        var png = TestImages.Png(2, 1, samples, bitDepth: 16);
        Assert.Equal([128, 0x12, 255, 127, 0, 1], RgbImage.FromBytes(png, "deep.png").Pixels);
    }

    [Fact]
    public void Bmp_decodes_exactly_with_rows_and_channels_in_order()
    {
        var image = Random(5, 3, 2); // 5 px × 3 bytes = 15, so every row is padded
        var decoded = RgbImage.FromBytes(TestImages.Bmp(5, 3, image.Pixels), "test.bmp");
        Assert.Equal(image.Pixels, decoded.Pixels);
    }

    [Fact]
    public void Gif_first_frame_decodes()
    {
        var decoded = RgbImage.FromBytes(TestImages.WhitePixelGif(), "pixel.gif");
        Assert.Equal((1, 1), (decoded.Width, decoded.Height));
        Assert.Equal([255, 255, 255], decoded.Pixels);
    }

    [Fact]
    public void Lossless_webp_decodes_exactly()
    {
        var image = Random(16, 9, 3);
        var decoded = RgbImage.FromBytes(TestImages.Encode(image, SKEncodedImageFormat.Webp, 100), "test.webp");
        Assert.Equal(image.Pixels, decoded.Pixels);
    }

    [Fact]
    public void Jpeg_decodes_close_to_the_original()
    {
        var image = RgbImage.Filled(24, 16, 200, 60, 30);
        var decoded = RgbImage.FromBytes(TestImages.Encode(image, SKEncodedImageFormat.Jpeg, 95), "test.jpg");
        Assert.Equal((24, 16), (decoded.Width, decoded.Height));
        Assert.All(decoded.Pixels.Select((v, i) => Math.Abs(v - image.Pixels[i])), d => Assert.True(d <= 3, $"JPEG error {d}"));
    }

    [Fact]
    public void Exif_orientation_is_not_applied()
    {
        // PIL's Image.open + convert ignore the EXIF orientation; LLaVA never transposes.
        var jpeg = TestImages.WithExifOrientation(TestImages.Encode(Random(40, 20, 4), SKEncodedImageFormat.Jpeg, 90), 6);
        using (var codec = SKCodec.Create(new MemoryStream(jpeg)))
            Assert.Equal(SKEncodedOrigin.RightTop, codec.EncodedOrigin); // the tag is really there
        var decoded = RgbImage.FromBytes(jpeg, "rotated.jpg");
        Assert.Equal((40, 20), (decoded.Width, decoded.Height));
    }

    [Fact]
    public void From_bitmap_reads_unpremultiplied_colours()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(2, 1, SKColorType.Bgra8888, SKAlphaType.Unpremul));
        bitmap.SetPixel(0, 0, new SKColor(10, 20, 30, 255));
        bitmap.SetPixel(1, 0, new SKColor(200, 100, 50, 128));
        Assert.Equal([10, 20, 30, 200, 100, 50], RgbImage.FromBitmap(bitmap).Pixels);
    }

    [Fact]
    public void Crop_and_bitmap_round_trip()
    {
        var image = Random(7, 5, 5);
        var crop = image.Crop(2, 1, 3, 2);
        Assert.Equal(image.GetPixel(2, 1), crop.GetPixel(0, 0));
        Assert.Equal(image.GetPixel(4, 2), crop.GetPixel(2, 1));
        using var bitmap = image.ToBitmap();
        Assert.Equal(image.Pixels, RgbImage.FromBitmap(bitmap).Pixels);
        Assert.Throws<ArgumentOutOfRangeException>(() => image.Crop(5, 0, 3, 1));
    }

    // ───────────────────────── bad inputs ─────────────────────────

    private static string ErrorFor(byte[] bytes, string extension)
    {
        var path = TestImages.TempFile(bytes, extension);
        var ex = Assert.Throws<GlanceException>(() => RgbImage.FromFile(path));
        Assert.StartsWith(path + ": ", ex.Message);
        return ex.Message;
    }

    [Fact]
    public void Missing_file_and_folder_are_named()
    {
        var missing = Path.Combine(Path.GetTempPath(), "glance-missing-" + Guid.NewGuid() + ".png");
        Assert.Equal($"{missing}: file not found", Assert.Throws<GlanceException>(() => RgbImage.FromFile(missing)).Message);
        var folder = Directory.CreateTempSubdirectory("glance-dir-").FullName;
        Assert.Contains("is a folder", Assert.Throws<GlanceException>(() => RgbImage.FromFile(folder)).Message);
    }

    [Fact]
    public void Empty_file_is_refused() => Assert.Contains("empty", ErrorFor([], ".png"));

    [Fact]
    public void Empty_bytes_are_refused() =>
        Assert.Contains("upload", Assert.Throws<GlanceException>(() => RgbImage.FromBytes([], "upload")).Message);

    [Fact]
    public void Text_file_is_not_an_image() =>
        Assert.Contains("not a recognised image", ErrorFor("hello, this is not an image\n"u8.ToArray(), ".jpg"));

    [Fact]
    public void Truncated_png_is_refused()
    {
        var png = TestImages.Png(64, 64, TestImages.RandomBytes(64 * 64 * 3, 6));
        Assert.Contains("truncated", ErrorFor(png[..(png.Length / 2)], ".png"));
    }

    [Fact]
    public void Truncated_jpeg_is_refused()
    {
        var jpeg = TestImages.Encode(Random(64, 64, 7), SKEncodedImageFormat.Jpeg, 90);
        Assert.Contains("truncated", ErrorFor(jpeg[..(jpeg.Length / 2)], ".jpg"));
    }

    [Fact]
    public void Corrupt_png_data_is_refused()
    {
        var png = TestImages.Png(32, 32, TestImages.RandomBytes(32 * 32 * 3, 8));
        for (int i = 60; i < png.Length - 20; i += 7) png[i] ^= 0x5A; // scramble the compressed data
        var message = ErrorFor(png, ".png");
        Assert.True(message.Contains("corrupt") || message.Contains("truncated"), message);
    }

    [Fact]
    public void Zero_size_png_is_refused() =>
        ErrorFor(TestImages.Png(1, 1, [1, 2, 3], declaredWidth: 0, declaredHeight: 0), ".png");

    [Fact]
    public void Decompression_bomb_is_refused_from_the_header()
    {
        // The header claims 100000×100000 (10 gigapixels); refusing must not allocate or decode anything.
        var bomb = TestImages.Png(1, 1, [1, 2, 3], declaredWidth: 100_000, declaredHeight: 100_000);
        var message = ErrorFor(bomb, ".png");
        Assert.Contains("100000×100000", message);
        Assert.Contains("limit", message);
    }

    [Fact]
    public void Pixel_limit_is_adjustable()
    {
        var png = TestImages.Png(100, 100, new byte[100 * 100 * 3]);
        Assert.Contains("limit of 5,000", Assert.Throws<GlanceException>(() => RgbImage.FromBytes(png, "x.png", maxPixels: 5_000)).Message);
        Assert.Equal(100, RgbImage.FromBytes(png, "x.png", maxPixels: 10_000).Width);
    }
}
