using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.IO;

/// <summary>Writes pickle opcodes by hand, for the hostile pickles the tests feed the reader.</summary>
internal sealed class PickleBuilder
{
    private readonly List<byte> _bytes = [];

    public byte[] Bytes => _bytes.ToArray();

    public PickleBuilder Op(char op) { _bytes.Add((byte)op); return this; }
    public PickleBuilder Op(byte op) { _bytes.Add(op); return this; }
    public PickleBuilder Raw(params byte[] bytes) { _bytes.AddRange(bytes); return this; }
    public PickleBuilder Proto(int version = 2) => Op(0x80).Raw((byte)version);
    public PickleBuilder Global(string module, string name) => Op('c').Raw(Encoding.UTF8.GetBytes($"{module}\n{name}\n"));
    public PickleBuilder Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op('X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, b.Length);
        return Raw(n.ToArray()).Raw(b);
    }
    public PickleBuilder ShortStr(string s) => Op(0x8c).Raw((byte)s.Length).Raw(Encoding.UTF8.GetBytes(s));
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op('K').Raw((byte)v);
        if (v is >= int.MinValue and <= int.MaxValue)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            return Op('J').Raw(b);
        }
        var l = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(l, v);
        return Op(0x8a).Raw(8).Raw(l);
    }
    public PickleBuilder Ints(params long[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Tuple();
    }
    public PickleBuilder Mark() => Op('(');
    public PickleBuilder Tuple() => Op('t');
    public PickleBuilder Tuple1() => Op(0x85);
    public PickleBuilder EmptyTuple() => Op(')');
    public PickleBuilder EmptyDict() => Op('}');
    public PickleBuilder Reduce() => Op('R');
    public PickleBuilder Build() => Op('b');
    public PickleBuilder SetItems() => Op('u');
    public PickleBuilder SetItem() => Op('s');
    public PickleBuilder False() => Op(0x89);
    public PickleBuilder Put(byte i) => Op('q').Raw(i);
    public PickleBuilder Get(byte i) => Op('h').Raw(i);
    public PickleBuilder Stop() => Op('.');

    /// <summary><c>collections.OrderedDict()</c>, as torch.save starts a state dict.</summary>
    public PickleBuilder OrderedDict() => Global("collections", "OrderedDict").EmptyTuple().Reduce();

    /// <summary>The persistent id of storage <paramref name="key"/>: <c>('storage', torch.{type}, key, 'cpu', numel)</c>.</summary>
    public PickleBuilder Storage(string type, string key, long numel) =>
        Mark().Str("storage").Global("torch", type).Str(key).Str("cpu").Int(numel).Tuple().Op('Q');

    /// <summary><c>_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())</c>.</summary>
    public PickleBuilder Tensor(string type, string key, long numel, long offset, long[] size, long[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Storage(type, key, numel).Int(offset).Ints(size).Ints(stride).False().OrderedDict();
        return Tuple().Reduce();
    }
}

/// <summary>
/// What <c>torch.save(state_dict, path)</c> writes, reproduced for tests that need a checkpoint made from
/// TorchSharp tensors (the reader itself is checked against real torch.save files in tests/fixtures/pickle;
/// this writer's output was checked once the other way, loaded by torch 1.13's <c>torch.load(weights_only=True)</c>
/// with its values, dtypes and <c>_metadata</c> intact):
/// a zip of stored entries <c>{prefix}/data.pkl</c>, <c>{prefix}/data/{key}</c>, <c>{prefix}/version</c>,
/// <c>{prefix}/byteorder</c>; the pickle as torch 1.13 writes it (OrderedDict, _rebuild_tensor_v2 per
/// tensor, one storage per tensor, <c>_metadata</c> set by BUILD).
/// </summary>
internal static class TorchSaveWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> stateDict)
    {
        var p = new PickleBuilder().Proto().OrderedDict().Mark();
        var storages = new Dictionary<string, byte[]>();
        foreach (var (name, tensor) in stateDict)
        {
            using var c = tensor.detach().cpu().contiguous();
            string key = storages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            storages[key] = c.bytes.ToArray();
            long[] stride = Strides(c.shape);
            p.Str(name).Tensor(StorageType(c.dtype), key, c.NumberOfElements, 0, c.shape, stride);
        }
        p.SetItems();
        // state_dict()._metadata, as BUILD on the OrderedDict
        p.EmptyDict().Str("_metadata").OrderedDict().Mark().Str("").EmptyDict().Str("version").Int(1).SetItem().SetItems().SetItem().Build();
        WriteZip(path, p.Stop().Bytes, storages);
    }

    /// <summary>A torch.save zip around any pickle and storage records (entries stored, as torch writes them).</summary>
    public static void WriteZip(string path, byte[] pickle, IReadOnlyDictionary<string, byte[]> storages, string prefix = "archive",
        string version = "3\n", string? byteorder = "little", CompressionLevel storageCompression = CompressionLevel.NoCompression)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        void Entry(string name, byte[] bytes, CompressionLevel level = CompressionLevel.NoCompression)
        {
            using var s = zip.CreateEntry($"{prefix}/{name}", level).Open();
            s.Write(bytes);
        }
        Entry("data.pkl", pickle);
        if (byteorder is not null) Entry("byteorder", Encoding.ASCII.GetBytes(byteorder));
        foreach (var (key, bytes) in storages) Entry($"data/{key}", bytes, storageCompression);
        Entry("version", Encoding.ASCII.GetBytes(version));
    }

    public static long[] Strides(long[] shape)
    {
        var stride = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { stride[i] = s; s *= Math.Max(1, shape[i]); }
        return stride;
    }

    public static string StorageType(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "FloatStorage", ScalarType.Float16 => "HalfStorage", ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Float64 => "DoubleStorage", ScalarType.Int64 => "LongStorage", ScalarType.Int32 => "IntStorage",
        ScalarType.Bool => "BoolStorage", ScalarType.Byte => "ByteStorage",
        _ => throw new ArgumentException($"no storage type for {dtype}"),
    };
}
