using System.Buffers.Binary;
using System.Text;
using SharpGlance.Preprocessing;
using SharpGlance.Tests.Preprocessing;
using SkiaSharp;

namespace SharpGlance.Tests.Faults;

/// <summary>
/// Generated bad images for `glance caption` (issue #16): every format truncated at several points,
/// foreign and random bytes, headers that lie about the size (zero, bombs, invalid fields), images more
/// elongated than 50:1, folders, missing files and broken links. Each runs beside a good image, which must
/// still be captioned.
/// </summary>
public class FaultSuiteImages
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"];

    /// <summary>The five formats glance reads, each as an encoder of noise pixels.</summary>
    private static readonly (string Ext, Func<int, int, int, byte[]> Encode)[] Formats =
    [
        (".png", (w, h, seed) => TestImages.Png(w, h, TestImages.RandomBytes(w * h * 3, seed))),
        (".jpg", (w, h, seed) => TestImages.Encode(Noise(w, h, seed), SKEncodedImageFormat.Jpeg, 90)),
        (".webp", (w, h, seed) => TestImages.Encode(Noise(w, h, seed), SKEncodedImageFormat.Webp, 80)),
        (".gif", (w, h, seed) => TestImages.Gif(w, h, TestImages.RandomBytes(w * h, seed))),
        (".bmp", (w, h, seed) => TestImages.Bmp(w, h, TestImages.RandomBytes(w * h * 3, seed))),
    ];

    private static RgbImage Noise(int width, int height, int seed) => new(width, height, TestImages.RandomBytes(width * height * 3, seed));

    private static readonly Dictionary<string, FaultCase> All = Cases().ToDictionary(c => c.Name);

    public static TheoryData<string> Images => FaultSuite.Names(All.Values);

    [Theory, MemberData(nameof(Images))]
    public Task A_bad_image_gets_one_error_line_naming_it_and_the_good_one_is_captioned(string name) => FaultSuite.Check(All, name);

    /// <summary>The edges the faults are measured against: smallest, most elongated allowed, grey, alpha, palette, 16-bit.</summary>
    public static TheoryData<string> Edges => new(EdgeImages().Select(e => e.Name));

    [Theory, MemberData(nameof(Edges))]
    public void An_image_at_an_edge_of_what_is_allowed_is_captioned(string name)
    {
        var dir = TempDir.Create("edge");
        var (_, fileName, bytes) = EdgeImages().Single(e => e.Name == name);
        var path = Path.Combine(dir, fileName);
        System.IO.File.WriteAllBytes(path, bytes());
        var (code, output, error) = GlanceCli.RunReported(Caption(TinyModels.CaptionerFolder, path));
        Assert.True(code == 0 && error.Length == 0 && FaultSuite.Lines(output) is [var line] && line.StartsWith(path + ": ", StringComparison.Ordinal),
            $"{name}: exit {code}, stdout: {output}, stderr: {error}");
        Directory.Delete(dir, recursive: true);
    }

    private static IEnumerable<(string Name, string FileName, Func<byte[]> Bytes)> EdgeImages()
    {
        foreach (var (ext, encode) in Formats)
            yield return ($"1x1{ext}", "dot" + ext, () => encode(1, 1, 1));
        yield return ("50x1.png", "wide.png", () => TestImages.Png(50, 1, new byte[150]));
        yield return ("1x50.gif", "tall.gif", () => TestImages.Gif(1, 50, new byte[50]));
        yield return ("grey.png", "grey.png", () => SkiaPng(SKColorType.Gray8, SKAlphaType.Opaque));
        yield return ("alpha.png", "alpha.png", () => SkiaPng(SKColorType.Rgba8888, SKAlphaType.Unpremul));
        yield return ("palette.png", "palette.png", () => TestImages.Png(4, 4, Enumerable.Range(0, 16).Select(i => (byte)(i % 2)).ToArray(), colorType: 3,
            palette: [255, 0, 0, 0, 0, 255], paletteAlpha: [255, 0]));
        yield return ("16-bit.png", "deep.png", () => TestImages.Png(4, 4, TestImages.RandomBytes(4 * 4 * 6, 2), bitDepth: 16));
    }

    private static byte[] SkiaPng(SKColorType colorType, SKAlphaType alphaType)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(12, 9, colorType, alphaType));
        bitmap.Erase(new SKColor(90, 90, 90, 128));
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>`glance caption`, greedy and short (the captions themselves do not matter).</summary>
    internal static string[] Caption(string model, params string[] images) =>
        ["caption", "--model", model, "--beams", "1", "--max-new-tokens", "2", .. images];

    /// <summary>A case whose bad input <paramref name="write"/> makes in the case folder (returning its path).</summary>
    private static FaultCase Bad(string name, Func<string, string> write) => new("image/" + name, dir =>
    {
        var bad = write(dir);
        var good = CaptionFaultTests.Png(dir, "good.png", 20, 20);
        return new FaultRun(Caption(TinyModels.CaptionerFolder, bad, good), bad) { Captioned = [good] };
    });

    private static FaultCase File(string name, string fileName, Func<byte[]> bytes) => Bad(name, dir =>
    {
        var path = Path.Combine(dir, fileName);
        System.IO.File.WriteAllBytes(path, bytes());
        return path;
    });

    private static IEnumerable<FaultCase> Cases()
    {
        // Truncations: every format, three sizes, cut in the header and at points through the data.
        foreach (var (ext, encode) in Formats)
            foreach (var (w, h) in new[] { (40, 30), (97, 61), (160, 120) })
                foreach (var cut in new[] { "8b", "24b", "10%", "30%", "50%", "70%", "90%" })
                    yield return File($"truncated{ext}/{w}x{h}/at-{cut}", "cut" + ext, () =>
                    {
                        var full = encode(w, h, w + h);
                        int keep = cut.EndsWith('b') ? int.Parse(cut[..^1]) : full.Length * int.Parse(cut[..^1]) / 100;
                        return full[..keep];
                    });

        foreach (var ext in Extensions)
        {
            yield return File($"empty{ext}", "empty" + ext, () => []);
            foreach (int length in new[] { 1, 7, 64, 1000, 65536 })
                yield return File($"random{ext}/{length}-bytes", "noise" + ext, () => TestImages.RandomBytes(length, length));
            yield return Bad($"folder-named{ext}", dir => Directory.CreateDirectory(Path.Combine(dir, "folder" + ext)).FullName);
            yield return Bad($"missing{ext}", dir => Path.Combine(dir, "missing" + ext));
        }

        foreach (var (kind, bytes) in Foreign())
            foreach (var ext in new[] { ".png", ".jpg" })
                yield return File($"foreign{ext}/{kind}", kind + ext, () => bytes);

        yield return Bad("link/dangling", dir => Link(dir, "dangling.png", Path.Combine(dir, "nowhere.png")));
        yield return Bad("link/loop", dir => Link(dir, "loop.png", Link(dir, "loop2.png", Path.Combine(dir, "loop.png"))));
        yield return Bad("link/to-a-folder", dir => Link(dir, "folder.png", Directory.CreateDirectory(Path.Combine(dir, "sub")).FullName));

        // Headers that lie about the size: none, bombs, or an aspect ratio above 50:1.
        foreach (var (w, h) in new[] { (0, 5), (5, 0), (0, 0) })
        {
            yield return File($"zero-size.png/{w}x{h}", "zero.png", () => TestImages.Png(4, 4, new byte[48], declaredWidth: w, declaredHeight: h));
            yield return File($"zero-size.gif/{w}x{h}", "zero.gif", () => TestImages.Gif(4, 4, new byte[16], declaredWidth: w, declaredHeight: h));
            yield return File($"zero-size.bmp/{w}x{h}", "zero.bmp", () => BmpDeclared(w, h));
        }
        foreach (var (w, h) in new[] { (100_000, 100_000), (65_535, 65_535), (20_000, 20_000), (9_460, 9_460), (int.MaxValue, 1), (1, int.MaxValue), (-1, 8) })
            yield return File($"bomb.png/{w}x{h}", "bomb.png", () => TestImages.Png(8, 8, new byte[192], declaredWidth: w, declaredHeight: h));
        foreach (var (w, h) in new[] { (65_500, 65_500), (30_000, 30_000), (9_500, 9_500) })
            yield return File($"bomb.jpg/{w}x{h}", "bomb.jpg", () => JpegDeclared(w, h));
        foreach (var (w, h) in new[] { (65_535, 65_535), (10_000, 10_000), (9_500, 9_500) })
            yield return File($"bomb.gif/{w}x{h}", "bomb.gif", () => TestImages.Gif(8, 8, new byte[64], declaredWidth: w, declaredHeight: h));
        foreach (var (w, h) in new[] { (100_000, 100_000), (9_500, 9_500), (1 << 30, 1) })
            yield return File($"bomb.bmp/{w}x{h}", "bomb.bmp", () => BmpDeclared(w, h));
        foreach (var (w, h) in new[] { (16_383, 16_383), (10_000, 10_000) })
            yield return File($"bomb.webp/{w}x{h}", "bomb.webp", () => WebpDeclared(w, h));

        foreach (var (ext, encode) in Formats)
            foreach (int n in new[] { 51, 300, 5_000, ext == ".webp" ? 16_383 : 60_000 })
            {
                yield return File($"elongated{ext}/1x{n}", "tall" + ext, () => encode(1, n, n));
                yield return File($"elongated{ext}/{n}x1", "wide" + ext, () => encode(n, 1, n));
            }
        yield return File("elongated.png/3x160", "tall.png", () => TestImages.Png(3, 160, new byte[3 * 160 * 3]));

        // PNG headers with invalid fields (valid CRCs), and PNG data with a flipped byte (its CRC no longer matches).
        foreach (var (field, offset, value) in new[] { ("colour-type-5", 25, 5), ("bit-depth-3", 24, 3), ("compression-1", 26, 1), ("filter-1", 27, 1), ("interlace-7", 28, 7) })
            yield return File($"png-header/{field}", "header.png", () => WithIhdrByte(offset, (byte)value));
        yield return File("png-header/no-IDAT", "noidat.png", () => [.. Png16()[..33], .. Png16()[^12..]]);
        foreach (var (w, h) in new[] { (40, 30), (97, 61), (160, 120) })
            foreach (int at in new[] { 30, 50, 70 })
                yield return File($"png-crc/{w}x{h}/byte-at-{at}%", "crc.png", () =>
                {
                    var png = TestImages.Png(w, h, TestImages.RandomBytes(w * h * 3, at));
                    png[png.Length * at / 100] ^= 0x55;
                    return png;
                });
    }

    /// <summary>Not images, or other image formats: text, documents, archives, programs, ICO and WBMP, bare signatures.</summary>
    private static IEnumerable<(string Kind, byte[] Bytes)> Foreign()
    {
        yield return ("text", Encoding.UTF8.GetBytes("not an image at all\n"));
        yield return ("html", Encoding.UTF8.GetBytes("<!DOCTYPE html><html><body>404 Not Found</body></html>"));
        yield return ("svg", Encoding.UTF8.GetBytes("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"/>"));
        yield return ("json", Encoding.UTF8.GetBytes("{\"image\": \"a.png\"}"));
        yield return ("pdf", Encoding.ASCII.GetBytes("%PDF-1.4\n%\u00e2\u00e3\n1 0 obj\n<<>>\nendobj\n"));
        yield return ("zip", [0x50, 0x4B, 0x03, 0x04, 20, 0, 0, 0, 8, 0, .. TestImages.RandomBytes(60, 4)]);
        yield return ("elf", [0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, .. new byte[56]]);
        yield return ("ico", Ico(Png16()));
        yield return ("wbmp", [0, 0, 8, 8, .. new byte[8]]);
        yield return ("signature-png", Png16()[..8]);
        yield return ("signature-jpeg", [0xFF, 0xD8, 0xFF, 0xE0]);
        yield return ("signature-gif", Encoding.ASCII.GetBytes("GIF89a"));
        yield return ("signature-bmp", [(byte)'B', (byte)'M', 0, 0]);
        yield return ("signature-webp", [.. Encoding.ASCII.GetBytes("RIFF"), 4, 0, 0, 0, .. Encoding.ASCII.GetBytes("WEBP")]);
    }

    private static string Link(string dir, string name, string target)
    {
        var path = Path.Combine(dir, name);
        System.IO.File.CreateSymbolicLink(path, target);
        return path;
    }

    private static byte[] Png16() => TestImages.Png(4, 4, new byte[48]);

    /// <summary>A 4×4 PNG with one IHDR byte replaced and the chunk's CRC recomputed (IHDR data starts at byte 16).</summary>
    private static byte[] WithIhdrByte(int offset, byte value)
    {
        var png = Png16();
        png[offset] = value;
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), TestImages.Crc32(png[12..29]));
        return png;
    }

    /// <summary>An 8×8 BMP whose header declares <paramref name="width"/>×<paramref name="height"/>.</summary>
    private static byte[] BmpDeclared(int width, int height)
    {
        var bmp = TestImages.Bmp(8, 8, new byte[192]);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        return bmp;
    }

    /// <summary>A 16×16 JPEG whose SOF0 frame header declares <paramref name="width"/>×<paramref name="height"/>.</summary>
    private static byte[] JpegDeclared(int width, int height)
    {
        var jpeg = TestImages.Encode(Noise(16, 16, 5), SKEncodedImageFormat.Jpeg, 90);
        int sof = jpeg.AsSpan().IndexOf([(byte)0xFF, (byte)0xC0]);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), (ushort)width);
        return jpeg;
    }

    /// <summary>A 16×16 lossy WebP whose VP8 frame header declares <paramref name="width"/>×<paramref name="height"/> (14 bits each).</summary>
    private static byte[] WebpDeclared(int width, int height)
    {
        var webp = TestImages.Encode(Noise(16, 16, 6), SKEncodedImageFormat.Webp, 80);
        int start = webp.AsSpan().IndexOf([(byte)0x9D, (byte)0x01, (byte)0x2A]);
        BinaryPrimitives.WriteUInt16LittleEndian(webp.AsSpan(start + 3), (ushort)width);
        BinaryPrimitives.WriteUInt16LittleEndian(webp.AsSpan(start + 5), (ushort)height);
        return webp;
    }

    /// <summary>An ICO file holding one PNG image (a format Skia reads and glance does not).</summary>
    private static byte[] Ico(byte[] png)
    {
        var header = new byte[22];
        header[2] = 1; header[4] = 1;   // type icon, one image
        header[6] = 4; header[7] = 4;   // 4×4
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(10), 1);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(12), 32);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(14), png.Length);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(18), 22);
        return [.. header, .. png];
    }
}
