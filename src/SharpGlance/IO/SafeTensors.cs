using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.IO;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reader for the safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header naming each tensor's dtype, shape and [begin, end) byte range in the data
/// section, then the raw little-endian data. Everything in the header is validated before a byte of data
/// is trusted (SPEC §1): a lying header is a clear error, never an out-of-range read.
/// </summary>
public sealed class SafeTensorsFile : ITensorFile
{
    /// <summary>Headers above this size are refused (the reference implementation uses 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly FileStream _stream;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafeTensorsFile(string path, FileStream stream, long dataStart,
        Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path; _stream = stream; _dataStart = dataStart; Tensors = tensors; Metadata = metadata;
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "file not found");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        try
        {
            var (dataStart, tensors, metadata) = ReadHeader(path, stream);
            return new SafeTensorsFile(path, stream, dataStart, tensors, metadata);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static (long, Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ReadHeader(string path, FileStream stream)
    {
        long fileLength = stream.Length;
        if (fileLength < 8) throw GlanceException.ForFile(path, $"not a safetensors file: {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength > MaxHeaderBytes) throw GlanceException.ForFile(path, $"not a safetensors file: header length {headerLength} exceeds {MaxHeaderBytes} bytes");
        if ((long)headerLength > fileLength - 8) throw GlanceException.ForFile(path, $"truncated safetensors file: header of {headerLength} bytes but only {fileLength - 8} bytes follow");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        JsonObject header;
        try
        {
            header = JsonNode.Parse(Encoding.UTF8.GetString(headerBytes), documentOptions: ConfigJson.Strict) as JsonObject
                ?? throw new JsonException("the header is not a JSON object");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw GlanceException.ForFile(path, $"corrupt safetensors header: {e.Message}");
        }

        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is not (JsonObject or null)) throw GlanceException.ForFile(path, "corrupt safetensors header: __metadata__ is not an object of strings");
                foreach (var (k, v) in node?.AsObject() ?? [])
                    metadata[k] = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s
                        : throw GlanceException.ForFile(path, $"corrupt safetensors header: __metadata__ value '{k}' is not a string");
                continue;
            }
            tensors[name] = ParseEntry(path, name, node);
        }

        // Offsets must lie inside the data section, match shape × dtype size, and not overlap.
        foreach (var t in tensors.Values)
        {
            if (t.Begin < 0 || t.End < t.Begin || t.End > dataLength)
                throw GlanceException.ForFile(path, $"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}] lie outside the data section of {dataLength} bytes{(t.End > dataLength ? " (truncated file?)" : "")}");
            long expected = checked(t.ElementCount * DTypeSize(t.DType));
            if (expected != t.ByteLength)
                throw GlanceException.ForFile(path, $"tensor '{t.Name}': shape [{string.Join(", ", t.Shape)}] of {t.DType} needs {expected} bytes but data_offsets span {t.ByteLength}");
        }
        SafeTensorInfo? previous = null;
        foreach (var t in tensors.Values.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin))
        {
            if (previous is not null && t.Begin < previous.End)
                throw GlanceException.ForFile(path, $"tensors '{previous.Name}' and '{t.Name}' overlap in the data section");
            previous = t;
        }
        return (dataStart, tensors, metadata);
    }

    private static SafeTensorInfo ParseEntry(string path, string name, JsonNode? node)
    {
        try
        {
            if (node is not JsonObject o) throw new FormatException("entry is not an object");
            string dtype = o["dtype"]?.GetValue<string>() ?? throw new FormatException("no dtype");
            DTypeSize(dtype, path, name);
            var shape = (o["shape"] as JsonArray ?? throw new FormatException("no shape"))
                .Select(x => x!.GetValue<long>()).ToArray();
            if (shape.Any(d => d < 0)) throw new FormatException("negative dimension");
            var offsets = o["data_offsets"] as JsonArray ?? throw new FormatException("no data_offsets");
            if (offsets.Count != 2) throw new FormatException("data_offsets must have two entries");
            return new SafeTensorInfo(name, dtype, shape, offsets[0]!.GetValue<long>(), offsets[1]!.GetValue<long>());
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or JsonException or NullReferenceException)
        {
            throw GlanceException.ForFile(path, $"corrupt safetensors header entry '{name}': {e.Message}");
        }
    }

    public static int DTypeSize(string dtype) => DTypeSize(dtype, null, null);

    private static int DTypeSize(string dtype, string? path, string? name) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => throw (path is null ? new GlanceException($"unsupported safetensors dtype '{dtype}'")
            : GlanceException.ForFile(path, $"tensor '{name}': unsupported dtype '{dtype}'")),
    };

    public static ScalarType ToScalarType(string dtype) => dtype switch
    {
        "F64" => ScalarType.Float64, "F32" => ScalarType.Float32, "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16, "I64" => ScalarType.Int64, "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16, "I8" => ScalarType.Int8, "U8" => ScalarType.Byte, "BOOL" => ScalarType.Bool,
        _ => throw new GlanceException($"safetensors dtype '{dtype}' has no TorchSharp equivalent"),
    };

    public static string FromScalarType(ScalarType t) => t switch
    {
        ScalarType.Float64 => "F64", ScalarType.Float32 => "F32", ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16", ScalarType.Int64 => "I64", ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16", ScalarType.Int8 => "I8", ScalarType.Byte => "U8", ScalarType.Bool => "BOOL",
        _ => throw new GlanceException($"dtype {t} cannot be written to safetensors"),
    };

    /// <summary>
    /// Reads one tensor into a new CPU tensor of its stored dtype, then converts it to
    /// <paramref name="dtype"/> and moves it to <paramref name="device"/> when given.
    /// </summary>
    public Tensor Load(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (!Tensors.TryGetValue(name, out var info)) throw GlanceException.ForFile(Path, $"no tensor named '{name}'");
        var t = empty(info.Shape, ToScalarType(info.DType));
        ReadData(name, info, t);
        if (dtype is { } d && d != t.dtype) { var c = t.to_type(d); t.Dispose(); t = c; }
        if (device is not null && device.type != DeviceType.CPU) { var c = t.to(device); t.Dispose(); t = c; }
        return t;
    }

    /// <summary>
    /// Reads one tensor straight into <paramref name="target"/>'s storage when that needs no conversion
    /// (same dtype and shape, contiguous, on the CPU) and returns true; false (nothing read) otherwise.
    /// Loading a model this way makes no second copy of any weight.
    /// </summary>
    public bool TryReadInto(string name, Tensor target)
    {
        if (!Tensors.TryGetValue(name, out var info)) throw GlanceException.ForFile(Path, $"no tensor named '{name}'");
        if (target.device_type != DeviceType.CPU || target.dtype != ToScalarType(info.DType) || !target.is_contiguous()
            || !info.Shape.SequenceEqual(target.shape) || info.ByteLength > int.MaxValue) return false;
        ReadData(name, info, target);
        return true;
    }

    // Straight into the tensor's storage: no intermediate managed copy of the weights.
    private void ReadData(string name, SafeTensorInfo info, Tensor t)
    {
        if (info.ByteLength == 0) return;
        var span = t.bytes;
        long done = 0;
        while (done < info.ByteLength)
        {
            int chunk = (int)Math.Min(int.MaxValue / 2, info.ByteLength - done);
            int read = RandomAccess.Read(_stream.SafeFileHandle, span.Slice((int)done, chunk), _dataStart + info.Begin + done);
            if (read <= 0) throw GlanceException.ForFile(Path, $"tensor '{name}': unexpected end of file");
            done += read;
        }
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>
    /// Writes tensors to <paramref name="path"/> atomically (temp file, then rename), keys sorted as the
    /// reference writer does, data 8-byte aligned through header padding.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        var cpu = new List<Tensor>(items.Count);
        try
        {
            foreach (var (name, tensor) in items)
            {
                var c = tensor.detach().cpu().contiguous();
                cpu.Add(c);
                long n = c.NumberOfElements * c.ElementSize;
                header[name] = new JsonObject
                {
                    ["dtype"] = FromScalarType(c.dtype),
                    ["shape"] = new JsonArray(c.shape.Select(s => (JsonNode)s).ToArray()),
                    ["data_offsets"] = new JsonArray(offset, offset + n),
                };
                offset += n;
            }
            var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
            int pad = (8 - headerBytes.Length % 8) % 8;
            var padded = new byte[headerBytes.Length + pad];
            headerBytes.CopyTo(padded, 0);
            for (int i = headerBytes.Length; i < padded.Length; i++) padded[i] = (byte)' ';

            AtomicFile.Write(path, stream =>
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded.Length);
                stream.Write(len);
                stream.Write(padded);
                foreach (var c in cpu) stream.Write(c.bytes);
            });
        }
        finally
        {
            foreach (var c in cpu) c.Dispose();
        }
    }
}
