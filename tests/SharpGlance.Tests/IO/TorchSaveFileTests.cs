using System.Text.Json.Nodes;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Tests.Faults;
using SharpGlance.Tests.Parity;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.IO;

/// <summary>
/// torch.save checkpoints (tests/fixtures/pickle, written by torch 1.13's torch.save; make.py there) read
/// equal to their safetensors twins: every dtype, views with offsets and strides, shared storages, shards.
/// </summary>
public class TorchSaveFileTests
{
    private static string Pickles => Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "pickle");

    /// <summary>Every tensor of <paramref name="actual"/> equals the twin's bit for bit, same dtype and shape, and no key differs.</summary>
    private static void AssertSame(SafeTensorsFile twin, Checkpoint actual)
    {
        Assert.Equal(twin.Tensors.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var name in twin.Tensors.Keys)
        {
            using var e = twin.Load(name);
            using var a = actual.Load(name);
            Assert.Equal(e.dtype, a.dtype);
            Assert.Equal(e.shape, a.shape);
            Assert.True(a.is_contiguous(), name);
            Assert.True(e.bytes.SequenceEqual(a.bytes), $"'{name}' differs from its twin");
            Assert.Equal(twin.Tensors[name].DType, actual.Info(name).DType);
        }
    }

    private static bool Same(Tensor a, Tensor b) =>
        a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && a.contiguous().bytes.SequenceEqual(b.contiguous().bytes);

    [Fact]
    public void Dtypes_views_and_shared_storages_load_equal_to_their_twin()
    {
        using var twin = SafeTensorsFile.Open(Path.Combine(Pickles, "views.safetensors"));
        using var ck = Checkpoint.Open(Path.Combine(Pickles, "views"));
        Assert.Equal(13, ck.Keys.Count());
        Assert.Equal(["BF16", "BOOL", "F16", "F32", "I64"], ck.Keys.Select(k => ck.Info(k).DType).Distinct().Order(StringComparer.Ordinal).ToArray());
        AssertSame(twin, ck);
        // A view's values, spelled out: slice = base[2:5, 1:7] (offset 17, strides (8, 1)).
        using var b = ck.Load("base");
        using var slice = ck.Load("slice");
        Assert.True(Same(b[TensorIndex.Slice(2, 5), TensorIndex.Slice(1, 7)], slice));
        using var t = ck.Load("transpose");
        Assert.True(Same(b.t(), t));
    }

    [Fact]
    public void A_file_named_directly_loads_as_the_folder_does()
    {
        using var twin = SafeTensorsFile.Open(Path.Combine(Pickles, "views.safetensors"));
        using var ck = Checkpoint.Open(Path.Combine(Pickles, "views", "pytorch_model.bin"));
        AssertSame(twin, ck);
    }

    [Fact]
    public void Shards_named_by_pytorch_model_bin_index_json_load_equal_to_their_twin()
    {
        using var twin = SafeTensorsFile.Open(Path.Combine(Pickles, "sharded.safetensors"));
        using var ck = Checkpoint.Open(Path.Combine(Pickles, "sharded"));
        Assert.Equal(2, ck.Files.Count());
        AssertSame(twin, ck);
        Assert.True(Checkpoint.HasWeights(Path.Combine(Pickles, "sharded")));
    }

    [Fact]
    public void Safetensors_win_over_a_pickle_in_the_same_folder()
    {
        using var dir = new TempFolder();
        File.Copy(Path.Combine(Pickles, "views", "pytorch_model.bin"), dir.File("pytorch_model.bin"));
        SafeTensorsFile.Save(dir.File("model.safetensors"), [new("only", ones(2))]);
        using var ck = Checkpoint.Open(dir.Path);
        Assert.Equal(["only"], ck.Keys.ToArray());
    }

    [Fact]
    public void A_missing_shard_and_a_folder_without_weights_are_named()
    {
        using var dir = new TempFolder();
        File.Copy(Path.Combine(Pickles, "sharded", "pytorch_model.bin.index.json"), dir.File("pytorch_model.bin.index.json"));
        File.Copy(Path.Combine(Pickles, "sharded", "pytorch_model-00001-of-00002.bin"), dir.File("pytorch_model-00001-of-00002.bin"));
        var e = Assert.Throws<GlanceException>(() => Checkpoint.Open(dir.Path));
        Assert.Equal($"{dir.File("pytorch_model.bin.index.json")}: shard 'pytorch_model-00002-of-00002.bin' named in the index is missing", e.Message);

        using var empty = new TempFolder();
        File.WriteAllBytes(empty.File("training_args.bin"), [0x80, 0x02]);
        Assert.False(Checkpoint.HasWeights(empty.Path));
        Assert.Equal($"{empty.Path}: no weights in this folder: no *.safetensors and no pytorch_model.bin",
            Assert.Throws<GlanceException>(() => Checkpoint.Open(empty.Path)).Message);
    }

    [Fact]
    public void LoadInto_reads_a_pickle_into_a_module_as_from_safetensors()
    {
        using var dir = new TempFolder();
        using var source = nn.Linear(5, 3);
        TorchSaveWriter.Write(dir.File("pytorch_model.bin"), source.state_dict());
        using var target = nn.Linear(5, 3);
        using (var ck = Checkpoint.Open(dir.Path)) ck.LoadInto(target);
        foreach (var (name, p) in source.state_dict())
            Assert.True(Same(p, target.state_dict()[name]), name);
    }

    [Fact]
    public void A_big_endian_checkpoint_is_read_in_the_machines_order()
    {
        using var dir = new TempFolder();
        var values = new float[] { 1.5f, -2.25f, 3e-8f };
        var be = values.SelectMany(v => BitConverter.GetBytes(v).Reverse()).ToArray();
        var pickle = new PickleBuilder().Proto().OrderedDict().Str("w").Tensor("FloatStorage", "0", 3, 0, [3], [1]).SetItem().Stop().Bytes;
        TorchSaveWriter.WriteZip(dir.File("pytorch_model.bin"), pickle, new Dictionary<string, byte[]> { ["0"] = be }, byteorder: "big");
        using var ck = Checkpoint.Open(dir.Path);
        using var w = ck.Load("w");
        Assert.Equal(values, w.data<float>().ToArray());
    }

    /// <summary>
    /// The tiny OPT fixture saved by torch.save (keys model.decoder.*, lm_head.weight sharing the embedding's
    /// storage) gives transformers' logits and every generation of the fixture, as its safetensors do.
    /// </summary>
    [Fact]
    public void Tiny_opt_saved_by_torch_save_generates_as_transformers_does()
    {
        using var dir = new TempFolder();
        var source = Path.Combine(Fixtures.Root, "tiny-opt");
        foreach (var f in new[] { "config.json", "generation_config.json", "expected.safetensors" })
            File.Copy(Path.Combine(source, f), dir.File(f));
        File.Copy(Path.Combine(Pickles, "tiny-opt", "pytorch_model.bin"), dir.File("pytorch_model.bin"));

        using (var ck = Checkpoint.Open(dir.Path))
        using (var twin = Checkpoint.Open(Path.Combine(source, "model.safetensors")))
        {
            Assert.IsType<TorchSaveFile>(Assert.Single(ck.Files));
            foreach (var k in twin.Keys)
            {
                using var a = ck.Load(k);
                using var e = twin.Load(k);
                Assert.True(Same(a, e), k);
            }
        }
        // transformers' logits (≤ 1e-4) and every greedy and beam generation of the fixture, identical.
        OptParity.Check(dir.Path);
    }

    /// <summary>
    /// A captioner (tower, connector, OPT) whose weights are a torch.save zip instead of safetensors gives the
    /// same captions through <c>glance caption</c>. The zip is written by <see cref="TorchSaveWriter"/>, which
    /// lays it out as torch.save does (the reader is held to real torch.save files above).
    /// </summary>
    [Fact]
    public void A_captioner_saved_as_pytorch_model_bin_captions_identically()
    {
        using var dir = new TempFolder();
        var model = Directory.CreateDirectory(dir.File("model")).FullName;
        foreach (var f in Directory.GetFiles(TinyModels.CaptionerFolder).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        using (var st = SafeTensorsFile.Open(Path.Combine(TinyModels.CaptionerFolder, "model.safetensors")))
        {
            var tensors = st.Tensors.Keys.Select(k => new KeyValuePair<string, Tensor>(k, st.Load(k))).ToList();
            TorchSaveWriter.Write(Path.Combine(model, "pytorch_model.bin"), tensors);
            foreach (var (_, t) in tensors) t.Dispose();
        }
        var image = Path.Combine(Fixtures.RepoRoot, "samples", "scene1.png");

        var fromPickle = GlanceCli.RunReported("caption", "--model", model, "--max-new-tokens", "6", image);
        var fromSafetensors = GlanceCli.RunReported("caption", "--model", TinyModels.CaptionerFolder, "--max-new-tokens", "6", image);

        Assert.True(fromPickle.Code == 0, fromPickle.Error);
        Assert.True(fromSafetensors.Code == 0, fromSafetensors.Error);
        Assert.NotEqual("", fromPickle.Output.Trim());
        Assert.Equal(fromSafetensors.Output, fromPickle.Output);
    }
}
