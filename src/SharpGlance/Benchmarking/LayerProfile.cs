using System.Diagnostics;
using SharpGlance.Language;
using SharpGlance.Nn;
using SharpGlance.Runtime;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Benchmarking;

/// <summary>One step of a block and its median time over the runs.</summary>
public sealed record ProfileStep(string Block, string Step, double MedianMs);

/// <summary>
/// <c>glance bench --profile</c>: where a block's time goes, step by step, for the three blocks that make a
/// caption — a ViT-L block over 577 tokens (×23 per image), an OPT-125M block over the 591-token prefill
/// (×12) and an OPT block decoding one token against a ~600-token cache (×12 per token), plus the LM head
/// of a decode step. The steps mirror the modules' forward code on random weights (each step timed
/// alone, so the sum is a little above the block's own time), in the number format inference would use
/// (<c>--precision</c>).
/// </summary>
public static class LayerProfile
{
    public static IReadOnlyList<ProfileStep> Run(int repeats = 10, IProgress<ProgressUpdate>? progress = null, ScalarType dtype = ScalarType.Float32)
    {
        if (repeats < 1) throw new GlanceException($"repeats must be at least 1 (got {repeats})");
        using var _ = no_grad();
        using var g = new Generator(0);
        var steps = new List<ProfileStep>();
        var vc = ClipVisionConfig.VitL14_336;
        using (var vit = new ClipEncoderLayer(vc, null, dtype))
        {
            RandomCaptioner.FillCheaply(vit, g);
            using var x = randn([1, vc.NumPositions, vc.HiddenSize], dtype: dtype, generator: g);
            steps.AddRange(ProfileVit(vit, x, vc.NumAttentionHeads, repeats));
        }
        progress?.Report(new ProgressUpdate(1, 3));

        var oc = OptConfig.Opt125m;
        // Twelve layers, as in OPT-125M: a decode step streams each layer's 28 MB of weights from memory
        // once, which one layer timed over and over (cache-resident) would hide.
        var opts = Enumerable.Range(0, oc.NumHiddenLayers).Select(_ => new OptDecoderLayer(oc, null, dtype)).ToList();
        try
        {
            foreach (var l in opts) RandomCaptioner.FillCheaply(l, g);
            using var x = randn([1, 591, oc.HiddenSize], dtype: dtype, generator: g);
            steps.AddRange(ProfileOpt("opt prefill (591 tokens)", opts.Take(2).ToList(), x, oc.NumAttentionHeads, past: 0, repeats));
            progress?.Report(new ProgressUpdate(2, 3));
            using var one = randn([1, 1, oc.HiddenSize], dtype: dtype, generator: g);
            steps.AddRange(ProfileOpt("opt decode (1 token, 600 cached)", opts, one, oc.NumAttentionHeads, past: 600, repeats * 5));
        }
        finally
        {
            foreach (var l in opts) l.Dispose();
        }
        using (var head = new Nn.Linear(new TorchSharp.Modules.Parameter((randn([oc.VocabSize, oc.EmbeddingDim], generator: g) * 0.02).to(dtype), requires_grad: false)))
        using (var h = randn([1, 1, oc.EmbeddingDim], dtype: dtype, generator: g))
        {
            steps.Add(new ProfileStep("lm head (decode)", "logits [1, 50272]", Time(() => head.forward(h), repeats * 10)));
            using var logits = head.forward(h).select(1, 0);
            steps.Add(new ProfileStep("lm head (decode)", "suppress + argmax", Time(() =>
            {
                var s = logits.clone();
                s.narrow(-1, 50265, 7).fill_(double.NegativeInfinity);
                return s.argmax(-1);
            }, repeats * 10)));
        }
        progress?.Report(new ProgressUpdate(3, 3));
        return steps;
    }

    private static double Time(Func<Tensor> step, int repeats)
    {
        using (NewDisposeScope()) step();   // (disposes what the step made, never an input it returns)
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            using (NewDisposeScope()) step();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        return TimingStats.Of(times).Median;
    }

    private static IEnumerable<ProfileStep> ProfileVit(ClipEncoderLayer layer, Tensor x, int heads, int repeats)
    {
        const string block = "vit block (577 tokens)";
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / heads;
        var a = layer.self_attn;
        using var scope = NewDisposeScope();
        var ln1 = layer.layer_norm1.forward(x);
        var q = a.q_proj.forward(ln1).view(b, t, heads, hd).transpose(1, 2);
        var k = a.k_proj.forward(ln1).view(b, t, heads, hd).transpose(1, 2);
        var v = a.v_proj.forward(ln1).view(b, t, heads, hd).transpose(1, 2);
        var o = nn.functional.scaled_dot_product_attention(q, k, v);
        var merged = o.transpose(1, 2).reshape(b, t, d);
        var attn = a.out_proj.forward(merged);
        var h = x + attn;
        var ln2 = layer.layer_norm2.forward(h);
        var f1 = layer.mlp.fc1.forward(ln2);
        var act = Activations.Resolve("quick_gelu")(f1);
        var f2 = layer.mlp.fc2.forward(act);
        yield return new(block, "layer_norm1", Time(() => layer.layer_norm1.forward(x), repeats));
        yield return new(block, "q, k, v projections", Time(() => { a.q_proj.forward(ln1); a.k_proj.forward(ln1); return a.v_proj.forward(ln1); }, repeats));
        if (a.PackedQkv(ln1) is { } packed)
        {
            packed.Dispose();
            yield return new(block, "(q+k+v as one packed GEMM)", Time(() => a.PackedQkv(ln1)!, repeats));
        }
        yield return new(block, "scaled_dot_product_attention", Time(() => nn.functional.scaled_dot_product_attention(q, k, v), repeats));
        yield return new(block, "merge heads (transpose + reshape)", Time(() => o.transpose(1, 2).reshape(b, t, d), repeats));
        yield return new(block, "out_proj", Time(() => a.out_proj.forward(merged), repeats));
        yield return new(block, "residual adds (2)", Time(() => { var r = x + attn; return r + f2; }, repeats));
        yield return new(block, "layer_norm2", Time(() => layer.layer_norm2.forward(h), repeats));
        yield return new(block, "fc1", Time(() => layer.mlp.fc1.forward(ln2), repeats));
        yield return new(block, "quick_gelu", Time(() => Activations.Resolve("quick_gelu")(f1), repeats));
        yield return new(block, "fc2", Time(() => layer.mlp.fc2.forward(act), repeats));
        yield return new(block, "whole block", Time(() => layer.forward(x, null), repeats));
    }

    /// <summary>Each step is timed over all <paramref name="layers"/> in turn and reported per layer.</summary>
    private static IEnumerable<ProfileStep> ProfileOpt(string block, IReadOnlyList<OptDecoderLayer> layers, Tensor x, int heads, long past, int repeats)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / heads;
        int n = layers.Count;
        var a = layers[0].self_attn;
        using var scope = NewDisposeScope();
        using var cache = new KvCache(1, b, heads, past + t, hd, x.dtype);
        if (past > 0)
        {
            using var fill = randn([b, heads, past, hd], dtype: x.dtype);
            cache.Append(0, fill, fill);
            cache.Advance(past);
        }
        var ln1 = layers[0].self_attn_layer_norm.forward(x);
        var q = a.q_proj.forward(ln1).view(b, t, heads, hd).transpose(1, 2);
        var k = a.k_proj.forward(ln1).view(b, t, heads, hd).transpose(1, 2);
        var v = a.v_proj.forward(ln1).view(b, t, heads, hd).transpose(1, 2);
        var (kc, vc) = cache.Append(0, k, v);
        bool causal = past == 0 && t > 1;
        var o = nn.functional.scaled_dot_product_attention(q, kc, vc, null, 0.0, causal);
        var merged = o.transpose(1, 2).reshape(b, t, d);
        var attn = a.out_proj.forward(merged);
        var h = x + attn;
        var ln2 = layers[0].final_layer_norm.forward(h);
        var f1 = layers[0].fc1.forward(ln2);
        var act = nn.functional.relu(f1);
        var f2 = layers[0].fc2.forward(act);
        ProfileStep Step(string name, Func<OptDecoderLayer, Tensor> op) =>
            new(block, name, Time(() => { Tensor r = x; foreach (var l in layers) r = op(l); return r; }, repeats) / n);
        yield return Step("self_attn_layer_norm", l => l.self_attn_layer_norm.forward(x));
        yield return Step("q, k, v projections", l => { l.self_attn.q_proj.forward(ln1); l.self_attn.k_proj.forward(ln1); return l.self_attn.v_proj.forward(ln1); });
        yield return Step("kv cache write", l => { cache.Append(0, k, v); return k; });
        yield return Step("scaled_dot_product_attention", l => SharpGlance.Runtime.CpuGemm.Attention(q, kc, vc, null, 0.0, causal));   // as OPT runs it (ours in bf16 decoding where the plan says so)
        yield return Step("merge heads (transpose + reshape)", l => o.transpose(1, 2).reshape(b, t, d));
        yield return Step("out_proj", l => l.self_attn.out_proj.forward(merged));
        yield return Step("residual adds (2)", l => { var r = x + attn; return r + f2; });
        yield return Step("final_layer_norm", l => l.final_layer_norm.forward(h));
        yield return Step("fc1", l => l.fc1.forward(ln2));
        yield return Step("relu", l => nn.functional.relu(f1));
        yield return Step("fc2", l => l.fc2.forward(act));
        var ctx = new OptLayerContext(null, causal, null, 0);
        if (past == 0) yield return Step("whole block", l => l.forward(x, ctx));
    }
}
