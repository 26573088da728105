using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using SharpGlance.Preprocessing;
using SkiaSharp;

namespace SharpGlance.Tests.Preprocessing;

/// <summary>
/// Image files written byte by byte (no codec involved), so the decoder is tested against files whose
/// every byte we know — including deliberately broken ones.
/// </summary>
internal static class TestImages
{
    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A PNG: colour type 2 (RGB, 3 bytes a pixel), 6 (RGBA, 4 bytes) or 3 (palette index, 1 byte;
    /// PLTE and tRNS given), 8 bits, filter 0 on every row.</summary>
    public static byte[] Png(int width, int height, byte[] pixels, int colorType = 2, int? declaredWidth = null, int? declaredHeight = null,
        byte[]? palette = null, byte[]? paletteAlpha = null, int bitDepth = 8, uint? gamma = null)
    {
        int channels = colorType switch { 6 => 4, 3 => 1, _ => 3 } * (bitDepth / 8);
        using var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, declaredWidth ?? width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), declaredHeight ?? height);
        ihdr[8] = (byte)bitDepth; ihdr[9] = (byte)colorType;
        Chunk(ms, "IHDR", ihdr);
        if (gamma is { } g)
        {
            var gama = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(gama, g);
            Chunk(ms, "gAMA", gama);
        }
        if (palette is not null) Chunk(ms, "PLTE", palette);
        if (paletteAlpha is not null) Chunk(ms, "tRNS", paletteAlpha);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
                for (int y = 0; y < height; y++)
                {
                    z.WriteByte(0);
                    z.Write(pixels, y * width * channels, width * channels);
                }
            Chunk(ms, "IDAT", raw.ToArray());
        }
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typeAndData);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typeAndData));
        s.Write(crc);
    }

    public static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A 24-bit bottom-up BMP (rows stored last first, BGR, padded to 4 bytes).</summary>
    public static byte[] Bmp(int width, int height, byte[] rgb)
    {
        int stride = (width * 3 + 3) & ~3;
        var bmp = new byte[54 + stride * height];
        bmp[0] = (byte)'B'; bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), stride * height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int src = (y * width + x) * 3, dst = 54 + (height - 1 - y) * stride + x * 3;
                bmp[dst] = rgb[src + 2]; bmp[dst + 1] = rgb[src + 1]; bmp[dst + 2] = rgb[src];
            }
        return bmp;
    }

    /// <summary><paramref name="image"/> encoded by Skia (PNG, JPEG or WebP; it encodes no GIF or BMP).</summary>
    public static byte[] Encode(RgbImage image, SKEncodedImageFormat format, int quality)
    {
        using var bitmap = image.ToBitmap();
        using var data = bitmap.Encode(format, quality);
        return data.ToArray();
    }

    /// <summary>
    /// A GIF89a of 128 grey levels, each pixel the high 7 bits of <paramref name="grey"/>. The LZW stream
    /// is "uncompressed": 8-bit codes, a clear code every 100 pixels so the code size never grows.
    /// </summary>
    public static byte[] Gif(int width, int height, byte[] grey, int? declaredWidth = null, int? declaredHeight = null)
    {
        using var ms = new MemoryStream();
        ms.Write("GIF89a"u8);
        void Short(int v) { ms.WriteByte((byte)v); ms.WriteByte((byte)(v >> 8)); }
        Short(declaredWidth ?? width); Short(declaredHeight ?? height);
        ms.Write([0xF6, 0, 0]);   // a global table of 2^(6+1) entries
        for (int i = 0; i < 128; i++) ms.Write([(byte)(2 * i), (byte)(2 * i), (byte)(2 * i)]);
        ms.WriteByte(0x2C);
        Short(0); Short(0); Short(declaredWidth ?? width); Short(declaredHeight ?? height);
        ms.Write([0, 7]);   // no local table; LZW minimum code size 7: clear 128, end 129
        var codes = new List<byte>();
        for (int i = 0; i < width * height; i++)
        {
            if (i % 100 == 0) codes.Add(128);
            codes.Add((byte)(grey[i] >> 1));
        }
        codes.Add(129);
        foreach (var block in codes.Chunk(255))
        {
            ms.WriteByte((byte)block.Length);
            ms.Write(block);
        }
        ms.Write([0, 0x3B]);
        return ms.ToArray();
    }

    /// <summary>The classic 1×1 GIF89a whose single pixel is palette entry 0, white.</summary>
    public static byte[] WhitePixelGif() => Convert.FromBase64String("R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=");

    /// <summary>
    /// <paramref name="jpeg"/> with an EXIF APP1 segment (big-endian TIFF, one IFD entry: Orientation =
    /// <paramref name="orientation"/>) inserted right after SOI.
    /// </summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        var tiff = new List<byte> { (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1 };
        tiff.AddRange([(byte)(orientation >> 8), (byte)orientation, 0, 0, 0, 0, 0, 0]);
        var payload = Encoding.ASCII.GetBytes("Exif\0\0").Concat(tiff).ToArray();
        int length = payload.Length + 2;
        var app1 = new byte[] { 0xFF, 0xE1, (byte)(length >> 8), (byte)length }.Concat(payload);
        return jpeg.Take(2).Concat(app1).Concat(jpeg.Skip(2)).ToArray();
    }

    public static string TempFile(byte[] bytes, string extension)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("glance-img-").FullName, "image" + extension);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
