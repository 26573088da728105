namespace SharpGlance.Preprocessing;

/// <summary>PIL's resampling filters, numbered as <c>PIL.Image.Resampling</c> (and HF's <c>"resample"</c> field).</summary>
public enum PilFilter
{
    Nearest = 0,
    Lanczos = 1,
    Bilinear = 2,
    Bicubic = 3,
    Box = 4,
    Hamming = 5,
}

/// <summary>
/// A port of Pillow's <c>Image.resize</c> for 8-bit images (src/libImaging/Resample.c). It is our own code,
/// not Skia's scaler, because LLaVA's pixels must match Pillow's to within a level or two (SPEC §3): the
/// kernel support widens with the downscale factor (antialiasing), coefficients are normalised per output
/// pixel and converted to 22-bit fixed point, each pass rounds and clamps to 8 bits, and the horizontal
/// pass runs first, over only the rows the vertical pass will read.
/// </summary>
public static class PilResample
{
    /// <summary>32 bits minus 8 for the result and 2 for overshoot (Resample.c's PRECISION_BITS).</summary>
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Below this many multiply-adds a pass runs on one thread (threads cost more than they save).</summary>
    private const long ParallelThreshold = 4_000_000;

    private static double BoxFilter(double x) => x > -0.5 && x <= 0.5 ? 1.0 : 0.0;

    private static double BilinearFilter(double x)
    {
        x = Math.Abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    private static double HammingFilter(double x)
    {
        x = Math.Abs(x);
        if (x == 0.0) return 1.0;
        if (x >= 1.0) return 0.0;
        x *= Math.PI;
        // 0.54f and 0.46f are float literals in Resample.c; their double values are kept.
        return Math.Sin(x) / x * ((double)0.54f + (double)0.46f * Math.Cos(x));
    }

    /// <summary>Keys' cubic convolution with a = −0.5, as Resample.c writes it.</summary>
    private static double BicubicFilter(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    private static double LanczosFilter(double x) => -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;

    private static (Func<double, double> Filter, double Support) FilterOf(PilFilter filter) => filter switch
    {
        PilFilter.Box => (BoxFilter, 0.5),
        PilFilter.Bilinear => (BilinearFilter, 1.0),
        PilFilter.Hamming => (HammingFilter, 1.0),
        PilFilter.Bicubic => (BicubicFilter, 2.0),
        PilFilter.Lanczos => (LanczosFilter, 3.0),
        _ => throw new ArgumentOutOfRangeException(nameof(filter), $"resampling filter {filter} is not supported (Pillow's NEAREST takes another code path)"),
    };

    /// <summary>Resizes <paramref name="image"/> to <paramref name="width"/>×<paramref name="height"/> as PIL's
    /// <c>image.resize((width, height), filter)</c> does for an RGB image (no box, no reducing_gap).</summary>
    public static RgbImage Resize(RgbImage image, int width, int height, PilFilter filter = PilFilter.Bicubic)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"target size {width}×{height} must be positive");
        var (fn, support) = FilterOf(filter);

        bool needHorizontal = width != image.Width, needVertical = height != image.Height;
        if (!needHorizontal && !needVertical) return new RgbImage(width, height, (byte[])image.Pixels.Clone());

        var (boundsV, kkV, ksizeV) = PrecomputeCoefficients(image.Height, height, fn, support);
        // First and one-past-last source rows the vertical pass reads.
        int yFirst = boundsV[0], yLast = boundsV[height * 2 - 2] + boundsV[height * 2 - 1];

        byte[] pixels = image.Pixels;
        int pixelsWidth = image.Width;
        if (needHorizontal)
        {
            var (boundsH, kkH, ksizeH) = PrecomputeCoefficients(image.Width, width, fn, support);
            for (int i = 0; i < height; i++) boundsV[i * 2] -= yFirst;
            var temp = new byte[(long)width * (yLast - yFirst) * 3];
            Horizontal(pixels, image.Width, yFirst, temp, width, yLast - yFirst, boundsH, kkH, ksizeH);
            pixels = temp;
            pixelsWidth = width;
        }
        if (needVertical)
        {
            var output = new byte[(long)pixelsWidth * height * 3];
            Vertical(pixels, pixelsWidth, output, height, boundsV, kkV, ksizeV);
            pixels = output;
        }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>
    /// precompute_coeffs + normalize_coeffs_8bpc: for each output position its first input index, its tap
    /// count, and <paramref name="ksize"/> fixed-point weights. The input box is (0, inSize), as floats.
    /// </summary>
    internal static (int[] Bounds, int[] Kernel, int KSize) PrecomputeCoefficients(int inSize, int outSize, Func<double, double> filter, double filterSupport)
    {
        float in0 = 0f, in1 = inSize;
        double scale = (double)(in1 - in0) / outSize;
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = filterSupport * filterScale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;

        var bounds = new int[outSize * 2];
        var kk = new double[(long)outSize * ksize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0, ss = 1.0 / filterScale;
            int xmin = (int)(center - support + 0.5); // C's (int) truncates toward zero, as C#'s cast does
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            var k = kk.AsSpan(xx * ksize, ksize);
            for (int x = 0; x < xmax; x++)
            {
                double w = filter((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            if (ww != 0.0)
                for (int x = 0; x < xmax; x++) k[x] /= ww;
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }

        var fixedPoint = new int[kk.Length];
        for (int i = 0; i < kk.Length; i++)
            fixedPoint[i] = kk[i] < 0
                ? (int)(-0.5 + kk[i] * (1 << PrecisionBits))
                : (int)(0.5 + kk[i] * (1 << PrecisionBits));
        return (bounds, fixedPoint, ksize);
    }

    /// <summary>clip8: drop the fraction (arithmetic shift, as gcc does) and clamp to 0..255.</summary>
    private static byte Clip8(int value)
    {
        int v = value >> PrecisionBits;
        return (byte)(v < 0 ? 0 : v > 255 ? 255 : v);
    }

    /// <summary>ImagingResampleHorizontal_8bpc for 3 bands: output row yy reads input row yy + <paramref name="rowOffset"/>.</summary>
    private static void Horizontal(byte[] input, int inWidth, int rowOffset, byte[] output, int outWidth, int rows,
        int[] bounds, int[] kk, int ksize)
    {
        void Row(int yy)
        {
            int inRow = (yy + rowOffset) * inWidth * 3, outRow = yy * outWidth * 3;
            for (int xx = 0; xx < outWidth; xx++)
            {
                int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
                var k = kk.AsSpan(xx * ksize, ksize);
                int ss0 = 1 << (PrecisionBits - 1), ss1 = ss0, ss2 = ss0;
                int p = inRow + xmin * 3;
                for (int x = 0; x < xmax; x++, p += 3)
                {
                    ss0 += input[p] * k[x];
                    ss1 += input[p + 1] * k[x];
                    ss2 += input[p + 2] * k[x];
                }
                output[outRow + xx * 3] = Clip8(ss0);
                output[outRow + xx * 3 + 1] = Clip8(ss1);
                output[outRow + xx * 3 + 2] = Clip8(ss2);
            }
        }
        ForRows(rows, (long)rows * outWidth * ksize, Row);
    }

    /// <summary>ImagingResampleVertical_8bpc for 3 bands.</summary>
    private static void Vertical(byte[] input, int width, byte[] output, int outHeight, int[] bounds, int[] kk, int ksize)
    {
        void Row(int yy)
        {
            int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
            var k = kk.AsSpan(yy * ksize, ksize);
            int outRow = yy * width * 3, stride = width * 3;
            for (int c = 0; c < width * 3; c += 3)
            {
                int ss0 = 1 << (PrecisionBits - 1), ss1 = ss0, ss2 = ss0;
                int p = ymin * stride + c;
                for (int y = 0; y < ymax; y++, p += stride)
                {
                    ss0 += input[p] * k[y];
                    ss1 += input[p + 1] * k[y];
                    ss2 += input[p + 2] * k[y];
                }
                output[outRow + c] = Clip8(ss0);
                output[outRow + c + 1] = Clip8(ss1);
                output[outRow + c + 2] = Clip8(ss2);
            }
        }
        ForRows(outHeight, (long)outHeight * width * ksize, Row);
    }

    /// <summary>Rows are independent, so large passes split across threads; the result does not depend on it.</summary>
    private static void ForRows(int rows, long work, Action<int> row)
    {
        if (work < ParallelThreshold) { for (int y = 0; y < rows; y++) row(y); }
        else Parallel.For(0, rows, row);
    }
}
