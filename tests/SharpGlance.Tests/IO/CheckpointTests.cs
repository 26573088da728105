using System.Text.Json.Nodes;
using SharpGlance.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.IO;

public class CheckpointTests
{
    private static Dictionary<string, Tensor> Tensors(params (string Name, long[] Shape)[] items) =>
        items.ToDictionary(i => i.Name, i => arange(i.Shape.Aggregate(1L, (a, b) => a * b), ScalarType.Float32).view(i.Shape));

    [Fact]
    public void A_sharded_index_is_followed()
    {
        using var dir = new TempFolder();
        SafeTensorsFile.Save(dir.File("model-00001-of-00002.safetensors"), Tensors(("a.weight", [2, 3])));
        SafeTensorsFile.Save(dir.File("model-00002-of-00002.safetensors"), Tensors(("b.weight", [4])));
        File.WriteAllText(dir.File("model.safetensors.index.json"), new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = 40 },
            ["weight_map"] = new JsonObject { ["a.weight"] = "model-00001-of-00002.safetensors", ["b.weight"] = "model-00002-of-00002.safetensors" },
        }.ToJsonString());
        using var ck = Checkpoint.Open(dir.Path);
        Assert.Equal(["a.weight", "b.weight"], ck.Keys.Order().ToArray());
        using var b = ck.Load("b.weight");
        Assert.Equal(new[] { 0f, 1, 2, 3 }, b.data<float>().ToArray());
    }

    [Fact]
    public void A_shard_missing_from_disk_is_named()
    {
        using var dir = new TempFolder();
        SafeTensorsFile.Save(dir.File("model-00001-of-00002.safetensors"), Tensors(("a.weight", [2])));
        File.WriteAllText(dir.File("model.safetensors.index.json"), new JsonObject
        {
            ["weight_map"] = new JsonObject { ["a.weight"] = "model-00001-of-00002.safetensors", ["b.weight"] = "model-00002-of-00002.safetensors" },
        }.ToJsonString());
        var e = Assert.Throws<GlanceException>(() => Checkpoint.Open(dir.Path));
        Assert.Contains("shard 'model-00002-of-00002.safetensors' named in the index is missing", e.Message);
    }

    [Fact]
    public void A_shard_path_leaving_the_folder_is_refused()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("model.safetensors.index.json"),
            new JsonObject { ["weight_map"] = new JsonObject { ["a"] = "../elsewhere.safetensors" } }.ToJsonString());
        Assert.Throws<GlanceException>(() => Checkpoint.Open(dir.Path));
    }

    [Fact]
    public void A_number_where_the_index_names_a_shard_is_a_clear_error()
    {
        // Was "InvalidOperationException: An element of type 'Number' cannot be converted to a 'System.String'".
        using var dir = new TempFolder();
        var index = dir.File("model.safetensors.index.json");
        File.WriteAllText(index, """{"weight_map": {"a.weight": 3}}""");
        Assert.Equal($"{index}: weight_map 'a.weight' must be a string, not number",
            Assert.Throws<GlanceException>(() => Checkpoint.Open(dir.Path)).Message);
    }

    [Fact]
    public void Pytorch_pickles_in_the_legacy_format_are_refused_with_the_reason()
    {
        // torch.save zips are read (TorchSaveFileTests); the pre-1.6 bare pickle is not.
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("pytorch_model.bin"), [0x80, 0x02]);
        var e = Assert.Throws<GlanceException>(() => Checkpoint.Open(dir.Path));
        Assert.StartsWith($"{dir.File("pytorch_model.bin")}: a PyTorch pickle in torch's legacy format", e.Message);
        var direct = Assert.Throws<GlanceException>(() => Checkpoint.Open(dir.File("pytorch_model.bin")));
        Assert.Equal(e.Message, direct.Message);
    }

    [Fact]
    public void Only_model_safetensors_is_read_when_present()
    {
        using var dir = new TempFolder();
        SafeTensorsFile.Save(dir.File("model.safetensors"), Tensors(("w", [2])));
        SafeTensorsFile.Save(dir.File("expected.safetensors"), Tensors(("logits", [2])));
        using var ck = Checkpoint.Open(dir.Path);
        Assert.Equal(["w"], ck.Keys.ToArray());
    }

    [Fact]
    public void A_tensor_in_two_files_is_refused()
    {
        using var dir = new TempFolder();
        SafeTensorsFile.Save(dir.File("a.safetensors"), Tensors(("w", [2])));
        SafeTensorsFile.Save(dir.File("b.safetensors"), Tensors(("w", [2])));
        var e = Assert.Throws<GlanceException>(() => Checkpoint.Open(dir.Path));
        Assert.Contains("'w' is also in a.safetensors", e.Message);
    }

    private sealed class Tiny : nn.Module
    {
        public TorchSharp.Modules.Linear proj;
        public Tiny() : base(nameof(Tiny)) { proj = nn.Linear(3, 2); RegisterComponents(); }
    }

    [Fact]
    public void LoadInto_names_missing_and_unexpected_keys_and_bad_shapes()
    {
        using var dir = new TempFolder();
        using var module = new Tiny();

        SafeTensorsFile.Save(dir.File("model.safetensors"), Tensors(("p.proj.weight", [2, 3]), ("p.proj.bias", [2]), ("p.extra", [1]), ("other.x", [1])));
        using (var ck = Checkpoint.Open(dir.Path))
        {
            ck.LoadInto(module, "p.", ["extra"]);   // keys outside the prefix are not this module's business
            Assert.Equal(new[] { 0f, 1, 2, 3, 4, 5 }, module.proj.weight.data<float>().ToArray());
            var e = Assert.Throws<GlanceException>(() => ck.LoadInto(module, "p."));
            Assert.Contains("unexpected tensor 'p.extra'", e.Message);
        }

        using var dir2 = new TempFolder();
        SafeTensorsFile.Save(dir2.File("model.safetensors"), Tensors(("proj.weight", [2, 4]), ("proj.bias", [2])));
        using (var ck = Checkpoint.Open(dir2.Path))
        {
            var e = Assert.Throws<GlanceException>(() => ck.LoadInto(module));
            Assert.Contains("tensor 'proj.weight' has shape [2, 4] but the model built from config.json expects [2, 3]", e.Message);
        }

        using var dir3 = new TempFolder();
        SafeTensorsFile.Save(dir3.File("model.safetensors"), Tensors(("proj.weight", [2, 3])));
        using (var ck = Checkpoint.Open(dir3.Path))
        {
            var e = Assert.Throws<GlanceException>(() => ck.LoadInto(module));
            Assert.Contains("missing tensor 'proj.bias'", e.Message);
        }
    }
}
