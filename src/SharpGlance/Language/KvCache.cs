using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Language;

/// <summary>
/// A preallocated key/value cache for a decoder (llama2.c's <c>key_cache</c>/<c>value_cache</c>): per layer
/// one K and one V buffer of shape [batch, heads, maxLength, headDim], allocated once. A forward pass
/// writes its new tokens' K and V at rows [Length, Length + T) and attends over [0, Length + T); nothing
/// grows per token. <see cref="Reorder(long[], long)"/> permutes the batch rows for beam search (HF's
/// <c>_reorder_cache</c>). The buffers live outside every dispose scope; dispose the cache to free them.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    public int NumLayers { get; }
    public long Batch { get; }
    public long Heads { get; }
    public long HeadDim { get; }
    public long MaxLength { get; }
    /// <summary>Tokens written so far (the same for every row; padding is expressed by the attention mask).</summary>
    public long Length { get; private set; }
    public ScalarType DType { get; }
    public Device Device { get; }

    public KvCache(int numLayers, long batch, long heads, long maxLength, long headDim, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (numLayers <= 0 || batch <= 0 || heads <= 0 || maxLength <= 0 || headDim <= 0)
            throw new ArgumentException($"KvCache: every size must be positive (layers {numLayers}, batch {batch}, heads {heads}, maxLength {maxLength}, headDim {headDim})");
        NumLayers = numLayers; Batch = batch; Heads = heads; MaxLength = maxLength; HeadDim = headDim;
        DType = dtype; Device = device ?? CPU;
        _keys = new Tensor[numLayers];
        _values = new Tensor[numLayers];
        for (int i = 0; i < numLayers; i++)
        {
            _keys[i] = empty([batch, heads, maxLength, headDim], dtype, Device).DetachFromDisposeScope();
            _values[i] = empty([batch, heads, maxLength, headDim], dtype, Device).DetachFromDisposeScope();
        }
    }

    /// <summary>A cache shaped for <paramref name="config"/>'s attention.</summary>
    public static KvCache For(OptConfig config, long batch, long maxLength, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        new(config.NumHiddenLayers, batch, config.NumAttentionHeads, maxLength, config.HeadDim, dtype, device);

    /// <summary>Room left for new tokens.</summary>
    public long Remaining => MaxLength - Length;

    /// <summary>
    /// Writes <paramref name="k"/>, <paramref name="v"/> [Batch, Heads, T, HeadDim] at rows [Length, Length+T)
    /// of layer <paramref name="layer"/> and returns views of rows [0, Length+T). <see cref="Length"/> moves
    /// on only at <see cref="Advance"/>, after the last layer.
    /// </summary>
    internal (Tensor keys, Tensor values) Append(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        if (k.shape[0] != Batch || k.shape[1] != Heads || k.shape[3] != HeadDim)
            throw new GlanceException($"KvCache: keys of shape [{string.Join(", ", k.shape)}] do not fit a cache of [{Batch}, {Heads}, {MaxLength}, {HeadDim}]");
        if (Length + t > MaxLength)
            throw new GlanceException($"KvCache: {Length} cached + {t} new tokens exceed its {MaxLength} rows");
        _keys[layer].narrow(2, Length, t).copy_(k);
        _values[layer].narrow(2, Length, t).copy_(v);
        return (_keys[layer].narrow(2, 0, Length + t), _values[layer].narrow(2, 0, Length + t));
    }

    internal void Advance(long t) => Length += t;

    /// <summary>Forgets every token (the buffers are reused).</summary>
    public void Reset() => Length = 0;

    /// <summary>
    /// Row i becomes old row <paramref name="rowIndex"/>[i] (HF's <c>_reorder_cache</c> with beam_idx). Only the
    /// written positions from <paramref name="fromPosition"/> on are gathered: beam search passes the
    /// prompt length, since every beam of a prompt holds the same prefill K/V (copied by
    /// <see cref="SelectRows"/>) and beams never move to another prompt — re-copying the ~600-token
    /// visual+text prefix of every layer at every step would dominate the step's cost. An identity
    /// permutation costs nothing.
    /// </summary>
    public void Reorder(long[] rowIndex, long fromPosition = 0)
    {
        if (rowIndex.Length != Batch) throw new ArgumentException($"KvCache.Reorder: {rowIndex.Length} indices for {Batch} rows");
        bool identity = true;
        for (int i = 0; i < rowIndex.Length && identity; i++) identity = rowIndex[i] == i;
        if (identity || Length <= fromPosition) return;
        using var idx = tensor(rowIndex, device: Device);
        Reorder(idx, fromPosition);
    }

    /// <summary>As <see cref="Reorder(long[], long)"/> with an int64 index tensor [Batch].</summary>
    public void Reorder(Tensor rowIndex, long fromPosition = 0)
    {
        if (rowIndex.dim() != 1 || rowIndex.shape[0] != Batch) throw new ArgumentException($"KvCache.Reorder: index of shape [{string.Join(", ", rowIndex.shape)}], expected [{Batch}]");
        if (fromPosition < 0) throw new ArgumentException($"KvCache.Reorder: fromPosition {fromPosition} < 0");
        if (Length <= fromPosition) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long n = Length - fromPosition;
        for (int i = 0; i < NumLayers; i++)
        {
            var liveK = _keys[i].narrow(2, fromPosition, n);
            liveK.copy_(liveK.index_select(0, rowIndex));
            var liveV = _values[i].narrow(2, fromPosition, n);
            liveV.copy_(liveV.index_select(0, rowIndex));
        }
    }

    /// <summary>
    /// A new cache whose row i holds this cache's row <paramref name="rowIndex"/>[i] (e.g. each prompt's
    /// prefill repeated once per beam), with room for <paramref name="maxLength"/> tokens.
    /// </summary>
    public KvCache SelectRows(long[] rowIndex, long? maxLength = null)
    {
        long max = maxLength ?? MaxLength;
        if (max < Length) throw new ArgumentException($"KvCache.SelectRows: maxLength {max} < {Length} cached tokens");
        var result = new KvCache(NumLayers, rowIndex.Length, Heads, max, HeadDim, DType, Device);
        if (Length == 0) return result;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var idx = tensor(rowIndex, device: Device);
        for (int i = 0; i < NumLayers; i++)
        {
            result._keys[i].narrow(2, 0, Length).copy_(_keys[i].narrow(2, 0, Length).index_select(0, idx));
            result._values[i].narrow(2, 0, Length).copy_(_values[i].narrow(2, 0, Length).index_select(0, idx));
        }
        result.Length = Length;
        return result;
    }

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
