using SkiaSharp;

namespace SharpGlance.Preprocessing;

/// <summary>
/// An 8-bit RGB image, row-major with interleaved channels (<c>Pixels[(y·Width + x)·3 + c]</c>): what PIL's
/// <c>Image.open(path).convert("RGB")</c> gives LLaVA's image processor (SPEC §3 step 1).
/// </summary>
public sealed class RgbImage
{
    /// <summary>
    /// PIL's <c>Image.MAX_IMAGE_PIXELS</c> (1024·1024·1024 / 4 / 3): images above it are refused from the
    /// header's dimensions, before any pixel is decoded (decompression bombs).
    /// </summary>
    public const long DefaultMaxPixels = 89_478_485;

    public int Width { get; }
    public int Height { get; }
    /// <summary>RGB bytes, <c>Width·Height·3</c> of them.</summary>
    public byte[] Pixels { get; }
    /// <summary>The file (or name) it was decoded from, for error messages; null for images made in memory.</summary>
    public string? Source { get; init; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}×{height} must be positive");
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.LongLength != (long)width * height * 3)
            throw new ArgumentException($"a {width}×{height} RGB image needs {(long)width * height * 3} bytes, got {pixels.LongLength}", nameof(pixels));
        Width = width; Height = height; Pixels = pixels;
    }

    /// <summary>A <paramref name="width"/>×<paramref name="height"/> image of one colour.</summary>
    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        var pixels = new byte[checked(width * height * 3)];
        for (int i = 0; i < pixels.Length; i += 3) { pixels[i] = r; pixels[i + 1] = g; pixels[i + 2] = b; }
        return new RgbImage(width, height, pixels);
    }

    public (byte R, byte G, byte B) GetPixel(int x, int y)
    {
        int i = (y * Width + x) * 3;
        return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
    }

    /// <summary>The region at (<paramref name="x"/>, <paramref name="y"/>), which must lie inside the image.</summary>
    public RgbImage Crop(int x, int y, int width, int height)
    {
        if (x < 0 || y < 0 || width <= 0 || height <= 0 || x + width > Width || y + height > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"crop {width}×{height} at ({x}, {y}) is outside the {Width}×{Height} image");
        var pixels = new byte[width * height * 3];
        for (int row = 0; row < height; row++)
            Pixels.AsSpan(((y + row) * Width + x) * 3, width * 3).CopyTo(pixels.AsSpan(row * width * 3));
        return new RgbImage(width, height, pixels);
    }

    // ───────────────────────── decoding ─────────────────────────

    /// <summary>Formats accepted (SPEC §3); Skia knows a few more (e.g. WBMP, whose loose signature
    /// would let arbitrary bytes "decode"), which PIL-based references do not read anyway.</summary>
    private static readonly SKEncodedImageFormat[] Supported =
        [SKEncodedImageFormat.Png, SKEncodedImageFormat.Jpeg, SKEncodedImageFormat.Webp, SKEncodedImageFormat.Gif, SKEncodedImageFormat.Bmp];

    /// <summary>Decodes a PNG, JPEG, WebP, GIF (first frame) or BMP file.</summary>
    /// <exception cref="GlanceException">Missing, empty, truncated, corrupt, unsupported or too large (the message names the file).</exception>
    public static RgbImage FromFile(string path, long maxPixels = DefaultMaxPixels)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = new FileInfo(path);
        if (!file.Exists) throw GlanceException.ForFile(path, Directory.Exists(path) ? "is a folder, not an image" : "file not found");
        if (file.Length == 0) throw GlanceException.ForFile(path, "empty file (0 bytes), not an image");
        // Memory-mapped: a large file is not read before its header has been checked.
        using var data = SKData.Create(path) ?? throw GlanceException.ForFile(path, "cannot read the file");
        return Decode(data, path, maxPixels);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="name"/> is used in error messages.</summary>
    public static RgbImage FromBytes(ReadOnlySpan<byte> encoded, string name = "<image bytes>", long maxPixels = DefaultMaxPixels)
    {
        if (encoded.IsEmpty) throw GlanceException.ForFile(name, "empty (0 bytes), not an image");
        using var data = SKData.CreateCopy(encoded);
        return Decode(data, name, maxPixels);
    }

    private static unsafe RgbImage Decode(SKData data, string name, long maxPixels)
    {
        using var codec = SKCodec.Create(data)
            ?? throw GlanceException.ForFile(name, "not a recognised image (PNG, JPEG, WebP, GIF or BMP), or its header is corrupt");
        if (Array.IndexOf(Supported, codec.EncodedFormat) < 0)
            throw GlanceException.ForFile(name, $"unsupported image format {codec.EncodedFormat} (PNG, JPEG, WebP, GIF or BMP)");
        string format = codec.EncodedFormat.ToString().ToUpperInvariant();
        int width = codec.Info.Width, height = codec.Info.Height;
        if (width <= 0 || height <= 0) throw GlanceException.ForFile(name, $"image has no pixels ({width}×{height})");
        // libjpeg fills a progressive JPEG that ends early with what it has and reports success.
        if (codec.EncodedFormat == SKEncodedImageFormat.Jpeg && EndsBeforeEndMarker(data.AsSpan()))
            throw GlanceException.ForFile(name, $"truncated image: the JPEG data ends before its end-of-image marker");
        long count = (long)width * height;
        if (count > maxPixels)
            throw GlanceException.ForFile(name, $"image is {width}×{height} = {count:N0} pixels, above the limit of {maxPixels:N0} (a decompression bomb?)");

        // Unpremultiplied RGBA with no colour space: the stored colour values, untouched by alpha and by
        // any ICC profile or gAMA chunk — PIL ignores both, and convert("RGB") drops alpha without
        // compositing (so a transparent pixel keeps its stored colour). EXIF orientation is not applied:
        // Image.open + convert do not apply it either (LLaVA never calls ImageOps.exif_transpose).
        // Checked to agree with PIL: palette PNGs with tRNS give the palette colours, 16-bit PNGs keep
        // each sample's high byte. Known departure, rare in photos: a GIF's transparent pixels come out
        // black, where PIL gives the colour of the transparent palette entry.
        if (count * 4 > Array.MaxLength)
            throw GlanceException.ForFile(name, $"image is {width}×{height}, too large to decode in one buffer");
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[count * 4];
        SKCodecResult result;
        fixed (byte* p = rgba) result = codec.GetPixels(info, (IntPtr)p);
        switch (result)
        {
            case SKCodecResult.Success: break;
            case SKCodecResult.IncompleteInput:
                throw GlanceException.ForFile(name, $"truncated image: the {format} data ends before all {width}×{height} pixels");
            case SKCodecResult.ErrorInInput:
                throw GlanceException.ForFile(name, $"corrupt {format} image data");
            default:
                throw GlanceException.ForFile(name, $"cannot decode the {format} image ({result})");
        }

        var rgb = new byte[count * 3];
        for (long i = 0, j = 0; i < count; i++, j += 3)
        {
            rgb[j] = rgba[i * 4]; rgb[j + 1] = rgba[i * 4 + 1]; rgb[j + 2] = rgba[i * 4 + 2];
        }
        return new RgbImage(width, height, rgb) { Source = name };
    }

    /// <summary>
    /// Whether a JPEG stops before its last scan is closed: no EOI (FF D9) after the last SOS (FF DA). Scan
    /// data stuffs FF bytes (FF 00), so neither marker appears inside it; trailing bytes after EOI are fine.
    /// </summary>
    private static bool EndsBeforeEndMarker(ReadOnlySpan<byte> jpeg) =>
        jpeg.LastIndexOf([(byte)0xFF, (byte)0xD9]) < jpeg.LastIndexOf([(byte)0xFF, (byte)0xDA]);

    /// <summary>The colours of a Skia bitmap (unpremultiplied, alpha dropped).</summary>
    public static unsafe RgbImage FromBitmap(SKBitmap bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        int width = bitmap.Width, height = bitmap.Height;
        if (width <= 0 || height <= 0) throw new ArgumentException($"bitmap has no pixels ({width}×{height})", nameof(bitmap));
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[(long)width * height * 4];
        using var pixmap = bitmap.PeekPixels()
            ?? throw new ArgumentException("the bitmap has no pixels in memory", nameof(bitmap));
        fixed (byte* p = rgba)
            if (!pixmap.ReadPixels(info, (IntPtr)p, width * 4))
                throw new ArgumentException($"cannot read a {bitmap.ColorType} bitmap as RGBA", nameof(bitmap));
        var rgb = new byte[(long)width * height * 3];
        for (long i = 0, j = 0; j < rgb.LongLength; i += 4, j += 3) { rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2]; }
        return new RgbImage(width, height, rgb);
    }

    /// <summary>An opaque Skia bitmap of this image (to save or draw on it).</summary>
    public unsafe SKBitmap ToBitmap()
    {
        var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        byte* pixels = (byte*)bitmap.GetPixels();
        for (int y = 0; y < Height; y++)
        {
            byte* dst = pixels + (long)y * bitmap.RowBytes;
            for (int x = 0, j = y * Width * 3; x < Width; x++, j += 3)
            {
                dst[x * 4] = Pixels[j]; dst[x * 4 + 1] = Pixels[j + 1]; dst[x * 4 + 2] = Pixels[j + 2]; dst[x * 4 + 3] = 255;
            }
        }
        return bitmap;
    }
}
