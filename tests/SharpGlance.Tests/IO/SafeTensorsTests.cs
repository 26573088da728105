using System.Buffers.Binary;
using System.Text;
using SharpGlance.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.IO;

/// <summary>Writes hand-made safetensors files, honest and lying, into a temporary folder.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sharpglance-tests-" + Guid.NewGuid().ToString("N"));

    public TempFolder() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>A safetensors file with this JSON header text and <paramref name="dataBytes"/> bytes of data.</summary>
    public string WriteRaw(string name, string headerJson, int dataBytes, long? headerLengthOverride = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(headerLengthOverride ?? header.Length));
        header.CopyTo(bytes, 8);
        for (int i = 0; i < dataBytes; i++) bytes[8 + header.Length + i] = (byte)i;
        var path = File(name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

public class SafeTensorsTests
{
    [Fact]
    public void Save_then_open_round_trips_dtypes_shapes_values_and_metadata()
    {
        using var dir = new TempFolder();
        var path = dir.File("t.safetensors");
        using var f32 = arange(12, ScalarType.Float32).view(3, 4);
        using var f16 = tensor(new float[] { 0.5f, -2f }).to_type(ScalarType.Float16);
        using var bf16 = tensor(new float[] { 1.5f, 3f, -0.25f }).to_type(ScalarType.BFloat16);
        using var i64 = tensor(new long[] { long.MaxValue, -7 });
        using var i32 = tensor(new int[] { 5, -6, 7 });
        using var b = tensor(new bool[] { true, false, true });
        using var scalar = tensor(2.6592f);
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor>
        {
            ["b.f32"] = f32, ["a.f16"] = f16, ["bf16"] = bf16, ["i64"] = i64, ["i32"] = i32, ["bool"] = b, ["scalar"] = scalar,
        }, new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(new long[] { 3, 4 }, file.Tensors["b.f32"].Shape);
        Assert.Equal("BF16", file.Tensors["bf16"].DType);
        Assert.Empty(file.Tensors["scalar"].Shape);
        foreach (var (name, t) in new[] { ("b.f32", f32), ("a.f16", f16), ("bf16", bf16), ("i64", i64), ("i32", i32), ("bool", b), ("scalar", scalar) })
        {
            using var loaded = file.Load(name);
            Assert.Equal(t.dtype, loaded.dtype);
            Assert.True(t.eq(loaded).all().item<bool>(), $"{name} differs after the round trip");
        }
        // The data section starts 8-byte aligned, as the reference writer pads its header.
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8));
        Assert.Equal(0, headerLength % 8);
    }

    [Fact]
    public void Load_converts_dtype_on_request()
    {
        using var dir = new TempFolder();
        var path = dir.File("t.safetensors");
        using var half = tensor(new float[] { 0.5f, -2f }).to_type(ScalarType.Float16);
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["x"] = half });
        using var file = SafeTensorsFile.Open(path);
        using var x = file.Load("x", ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, x.dtype);
        Assert.Equal(new[] { 0.5f, -2f }, x.data<float>().ToArray());
    }

    [Fact]
    public void TryReadInto_fills_a_matching_tensor_in_place_and_declines_anything_needing_conversion()
    {
        using var dir = new TempFolder();
        var path = dir.File("t.safetensors");
        using var f32 = arange(12, ScalarType.Float32).view(3, 4) * 0.5;
        using var f16 = f32.to_type(ScalarType.Float16);
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["a"] = f32, ["h"] = f16 });
        using var file = SafeTensorsFile.Open(path);

        using var target = zeros(3, 4);
        Assert.True(file.TryReadInto("a", target));
        TensorAssert.Close(f32, target, 0, "read in place");
        using var wrongShape = zeros(4, 3);
        Assert.False(file.TryReadInto("a", wrongShape));
        Assert.Equal(0f, wrongShape.abs().sum().item<float>());
        using var wrongDtype = zeros(3, 4);
        Assert.False(file.TryReadInto("h", wrongDtype));                 // F16 → F32 needs Load's conversion
        using var strided = zeros(4, 3).t();
        Assert.False(file.TryReadInto("a", strided));
    }

    [Fact]
    public void Truncated_data_is_refused_naming_the_tensor()
    {
        using var dir = new TempFolder();
        var path = dir.WriteRaw("t.safetensors", """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", dataBytes: 10);
        var e = Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void A_header_longer_than_the_file_is_refused()
    {
        using var dir = new TempFolder();
        var path = dir.WriteRaw("t.safetensors", "{}", dataBytes: 0, headerLengthOverride: 4096);
        var e = Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("truncated safetensors file", e.Message);
    }

    [Fact]
    public void A_file_shorter_than_eight_bytes_is_refused()
    {
        using var dir = new TempFolder();
        var path = dir.File("t.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var e = Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("not a safetensors file", e.Message);
    }

    [Fact]
    public void Offsets_outside_the_data_section_are_refused()
    {
        using var dir = new TempFolder();
        var path = dir.WriteRaw("t.safetensors", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[1000,1008]}}""", dataBytes: 8);
        var e = Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("outside the data section", e.Message);

        var reversed = dir.WriteRaw("r.safetensors", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", dataBytes: 8);
        Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(reversed));
    }

    [Fact]
    public void Overlapping_tensors_are_refused_naming_both()
    {
        using var dir = new TempFolder();
        var path = dir.WriteRaw("t.safetensors",
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", dataBytes: 12);
        var e = Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("overlap", e.Message);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void Shape_times_dtype_size_must_equal_the_byte_range()
    {
        using var dir = new TempFolder();
        var path = dir.WriteRaw("t.safetensors", """{"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,24]}}""", dataBytes: 24);
        var e = Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("needs 12 bytes but data_offsets span 24", e.Message);
    }

    [Fact]
    public void Corrupt_headers_and_unknown_dtypes_are_refused()
    {
        using var dir = new TempFolder();
        var notJson = dir.WriteRaw("a.safetensors", "{\"w\": [", dataBytes: 0);
        Assert.Contains("corrupt safetensors header", Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(notJson)).Message);
        var noShape = dir.WriteRaw("b.safetensors", """{"w":{"dtype":"F32","data_offsets":[0,4]}}""", dataBytes: 4);
        Assert.Contains("'w'", Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(noShape)).Message);
        var badType = dir.WriteRaw("c.safetensors", """{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}""", dataBytes: 4);
        Assert.Contains("unsupported dtype 'Q4'", Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(badType)).Message);
        var negative = dir.WriteRaw("d.safetensors", """{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", dataBytes: 4);
        Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(negative));
    }

    [Fact]
    public void A_tensor_named_twice_in_the_header_is_refused_naming_the_file()
    {
        // Was "ArgumentException: An item with the same key has already been added" with no file.
        using var dir = new TempFolder();
        var path = dir.WriteRaw("dup.safetensors", """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", dataBytes: 8);
        var e = Assert.Throws<GlanceException>(() => SafeTensorsFile.Open(path));
        Assert.StartsWith($"{path}: corrupt safetensors header: ", e.Message);
        Assert.Contains("'w'", e.Message);
    }
}
