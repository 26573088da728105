using SharpGlance.Preprocessing;

namespace SharpGlance.Tests.Preprocessing;

/// <summary>
/// The Pillow port against a second, deliberately naive transcription of Resample.c's bicubic path
/// (every row through the horizontal pass, one channel at a time, no shared code), plus invariants any
/// resampler must keep. The real-Pillow check is the llava_image_processor fixture.
/// </summary>
public class PilResampleTests
{
    private static double Cubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    /// <summary>Weights of one output position as Resample.c's precompute_coeffs + normalize_coeffs_8bpc make them.</summary>
    private static (int First, int[] Weights) Taps(int outIndex, int inSize, int outSize)
    {
        double scale = (double)inSize / outSize, filterScale = Math.Max(scale, 1), support = 2 * filterScale;
        double center = (outIndex + 0.5) * scale;
        int first = Math.Max((int)(center - support + 0.5), 0);
        int end = Math.Min((int)(center + support + 0.5), inSize);
        var w = Enumerable.Range(first, end - first).Select(i => Cubic((i - center + 0.5) / filterScale)).ToArray();
        double sum = w.Sum();
        return (first, w.Select(v => v / sum).Select(v => (int)(v < 0 ? v * (1 << 22) - 0.5 : v * (1 << 22) + 0.5)).ToArray());
    }

    private static byte Round8(long acc) => (byte)Math.Clamp((acc + (1 << 21)) >> 22, 0, 255);

    private static byte[] NaiveResize(RgbImage image, int width, int height)
    {
        int w0 = image.Width, h0 = image.Height;
        var rows = new byte[w0 == width ? image.Pixels.Length : width * h0 * 3];
        if (w0 == width) image.Pixels.CopyTo(rows, 0);
        else
        {
            var taps = Enumerable.Range(0, width).Select(x => Taps(x, w0, width)).ToArray();
            for (int y = 0; y < h0; y++)
                for (int x = 0; x < width; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        long acc = 0;
                        for (int i = 0; i < taps[x].Weights.Length; i++) acc += (long)taps[x].Weights[i] * image.Pixels[(y * w0 + taps[x].First + i) * 3 + c];
                        rows[(y * width + x) * 3 + c] = Round8(acc);
                    }
        }
        if (h0 == height) return rows;
        var output = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            var (first, weights) = Taps(y, h0, height);
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                {
                    long acc = 0;
                    for (int i = 0; i < weights.Length; i++) acc += (long)weights[i] * rows[((first + i) * width + x) * 3 + c];
                    output[(y * width + x) * 3 + c] = Round8(acc);
                }
        }
        return output;
    }

    [Theory]
    [InlineData(500, 375, 448, 336)] // the fixture's downscale
    [InlineData(37, 23, 100, 61)]    // upscale both ways
    [InlineData(64, 64, 17, 9)]      // strong downscale, wide kernels
    [InlineData(40, 30, 40, 11)]     // vertical only
    [InlineData(40, 30, 13, 30)]     // horizontal only
    [InlineData(1, 5, 3, 2)]         // degenerate widths
    [InlineData(1200, 900, 448, 336)] // large enough for the multi-threaded path
    public void Bicubic_matches_a_naive_transcription(int w0, int h0, int w1, int h1)
    {
        var image = new RgbImage(w0, h0, TestImages.RandomBytes(w0 * h0 * 3, w0 * 31 + h0));
        var expected = NaiveResize(image, w1, h1);
        var actual = PilResample.Resize(image, w1, h1);
        Assert.Equal((w1, h1), (actual.Width, actual.Height));
        int diffs = expected.Zip(actual.Pixels).Count(p => p.First != p.Second);
        Assert.True(diffs == 0, $"{diffs} of {expected.Length} values differ");
    }

    [Theory]
    [InlineData(PilFilter.Bicubic)]
    [InlineData(PilFilter.Bilinear)]
    [InlineData(PilFilter.Lanczos)]
    [InlineData(PilFilter.Box)]
    [InlineData(PilFilter.Hamming)]
    public void Constant_image_stays_constant(PilFilter filter)
    {
        var image = RgbImage.Filled(53, 41, 122, 116, 104);
        foreach (var (w, h) in new[] { (20, 15), (100, 77), (53, 7) })
            Assert.True(PilResample.Resize(image, w, h, filter).Pixels.Chunk(3).All(p => p is [122, 116, 104]), $"{filter} to {w}×{h} changed a constant image");
    }

    [Fact]
    public void Overshoot_is_clamped_not_wrapped()
    {
        // A hard black/white edge upscaled with bicubic rings past 0 and 255; PIL clamps.
        var pixels = new byte[8 * 1 * 3];
        for (int x = 4; x < 8; x++) pixels[x * 3] = pixels[x * 3 + 1] = pixels[x * 3 + 2] = 255;
        var up = PilResample.Resize(new RgbImage(8, 1, pixels), 32, 1);
        var row = up.Pixels.Where((_, i) => i % 3 == 0).ToArray();
        Assert.All(row[..14], v => Assert.True(v < 30, $"dark side {v}"));
        Assert.All(row[18..], v => Assert.True(v > 225, $"bright side {v}"));
        Assert.Contains((byte)255, row);
        Assert.Contains((byte)0, row);
    }

    [Fact]
    public void Same_size_is_a_copy()
    {
        var image = new RgbImage(9, 4, TestImages.RandomBytes(9 * 4 * 3, 11));
        var same = PilResample.Resize(image, 9, 4);
        Assert.Equal(image.Pixels, same.Pixels);
        Assert.NotSame(image.Pixels, same.Pixels);
    }

    [Fact]
    public void Nearest_is_not_supported()
    {
        var image = RgbImage.Filled(4, 4, 0, 0, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => PilResample.Resize(image, 2, 2, PilFilter.Nearest));
    }
}
