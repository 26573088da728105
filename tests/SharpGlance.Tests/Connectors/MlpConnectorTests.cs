using SharpGlance.Connectors;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Connectors;

public class MlpConnectorTests
{
    private static string Listing(nn.Module m) =>
        string.Join("; ", m.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]"));

    // Keys must equal the checkpoint's under model.mm_projector. (SPEC §4): Dv = 10, H = 6 keeps it small.
    [Theory]
    [InlineData("linear", "bias [6]; weight [6, 10]")]
    [InlineData("mlp2x_gelu", "0.bias [6]; 0.weight [6, 10]; 2.bias [6]; 2.weight [6, 6]")]
    [InlineData("mlp3x_gelu", "0.bias [6]; 0.weight [6, 10]; 2.bias [6]; 2.weight [6, 6]; 4.bias [6]; 4.weight [6, 6]")]
    [InlineData("mlp4x_bott4x_gelu", "0.bias [24]; 0.weight [24, 10]; 2.bias [24]; 2.weight [24, 24]; 4.bias [24]; 4.weight [24, 24]; 5.bias [6]; 5.weight [6, 24]")]
    public void State_dict_keys_and_shapes_equal_llava_checkpoint_keys(string type, string listing)
    {
        using var m = Connector.Create(type, 10, 6);
        Assert.Equal(listing, Listing(m));
        Assert.All(m.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void Mlp2x_gelu_is_linear_erf_gelu_linear()
    {
        using var m = Connector.Create("mlp2x_gelu", 10, 6);
        using var _ = torch.no_grad();
        var sd = m.state_dict();
        var x = torch.randn(2, 5, 10, generator: new Generator(3));
        var h = x.matmul(sd["0.weight"].t()) + sd["0.bias"];
        h = 0.5 * h * (1 + torch.special.erf(h / Math.Sqrt(2)));
        var expected = h.matmul(sd["2.weight"].t()) + sd["2.bias"];
        var y = m.call(x);
        Assert.Equal([2L, 5, 6], y.shape);
        TensorAssert.Close(expected, y, 1e-5, "mlp2x_gelu");
    }

    [Fact]
    public void Mlp4x_bott4x_gelu_has_no_activation_between_its_last_two_linears()
    {
        using var m = Connector.Create("mlp4x_bott4x_gelu", 10, 6);
        using var _ = torch.no_grad();
        var sd = m.state_dict();
        var x = torch.randn(1, 3, 10, generator: new Generator(4));
        Tensor Lin(Tensor t, string i) => t.matmul(sd[$"{i}.weight"].t()) + sd[$"{i}.bias"];
        var h = nn.functional.gelu(Lin(x, "0"));
        h = nn.functional.gelu(Lin(h, "2"));
        var expected = Lin(Lin(h, "4"), "5");
        TensorAssert.Close(expected, m.call(x), 1e-5, "mlp4x_bott4x_gelu");
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("mlp2x_gelu")]
    public void Converting_dtype_keeps_the_connector_working(string type)
    {
        using var m = Connector.Create(type, 10, 6);
        using var _ = torch.no_grad();
        var x = torch.randn(2, 3, 10, generator: new Generator(9));
        var f32 = m.call(x);
        m.to(ScalarType.Float64);
        Assert.All(m.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        TensorAssert.Close(f32, m.call(x.to_type(ScalarType.Float64)), 1e-5, $"{type} in float64");
    }

    [Theory]
    [InlineData("mlp2x_relu")]
    [InlineData("mlpx_gelu")]
    [InlineData("qformer")]
    [InlineData("")]
    public void Unknown_projector_type_is_a_clear_error(string type)
    {
        var e = Assert.Throws<GlanceException>(() => Connector.Create(type, 10, 6));
        Assert.Contains($"'{type}'", e.Message);
        Assert.Contains("mlp4x_bott4x_gelu", e.Message);
        Assert.False(Connector.IsKnown(type));
    }

    [Fact]
    public void Wrong_feature_width_is_refused_before_any_matmul()
    {
        using var m = Connector.Create("mlp2x_gelu", 10, 6);
        var e = Assert.Throws<GlanceException>(() => m.call(torch.zeros(1, 4, 11)));
        Assert.Contains("[1, 4, 11]", e.Message);
    }
}
