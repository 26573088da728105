using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.IO;

/// <summary>
/// A checkpoint written by <c>torch.save(state_dict, path)</c> (torch ≥ 1.6, e.g. <c>pytorch_model.bin</c>),
/// read as <c>torch.load(weights_only=True)</c> reads it: a zip (entries stored, not compressed) whose one
/// folder (<c>archive/</c>, or the file's stem in older torch) holds <c>data.pkl</c>, the pickled state
/// dict, run through <see cref="RestrictedUnpickler"/> (no code runs); <c>data/{key}</c>, one record of
/// raw bytes per storage a persistent id names; <c>version</c>; and <c>byteorder</c> (little unless it
/// says big; torch &lt; 2.1 wrote none and only little-endian files). Every tensor's view is checked against
/// its storage's record at open; data is read when a tensor is loaded. Tensors come out as from
/// <see cref="SafeTensorsFile"/>: their stored dtype and shape, contiguous, on the CPU.
/// </summary>
public sealed partial class TorchSaveFile : ITensorFile
{
    /// <summary>A data.pkl above this size is refused (a 7B model's shards have pickles of ~100 KB).</summary>
    public const long MaxPickleBytes = 256L << 20;

    private readonly FileStream _stream;
    private readonly ZipArchive _zip;
    private readonly string _prefix;
    private readonly bool _bigEndian;
    private readonly Dictionary<string, PickledTensor> _views;
    private readonly Lock _read = new();   // ZipArchive reads through one stream

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }

    private TorchSaveFile(string path, FileStream stream, ZipArchive zip, string prefix, bool bigEndian, Dictionary<string, PickledTensor> views)
    {
        Path = path; _stream = stream; _zip = zip; _prefix = prefix; _bigEndian = bigEndian; _views = views;
        Tensors = views.ToDictionary(kv => kv.Key, kv => Info(kv.Key, kv.Value), StringComparer.Ordinal);
    }

    /// <summary>dtype and shape; Begin/End: the bytes of the storage record the view spans.</summary>
    private static SafeTensorInfo Info(string name, PickledTensor t)
    {
        long size = ElementSize(t.Storage.DType);
        return new SafeTensorInfo(name, SafeTensorsFile.FromScalarType(t.Storage.DType), t.Shape, t.Offset * size, (t.Offset + Extent(t)) * size);
    }

    public static TorchSaveFile Open(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "file not found");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.RandomAccess);
        ZipArchive? zip = null;
        try
        {
            Span<byte> magic = stackalloc byte[4];
            int n = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
            stream.Position = 0;
            if (n < 4 || !magic.SequenceEqual("PK\x03\x04"u8))
                throw GlanceException.ForFile(path, n >= 1 && magic[0] == 0x80
                    ? "a PyTorch pickle in torch's legacy format (torch < 1.6, or _use_new_zipfile_serialization=False), which SharpGlance does not read; save it again with a recent torch, or convert it to safetensors"
                    : "not a torch.save checkpoint (no zip signature) nor safetensors");
            try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
            catch (InvalidDataException e) { throw GlanceException.ForFile(path, $"corrupt torch.save zip: {e.Message}"); }
            var file = Read(path, stream, zip);
            return file;
        }
        catch (RestrictedUnpickler.PickleException e)
        {
            zip?.Dispose(); stream.Dispose();
            throw GlanceException.ForFile(path, $"refused: data.pkl: {e.Message}");
        }
        catch (InvalidDataException e)
        {
            zip?.Dispose(); stream.Dispose();
            throw GlanceException.ForFile(path, $"corrupt torch.save zip: {e.Message}");
        }
        catch
        {
            zip?.Dispose(); stream.Dispose();
            throw;
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_]+$")]
    private static partial Regex StorageKey();

    private static TorchSaveFile Read(string path, FileStream stream, ZipArchive zip)
    {
        var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToList();
        if (pickles.Count != 1)
            throw GlanceException.ForFile(path, pickles.Count == 0 ? "a zip without {folder}/data.pkl, so not a torch.save checkpoint" : "a zip with more than one data.pkl");
        string prefix = pickles[0].FullName[..^"data.pkl".Length];

        var versionEntry = zip.GetEntry(prefix + "version") ?? zip.GetEntry(prefix + ".data/version");
        if (versionEntry is null) throw GlanceException.ForFile(path, $"no {prefix}version record, so not a torch.save checkpoint");
        string version = Small(path, versionEntry).Trim();
        // torch ≥ 1.6 writes 3 (1–2 before); the layout of data.pkl and data/ has not changed since. 10 is the
        // newest torch's kMaxSupportedFileFormatVersion.
        if (!int.TryParse(version, out int v) || v < 1 || v > 10)
            throw GlanceException.ForFile(path, $"torch.save format version '{(version.Length > 20 ? version[..20] : version)}' is not one SharpGlance reads (1 to 10)");
        bool bigEndian = false;
        if (zip.GetEntry(prefix + "byteorder") is { } order)
        {
            string text = Small(path, order).Trim();
            bigEndian = text switch
            {
                "little" => false, "big" => true,
                _ => throw GlanceException.ForFile(path, $"byteorder '{(text.Length > 20 ? text[..20] : text)}' is neither little nor big"),
            };
        }

        var pkl = pickles[0];
        if (pkl.Length > MaxPickleBytes) throw GlanceException.ForFile(path, $"data.pkl of {pkl.Length} bytes exceeds {MaxPickleBytes} bytes; a state dict's is far smaller");
        byte[] data = ReadEntry(path, pkl, MaxPickleBytes);

        var root = RestrictedUnpickler.Load(data, (key, dtype, numel) =>
        {
            if (!StorageKey().IsMatch(key)) throw new RestrictedUnpickler.PickleException($"storage key '{(key.Length > 40 ? key[..40] : key)}' is not a record name");
            var entry = zip.GetEntry($"{prefix}data/{key}") ?? throw new RestrictedUnpickler.PickleException($"storage '{key}' has no record {prefix}data/{key} in the zip");
            // torch writes storages uncompressed; a compressed record could inflate to anything.
            if (entry.CompressedLength != entry.Length)
                throw new RestrictedUnpickler.PickleException($"storage record {entry.FullName} is compressed ({entry.CompressedLength} bytes for {entry.Length}); torch.save stores them uncompressed");
            if (entry.Length > stream.Length)
                throw new RestrictedUnpickler.PickleException($"storage record {entry.FullName} claims {entry.Length} bytes, more than the whole file's {stream.Length}");
            long needed;
            try { needed = checked(numel * ElementSize(dtype)); }
            catch (OverflowException) { throw new RestrictedUnpickler.PickleException($"storage '{key}' of {numel} elements overflows"); }
            if (needed > entry.Length)
                throw new RestrictedUnpickler.PickleException($"storage '{key}' of {numel} {dtype} elements needs {needed} bytes but its record holds {entry.Length} (truncated?)");
            return new PickledStorage(key, dtype, numel);
        });

        if (root is not RestrictedUnpickler.PickleDict dict)
            throw GlanceException.ForFile(path, $"holds {RestrictedUnpickler.TypeName(root)}, not a state dict (a dict of tensors)");
        var views = new Dictionary<string, PickledTensor>(StringComparer.Ordinal);
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name) throw GlanceException.ForFile(path, $"a state dict key is {RestrictedUnpickler.TypeName(key)}, not a string");
            views[name] = value as PickledTensor
                ?? throw GlanceException.ForFile(path, $"'{name}' holds {RestrictedUnpickler.TypeName(value)}, not a tensor: not a state dict of tensors");
        }
        return new TorchSaveFile(path, stream, zip, prefix, bigEndian, views);
    }

    private static string Small(string path, ZipArchiveEntry entry) => Encoding.ASCII.GetString(ReadEntry(path, entry, 64));

    /// <summary>The whole entry, refusing one larger than <paramref name="limit"/> (however its header sizes it).</summary>
    private static byte[] ReadEntry(string path, ZipArchiveEntry entry, long limit)
    {
        if (entry.Length > limit) throw GlanceException.ForFile(path, $"{entry.FullName} of {entry.Length} bytes is larger than expected");
        using var s = entry.Open();
        using var buffer = new MemoryStream((int)entry.Length);
        var chunk = new byte[1 << 16];
        int n;
        while ((n = s.Read(chunk)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > limit) throw GlanceException.ForFile(path, $"{entry.FullName} inflates past {limit} bytes");
        }
        if (buffer.Length != entry.Length) throw GlanceException.ForFile(path, $"{entry.FullName}: {buffer.Length} bytes read of {entry.Length} (truncated file?)");
        return buffer.ToArray();
    }

    // ---- reading tensors ----------------------------------------------------------------------------

    /// <summary>Elements from the view's first to its last, inclusive (0 for an empty tensor).</summary>
    private static long Extent(PickledTensor t) =>
        t.Shape.Any(d => d == 0) ? 0 : 1 + t.Shape.Zip(t.Stride, (size, stride) => (size - 1) * stride).Sum();

    private static bool Contiguous(PickledTensor t)
    {
        long expected = 1;
        for (int i = t.Shape.Length - 1; i >= 0; i--)
        {
            if (t.Shape[i] == 0) return true;
            if (t.Shape[i] != 1 && t.Stride[i] != expected) return false;
            expected *= t.Shape[i];
        }
        return true;
    }

    private static int ElementSize(ScalarType dtype) => SafeTensorsFile.DTypeSize(SafeTensorsFile.FromScalarType(dtype));

    private PickledTensor View(string name) =>
        _views.TryGetValue(name, out var t) ? t : throw GlanceException.ForFile(Path, $"no tensor named '{name}'");

    public Tensor Load(string name, ScalarType? dtype = null, Device? device = null)
    {
        var view = View(name);
        Tensor t;
        if (Contiguous(view))
        {
            t = empty(view.Shape, view.Storage.DType);
            ReadData(name, view, t);
        }
        else
        {
            // A strided view (a transpose, a slice): the span of storage it covers, then its elements in order.
            using var span = empty(Extent(view), view.Storage.DType);
            ReadData(name, view, span);
            using var strided = span.as_strided(view.Shape, view.Stride, 0);
            t = strided.contiguous();
        }
        if (dtype is { } d && d != t.dtype) { var c = t.to_type(d); t.Dispose(); t = c; }
        if (device is not null && device.type != DeviceType.CPU) { var c = t.to(device); t.Dispose(); t = c; }
        return t;
    }

    public bool TryReadInto(string name, Tensor target)
    {
        var view = View(name);
        if (target.device_type != DeviceType.CPU || target.dtype != view.Storage.DType || !target.is_contiguous()
            || !view.Shape.SequenceEqual(target.shape) || !Contiguous(view) || Extent(view) * ElementSize(view.Storage.DType) > int.MaxValue) return false;
        ReadData(name, view, target);
        return true;
    }

    /// <summary>The view's span of its storage record, straight into <paramref name="t"/>'s memory.</summary>
    private void ReadData(string name, PickledTensor view, Tensor t)
    {
        int size = ElementSize(view.Storage.DType);
        long begin = view.Offset * size, length = Extent(view) * size;
        if (length == 0) return;
        if (length > int.MaxValue) throw GlanceException.ForFile(Path, $"tensor '{name}': {length} bytes is more than SharpGlance reads into one tensor");
        var target = t.bytes[..(int)length];
        lock (_read)
        {
            try
            {
                var entry = _zip.GetEntry($"{_prefix}data/{view.Storage.Key}")!;
                using var s = entry.Open();
                // Zip entry streams do not seek: skip to the view's offset (zero for all but views into a shared storage).
                var skip = new byte[(int)Math.Min(begin, 1 << 16)];
                for (long left = begin; left > 0;)
                {
                    int n = s.Read(skip, 0, (int)Math.Min(left, skip.Length));
                    if (n <= 0) throw new EndOfStreamException();
                    left -= n;
                }
                s.ReadExactly(target);
            }
            catch (EndOfStreamException) { throw GlanceException.ForFile(Path, $"tensor '{name}': unexpected end of file (truncated?)"); }
            catch (InvalidDataException e) { throw GlanceException.ForFile(Path, $"tensor '{name}': corrupt zip record: {e.Message}"); }
        }
        if (_bigEndian) SwapBytes(target, size);
    }

    /// <summary>A big-endian file's elements to the machine's little-endian order.</summary>
    private static void SwapBytes(Span<byte> bytes, int size)
    {
        switch (size)
        {
            case 2: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(bytes), MemoryMarshal.Cast<byte, ushort>(bytes)); break;
            case 4: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, uint>(bytes), MemoryMarshal.Cast<byte, uint>(bytes)); break;
            case 8: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ulong>(bytes), MemoryMarshal.Cast<byte, ulong>(bytes)); break;
        }
    }

    public void Dispose()
    {
        _zip.Dispose();
        _stream.Dispose();
    }
}
