using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Nn;

/// <summary>
/// Additive attention masks in HF's convention: 0 where a key may be attended, the dtype's most negative
/// finite value (<c>torch.finfo(dtype).min</c>) where not. A finite value, not −inf, so a query row with
/// every key masked (a left-padding position) gives a uniform softmax instead of NaNs that would spread.
/// </summary>
public static class AttentionMasks
{
    public static double MinValue(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => -65504.0,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        ScalarType.Float64 => double.MinValue,
        _ => float.MinValue,
    };

    /// <summary>
    /// [B, 1, T, past+T]: query i (absolute position past+i) sees key j when j ≤ past+i and
    /// <paramref name="keyMask"/>[b, j] ≠ 0 (HF's <c>_prepare_4d_causal_attention_mask</c>: one combined
    /// mask whose masked entries are all exactly finfo.min).
    /// </summary>
    public static Tensor CausalWithPadding(Tensor? keyMask, long batch, long queryLength, long past, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        long keys = past + queryLength;
        var q = arange(past, keys, ScalarType.Int64, device).unsqueeze(1);   // [T, 1]
        var k = arange(0, keys, ScalarType.Int64, device).unsqueeze(0);      // [1, L]
        var blocked = k.gt(q).unsqueeze(0).unsqueeze(0);                     // [1, 1, T, L]
        if (keyMask is not null)
            blocked = blocked.logical_or(keyMask.eq(0).view(batch, 1, 1, keys));
        var mask = zeros(blocked.shape, dtype, device).masked_fill_(blocked, MinValue(dtype));
        return mask.expand(batch, 1, queryLength, keys).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// [B, 1, 1, <paramref name="visiblePrefix"/>+L]: padding only (for a single query token, or a non-causal
    /// encoder), as transformers' <c>_prepare_4d_attention_mask</c>; the first <paramref name="visiblePrefix"/>
    /// keys (DeepLens's visual tokens before the caption's) are always attended.
    /// </summary>
    public static Tensor Padding(Tensor keyMask, ScalarType dtype, long visiblePrefix = 0)
    {
        using var scope = NewDisposeScope();
        var b = keyMask.shape[0];
        var blocked = keyMask.eq(0);
        if (visiblePrefix > 0) blocked = cat([zeros(b, visiblePrefix, ScalarType.Bool, keyMask.device), blocked], 1);
        var l = blocked.shape[1];
        var mask = zeros([b, 1, 1, l], dtype, keyMask.device).masked_fill_(blocked.view(b, 1, 1, l), MinValue(dtype));
        return mask.MoveToOuterDisposeScope();
    }
}
