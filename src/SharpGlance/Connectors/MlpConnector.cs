using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using Linear = SharpGlance.Nn.Linear;
using static TorchSharp.torch;

namespace SharpGlance.Connectors;

/// <summary>
/// The first-glance connectors: LLaVA's projector family, chosen by its config string
/// <c>mm_projector_type</c> (SPEC §4). Each maps every visual token on its own,
/// [B, N, Dv] → [B, N, H]; H is the LM's <c>word_embed_proj_dim</c>.
/// </summary>
public static class Connector
{
    /// <summary>The projector types <see cref="Create"/> understands (mlpNx_gelu for any N ≥ 1).</summary>
    public static readonly IReadOnlyList<string> KnownTypes = ["linear", "mlpNx_gelu (e.g. mlp2x_gelu)", "mlp4x_bott4x_gelu"];

    /// <summary>
    /// Builds the connector named by LLaVA's <c>mm_projector_type</c>. Its state-dict keys equal the
    /// checkpoint keys under <c>model.mm_projector.</c> (<c>0.weight</c>, <c>2.bias</c>, … or
    /// <c>weight</c>/<c>bias</c> for <c>linear</c>).
    /// </summary>
    public static MlpConnector Create(string projectorType, long visionWidth, long lmHidden,
        Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        if (visionWidth <= 0) throw new GlanceException($"connector '{projectorType}': vision width must be positive (got {visionWidth})");
        if (lmHidden <= 0) throw new GlanceException($"connector '{projectorType}': LM hidden size must be positive (got {lmHidden})");
        return new MlpConnector(projectorType, Layout(projectorType, visionWidth, lmHidden), device, dtype);
    }

    /// <summary>True when <see cref="Create"/> accepts <paramref name="projectorType"/>.</summary>
    public static bool IsKnown(string projectorType)
    {
        try { Layout(projectorType, 1, 1); return true; }
        catch (GlanceException) { return false; }
    }

    // The sequence a projector type stands for: (child name, in, out, GELU after it). A Linear's child name
    // is its index in the PyTorch nn.Sequential, where the parameter-less GELUs also take an index.
    private static List<(string Name, long In, long Out, bool GeluAfter)> Layout(string type, long dv, long h)
    {
        if (type == "linear")
            return [("", dv, h, false)]; // LLaVA uses a bare nn.Linear: keys "weight", "bias"

        // LLaVA-1.5 builder (llava/model/multimodal_projector/builder.py): Linear(Dv,H), then depth−1 × (GELU, Linear(H,H)).
        var m = Regex.Match(type, @"^mlp(\d+)x_gelu$", RegexOptions.CultureInvariant);
        if (m.Success)
        {
            if (!int.TryParse(m.Groups[1].Value, out int depth) || depth < 1 || depth > 64)
                throw new GlanceException($"mm_projector_type '{type}': depth must be between 1 and 64");
            var layers = new List<(string, long, long, bool)>();
            for (int i = 0; i < depth; i++)
                layers.Add(((2 * i).ToString(System.Globalization.CultureInfo.InvariantCulture), i == 0 ? dv : h, h, i < depth - 1));
            return layers;
        }

        // The paper's code (SPEC §4): Linear(Dv,4H) → GELU → Linear(4H,4H) → GELU → Linear(4H,4H) → Linear(4H,H);
        // no activation between the last two Linears, so their indices are 4 and 5.
        if (type == "mlp4x_bott4x_gelu")
            return [("0", dv, 4 * h, true), ("2", 4 * h, 4 * h, true), ("4", 4 * h, 4 * h, false), ("5", 4 * h, h, false)];

        throw new GlanceException($"unknown mm_projector_type '{type}' (known: {string.Join(", ", KnownTypes)})");
    }
}

/// <summary>
/// A stack of Linear layers with exact (erf) GELU between some of them, named as the PyTorch
/// <c>nn.Sequential</c> it mirrors. Built by <see cref="Connector.Create"/>.
/// </summary>
public sealed class MlpConnector : nn.Module<Tensor, Tensor>
{
    private readonly Linear[] _linears;
    private readonly bool[] _geluAfter;
    // `linear` is one bare nn.Linear in LLaVA, so its parameters sit at the root ("weight", "bias"). They are
    // fields named as their keys, so Module.to(device) can swap them in place (it disposes the old ones).
    public Parameter? weight;
    public Parameter? bias;

    public string ProjectorType { get; }
    public long InputDim { get; }
    public long OutputDim { get; }

    internal MlpConnector(string projectorType, List<(string Name, long In, long Out, bool GeluAfter)> layout,
        Device? device, ScalarType dtype) : base(projectorType)
    {
        ProjectorType = projectorType;
        InputDim = layout[0].In;
        OutputDim = layout[^1].Out;
        if (layout.Count == 1 && layout[0].Name.Length == 0)
        {
            _linears = [];
            _geluAfter = [];
            using var init = nn.Linear(InputDim, OutputDim, hasBias: true, device: device, dtype: dtype); // PyTorch's default init
            weight = new Parameter(init.weight!.detach().clone());
            bias = new Parameter(init.bias!.detach().clone());
        }
        else
        {
            _linears = layout.Select(l => DefaultInit(l.In, l.Out, device, dtype)).ToArray();
            _geluAfter = layout.Select(l => l.GeluAfter).ToArray();
            // Children take their nn.Sequential indices ("0", "2", …); the GELUs have no parameters.
            for (int i = 0; i < layout.Count; i++) register_module(layout[i].Name, _linears[i]);
        }
        RegisterComponents();
    }

    /// <summary>
    /// A Linear with PyTorch's default init (kaiming-uniform weight, uniform bias: the same random draws as
    /// <c>nn.Linear</c>, which LLaVA's projector uses), as our <see cref="Linear"/> for the fast CPU path.
    /// </summary>
    private static Linear DefaultInit(long inFeatures, long outFeatures, Device? device, ScalarType dtype)
    {
        using var init = nn.Linear(inFeatures, outFeatures, hasBias: true, device: device, dtype: dtype);
        static Parameter Own(Tensor t) => (Parameter)new Parameter(t.detach().clone()).DetachFromDisposeScope();
        return new Linear(Own(init.weight), Own(init.bias!));
    }

    /// <summary>[B, N, Dv] (any leading dims) → [B, N, H].</summary>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() < 2 || x.shape[^1] != InputDim)
            throw new GlanceException($"connector '{ProjectorType}': expected visual features [B, N, {InputDim}], got [{string.Join(", ", x.shape)}]");
        using var scope = torch.NewDisposeScope();
        if (weight is not null) return Runtime.CpuGemm.Linear(x, weight, bias).MoveToOuterDisposeScope();
        var h = x;
        for (int i = 0; i < _linears.Length; i++)
        {
            h = _linears[i].call(h);
            if (_geluAfter[i]) h = nn.functional.gelu(h); // nn.GELU() default: exact erf form
        }
        return h.MoveToOuterDisposeScope();
    }
}
