using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace SharpGlance.IO;

/// <summary>A storage a pickle points to by persistent id: <c>('storage', torch.FloatStorage, key, location, numel)</c>.</summary>
public sealed record PickledStorage(string Key, ScalarType DType, long Numel);

/// <summary>A tensor a pickle rebuilds: a strided view of <paramref name="Storage"/> (offsets and strides in elements).</summary>
public sealed record PickledTensor(PickledStorage Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>
/// The pickle machine of <c>torch.load(weights_only=True)</c> (torch/_weights_only_unpickler.py), written
/// here because no .NET library unpickles with an allowlist: the .NET pickle readers (Razorvine.Pickle and
/// its ports) construct whatever class a pickle names, which is exactly how a pickle runs code. This one
/// never runs anything: values are inert C# objects (null, bool, long, double, string, byte[], tuples as
/// <c>object?[]</c>, <see cref="PickleList"/>, <see cref="PickleDict"/>), and a global is only a name
/// looked up in <see cref="Allowed"/>. Only the calls a state dict needs are carried out, by our code:
/// <c>OrderedDict()</c>, <c>torch.Size(t)</c> and the tensor rebuild functions, which make a
/// <see cref="PickledTensor"/> (a description; no data is read here). Any other global, any call of
/// something else, INST/OBJ/NEWOBJ, and a BUILD on anything but a dict are refused. The machine is a
/// loop over the bytes with no recursion, so deep nesting costs memory in proportion to the file only.
/// </summary>
public sealed class RestrictedUnpickler
{
    /// <summary>A refusal or a malformed pickle; the message is one line, without the file name.</summary>
    public sealed class PickleException(string message) : Exception(message);

    /// <summary>A Python list (mutable, so memo references share it as Python does).</summary>
    public sealed class PickleList : List<object?>;

    /// <summary>A dict or OrderedDict: its items in insertion order, a later key replacing an earlier one.</summary>
    public sealed class PickleDict
    {
        private readonly Dictionary<object, int> _index = new();
        public List<KeyValuePair<object?, object?>> Items { get; } = [];

        public void Set(object? key, object? value)
        {
            if (key is not (string or long or bool or double or null or byte[]))
                throw new PickleException($"a dict key of type {TypeName(key)} (state dicts are keyed by strings)");
            object k = key ?? DBNull.Value;
            if (key is byte[] b) k = Convert.ToHexString(b) + "\0bytes";
            if (_index.TryGetValue(k, out int i)) Items[i] = new(key, value);
            else { _index[k] = Items.Count; Items.Add(new(key, value)); }
        }
    }

    /// <summary>A global the pickle named and the allowlist admits.</summary>
    private sealed record Global(string Name);

    /// <summary>The storage types torch.save names in a persistent id, and their dtypes.</summary>
    public static readonly IReadOnlyDictionary<string, ScalarType> StorageTypes = new Dictionary<string, ScalarType>
    {
        ["torch.DoubleStorage"] = ScalarType.Float64, ["torch.FloatStorage"] = ScalarType.Float32,
        ["torch.HalfStorage"] = ScalarType.Float16, ["torch.BFloat16Storage"] = ScalarType.BFloat16,
        ["torch.LongStorage"] = ScalarType.Int64, ["torch.IntStorage"] = ScalarType.Int32,
        ["torch.ShortStorage"] = ScalarType.Int16, ["torch.CharStorage"] = ScalarType.Int8,
        ["torch.ByteStorage"] = ScalarType.Byte, ["torch.BoolStorage"] = ScalarType.Bool,
    };

    private const string RebuildTensorV2 = "torch._utils._rebuild_tensor_v2", RebuildTensor = "torch._utils._rebuild_tensor",
        RebuildParameter = "torch._utils._rebuild_parameter", OrderedDict = "collections.OrderedDict", TorchSize = "torch.Size";

    /// <summary>
    /// The globals a state dict needs, a subset of weights_only's: the functions that rebuild tensors and
    /// parameters, the storage types (data, never called), OrderedDict and torch.Size.
    /// </summary>
    public static readonly IReadOnlySet<string> Allowed =
        new HashSet<string>([RebuildTensorV2, RebuildTensor, RebuildParameter, OrderedDict, TorchSize, .. StorageTypes.Keys]);

    /// <summary>Open MARKs allowed at once: a state dict nests four deep; a pickle nesting thousands is not one.</summary>
    public const int MaxDepth = 1000;

    private readonly byte[] _data;
    private readonly Func<string, ScalarType, long, PickledStorage> _storage;
    private int _pos;
    private List<object?> _stack = [];
    private readonly Stack<List<object?>> _metastack = new();
    private readonly Dictionary<long, object?> _memo = new();

    /// <param name="storage">Resolves a persistent id's (key, dtype, numel) to a storage, checking it is in the file.</param>
    private RestrictedUnpickler(byte[] data, Func<string, ScalarType, long, PickledStorage> storage)
    {
        _data = data;
        _storage = storage;
    }

    /// <summary>Runs the pickle in <paramref name="data"/> and returns the object it builds; throws <see cref="PickleException"/>.</summary>
    public static object? Load(byte[] data, Func<string, ScalarType, long, PickledStorage> storage) =>
        new RestrictedUnpickler(data, storage).Run();

    private object? Run()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw new PickleException($"the pickle ends at byte {_pos} without STOP (truncated)");
            int at = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: Bytes(1); break;                                       // PROTO
                case 0x95: Bytes(8); break;                                       // FRAME (protocol 4): a length hint
                case (byte)'.':                                                   // STOP
                    if (_metastack.Count > 0) throw new PickleException($"STOP at byte {at} inside an unclosed MARK");
                    return Pop(at);

                // ---- the risky operators: only allowlisted names, only our own calls
                case (byte)'c': Push(Admit(ReadLine(at) + "." + ReadLine(at), at)); break;             // GLOBAL
                case 0x93:                                                        // STACK_GLOBAL
                {
                    var name = Pop(at); var module = Pop(at);
                    if (module is not string m || name is not string n) throw new PickleException($"STACK_GLOBAL at byte {at} with non-string names");
                    Push(Admit(m + "." + n, at));
                    break;
                }
                case (byte)'R':                                                   // REDUCE: callable(*args)
                {
                    var args = Pop(at);
                    var callable = Pop(at);
                    Push(Call(callable, args, at));
                    break;
                }
                case (byte)'b':                                                   // BUILD: obj.__setstate__(state)
                {
                    var state = Pop(at);
                    var target = Peek(at);
                    // torch.save's state dict carries `_metadata` as OrderedDict attributes; weights_only sets
                    // them, we have no use for them. BUILD on anything else (a legacy Tensor.set_, a class) is refused.
                    if (target is not PickleDict || state is not (PickleDict or null))
                        throw new PickleException($"BUILD at byte {at} sets the state of {TypeName(target)}; only a dict's attributes may be set");
                    break;
                }
                case (byte)'Q':                                                   // BINPERSID: a storage
                    Push(Persistent(Pop(at), at));
                    break;
                case (byte)'i': case (byte)'o': case 0x81: case 0x92:             // INST, OBJ, NEWOBJ, NEWOBJ_EX
                    throw new PickleException($"{OpName(op)} at byte {at} constructs an object; a state dict is built only by the allowlisted tensor functions (nothing was run)");

                // ---- containers
                case (byte)'(':                                                                   // MARK
                    if (_metastack.Count >= MaxDepth) throw new PickleException($"MARK at byte {at} nests deeper than {MaxDepth} levels; a state dict needs a few");
                    _metastack.Push(_stack); _stack = [];
                    break;
                case (byte)'t': Push(PopMark(at).ToArray()); break;                               // TUPLE
                case 0x85: Push(new[] { Pop(at) }); break;                                        // TUPLE1
                case 0x86: { var b = Pop(at); var a = Pop(at); Push(new[] { a, b }); break; }     // TUPLE2
                case 0x87: { var c = Pop(at); var b = Pop(at); var a = Pop(at); Push(new[] { a, b, c }); break; } // TUPLE3
                case (byte)')': Push(Array.Empty<object?>()); break;                              // EMPTY_TUPLE
                case (byte)']': Push(new PickleList()); break;                                    // EMPTY_LIST
                case (byte)'}': Push(new PickleDict()); break;                                    // EMPTY_DICT
                case (byte)'a':                                                                   // APPEND
                {
                    var item = Pop(at);
                    List(Peek(at), at).Add(item);
                    break;
                }
                case (byte)'e':                                                                   // APPENDS
                {
                    var items = PopMark(at);
                    List(Peek(at), at).AddRange(items);
                    break;
                }
                case (byte)'s':                                                                   // SETITEM
                {
                    var value = Pop(at); var key = Pop(at);
                    Dict(Peek(at), at).Set(key, value);
                    break;
                }
                case (byte)'u':                                                                   // SETITEMS
                {
                    var items = PopMark(at);
                    if (items.Count % 2 != 0) throw new PickleException($"SETITEMS at byte {at} with an odd number of items");
                    var dict = Dict(Peek(at), at);
                    for (int i = 0; i < items.Count; i += 2) dict.Set(items[i], items[i + 1]);
                    break;
                }

                // ---- scalars
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break;   // BININT
                case (byte)'K': Push((long)Bytes(1)[0]); break;                                         // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break;  // BININT2
                case 0x8a: Push(Long(Bytes(Bytes(1)[0]), at)); break;                                   // LONG1
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break;           // BINFLOAT
                case (byte)'X': Push(Utf8(Bytes(Length(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)), at)), at)); break; // BINUNICODE
                case 0x8c: Push(Utf8(Bytes(Bytes(1)[0]), at)); break;                                   // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(Bytes(Length(BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8)), at)), at)); break; // BINUNICODE8
                case (byte)'U': Push(Latin1(Bytes(Bytes(1)[0]))); break;                                // SHORT_BINSTRING
                case (byte)'T': Push(Latin1(Bytes(Length(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)), at)))); break; // BINSTRING
                case (byte)'C': Push(Bytes(Bytes(1)[0]).ToArray()); break;                              // SHORT_BINBYTES
                case (byte)'B': Push(Bytes(Length(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)), at)).ToArray()); break; // BINBYTES

                // ---- the memo
                case (byte)'q': _memo[Bytes(1)[0]] = Peek(at); break;                                   // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4))] = Peek(at); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(at); break;                                        // MEMOIZE
                case (byte)'h': Push(Memo(Bytes(1)[0], at)); break;                                     // BINGET
                case (byte)'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)), at)); break; // LONG_BINGET

                default:
                    throw new PickleException($"{OpName(op)} at byte {at} is not an operation a state dict uses");
            }
        }
    }

    private static object Admit(string name, int at) => Allowed.Contains(name)
        ? new Global(name)
        : throw new PickleException($"it asks for the global '{name}' at byte {at}, which a state dict never needs (allowed: tensor rebuild functions, storage types, OrderedDict, torch.Size); nothing was run");

    /// <summary>REDUCE: the few calls a state dict makes, done by our code on inert values.</summary>
    private object? Call(object? callable, object? args, int at)
    {
        if (callable is not Global g || g.Name is not (RebuildTensorV2 or RebuildTensor or RebuildParameter or OrderedDict or TorchSize))
            throw new PickleException($"REDUCE at byte {at} calls {Describe(callable)}, which is not one of the allowed functions; nothing was run");
        if (args is not object?[] a) throw new PickleException($"REDUCE at byte {at}: the arguments of {g.Name} are {TypeName(args)}, not a tuple");
        switch (g.Name)
        {
            case OrderedDict:
                if (a.Length != 0) throw new PickleException($"REDUCE at byte {at}: OrderedDict called with arguments");
                return new PickleDict();
            case TorchSize:
                if (a.Length != 1 || a[0] is not object?[] dims || dims.Any(d => d is not long))
                    throw new PickleException($"REDUCE at byte {at}: torch.Size of something other than a tuple of integers");
                return dims;
            case RebuildParameter:
                // _rebuild_parameter(data, requires_grad, backward_hooks): the parameter is its tensor.
                if (a.Length != 3 || a[0] is not PickledTensor p) throw new PickleException($"REDUCE at byte {at}: _rebuild_parameter needs (tensor, requires_grad, hooks)");
                return p;
            default:
                // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]);
                // _rebuild_tensor(storage, offset, size, stride).
                int expected = g.Name == RebuildTensor ? 4 : 6;
                if (a.Length != expected && !(g.Name == RebuildTensorV2 && a.Length == 7))
                    throw new PickleException($"REDUCE at byte {at}: {g.Name} with {a.Length} arguments");
                if (a[0] is not PickledStorage storage) throw new PickleException($"REDUCE at byte {at}: {g.Name} of {TypeName(a[0])}, not a storage");
                return View(storage, a[1], a[2], a[3], at);
        }
    }

    /// <summary>A tensor's view of its storage, checked: shape and strides agree, every element lies inside the storage.</summary>
    private static PickledTensor View(PickledStorage storage, object? offset, object? size, object? stride, int at)
    {
        if (offset is not long off || off < 0) throw new PickleException($"tensor at byte {at}: storage offset {Describe(offset)} is not a non-negative integer");
        long[] shape = Ints(size, "size", at), strides = Ints(stride, "stride", at);
        if (shape.Length != strides.Length) throw new PickleException($"tensor at byte {at}: size has {shape.Length} dimensions but stride {strides.Length}");
        try
        {
            long numel = shape.Aggregate(1L, (x, y) => checked(x * y));
            if (numel > 0)
            {
                long last = off;
                for (int i = 0; i < shape.Length; i++) last = checked(last + (shape[i] - 1) * strides[i]);
                if (last >= storage.Numel)
                    throw new PickleException($"tensor at byte {at}: its view (offset {off}, size [{string.Join(", ", shape)}], stride [{string.Join(", ", strides)}]) reaches element {last} of storage '{storage.Key}', which holds {storage.Numel}");
            }
        }
        catch (OverflowException)
        {
            throw new PickleException($"tensor at byte {at}: size [{string.Join(", ", shape)}] overflows");
        }
        return new PickledTensor(storage, off, shape, strides);
    }

    private static long[] Ints(object? value, string what, int at) =>
        value is object?[] t && t.All(x => x is long v && v >= 0) ? t.Select(x => (long)x!).ToArray()
            : throw new PickleException($"tensor at byte {at}: {what} {Describe(value)} is not a tuple of non-negative integers");

    /// <summary>BINPERSID: only <c>('storage', storage type, key, location, numel)</c>, as torch.save writes it.</summary>
    private PickledStorage Persistent(object? pid, int at)
    {
        if (pid is not object?[] { Length: 5 } t || (t[0] is string s ? s : t[0] is byte[] b ? Encoding.ASCII.GetString(b) : null) != "storage")
            throw new PickleException($"persistent id at byte {at} is {Describe(pid)}, not ('storage', type, key, location, numel)");
        if (t[1] is not Global g || !StorageTypes.TryGetValue(g.Name, out var dtype))
            throw new PickleException($"persistent id at byte {at}: {Describe(t[1])} is not a storage type");
        if (t[2] is not string key || t[3] is not string || t[4] is not long numel || numel < 0)
            throw new PickleException($"persistent id at byte {at}: {Describe(pid)} is not ('storage', type, key, location, numel)");
        return _storage(key, dtype, numel);
    }

    // ---- stack, memo and bytes --------------------------------------------------------------------

    private void Push(object? value) => _stack.Add(value);

    private object? Pop(int at)
    {
        if (_stack.Count == 0) throw new PickleException($"stack underflow at byte {at}");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek(int at) => _stack.Count > 0 ? _stack[^1] : throw new PickleException($"stack underflow at byte {at}");

    private List<object?> PopMark(int at)
    {
        if (_metastack.Count == 0) throw new PickleException($"{OpName(_data[at])} at byte {at} without a MARK");
        var items = _stack;
        _stack = _metastack.Pop();
        return items;
    }

    private object? Memo(long index, int at) =>
        _memo.TryGetValue(index, out var v) ? v : throw new PickleException($"memo entry {index} read at byte {at} was never stored");

    private static PickleList List(object? target, int at) =>
        target as PickleList ?? throw new PickleException($"APPEND at byte {at} to {TypeName(target)}, not a list");

    private static PickleDict Dict(object? target, int at) =>
        target as PickleDict ?? throw new PickleException($"SETITEM at byte {at} on {TypeName(target)}, not a dict");

    private ReadOnlySpan<byte> Bytes(int n)
    {
        if (n > _data.Length - _pos) throw new PickleException($"the pickle ends at byte {_data.Length}, inside an operation that needs {n} more bytes from byte {_pos} (truncated)");
        var span = _data.AsSpan(_pos, n);
        _pos += n;
        return span;
    }

    private int Length(ulong n, int at) =>
        n <= (ulong)(_data.Length - _pos) ? (int)n : throw new PickleException($"a string at byte {at} claims {n} bytes but {_data.Length - _pos} remain (truncated)");

    private string ReadLine(int at)
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw new PickleException($"GLOBAL at byte {at} without a line end (truncated)");
        var line = Utf8(_data.AsSpan(_pos, end - _pos), at);
        _pos = end + 1;
        return line;
    }

    private static string Utf8(ReadOnlySpan<byte> bytes, int at)
    {
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw new PickleException($"a string at byte {at} is not UTF-8"); }
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    private static long Long(ReadOnlySpan<byte> bytes, int at)
    {
        if (bytes.Length > 8) throw new PickleException($"LONG1 at byte {at}: an integer of {bytes.Length} bytes");
        if (bytes.Length == 0) return 0;
        Span<byte> full = stackalloc byte[8];
        full.Fill((bytes[^1] & 0x80) != 0 ? (byte)0xff : (byte)0);
        bytes.CopyTo(full);
        return BinaryPrimitives.ReadInt64LittleEndian(full);
    }

    private static string OpName(byte op) => op switch
    {
        (byte)'i' => "INST", (byte)'o' => "OBJ", 0x81 => "NEWOBJ", 0x92 => "NEWOBJ_EX", (byte)'P' => "PERSID",
        0x82 or 0x83 or 0x84 => "EXT", (byte)'e' => "APPENDS", (byte)'t' => "TUPLE", (byte)'u' => "SETITEMS",
        _ => op is >= 0x20 and < 0x7f ? $"opcode '{(char)op}'" : $"opcode 0x{op:x2}",
    };

    internal static string TypeName(object? v) => v switch
    {
        null => "None", bool => "a bool", long => "an int", double => "a float", string => "a string", byte[] => "bytes",
        object?[] => "a tuple", PickleList => "a list", PickleDict => "a dict", Global g => g.Name,
        PickledStorage => "a storage", PickledTensor => "a tensor", _ => v.GetType().Name,
    };

    /// <summary>A short description of a value for an error line (not recursive beyond one level).</summary>
    private static string Describe(object? v) => v switch
    {
        string s => $"'{(s.Length > 40 ? s[..40] + "…" : s)}'",
        long n => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
        object?[] t => "(" + string.Join(", ", t.Take(6).Select(TypeName)) + (t.Length > 6 ? ", …" : "") + ")",
        _ => TypeName(v),
    };
}
