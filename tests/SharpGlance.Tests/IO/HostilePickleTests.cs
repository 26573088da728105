using System.IO.Compression;
using SharpGlance.IO;

namespace SharpGlance.Tests.IO;

/// <summary>
/// A generated suite of hostile torch.save files: each is refused with one line naming the file, what it
/// asks for never happens, and nothing is written. The payloads are live: loaded with torch 1.13's
/// <c>torch.load(weights_only=False)</c>, the os.system, posix.system, STACK_GLOBAL, eval and INST ones
/// created the marker file; <c>weights_only=True</c> refused those too.
/// </summary>
public class HostilePickleTests
{
    private const string Marker = "PWNED";

    /// <summary>A pickle whose payload, if run, would create <see cref="Marker"/> in the folder.</summary>
    private static string Payload(string folder) => $"touch {Path.Combine(folder, Marker)}";

    private static readonly byte[] Floats12 = new byte[48];

    /// <summary>name → (pickle, storages, expected words in the refusal). The folder is where a payload would write.</summary>
    public static TheoryData<string> Cases() => [.. Suite("/nowhere").Keys];

    private static Dictionary<string, (byte[] Pickle, Dictionary<string, byte[]> Storages, string Expect)> Suite(string folder)
    {
        var one = new Dictionary<string, byte[]> { ["0"] = Floats12 };
        var none = new Dictionary<string, byte[]>();
        PickleBuilder P() => new PickleBuilder().Proto();
        PickleBuilder StateDict() => P().OrderedDict().Put(0).Str("w");
        string cmd = Payload(folder);
        var deep = P();
        for (int i = 0; i < 100_000; i++) deep.Mark();
        var nested = P().EmptyDict();
        for (int i = 0; i < 100_000; i++) nested.Tuple1();
        return new()
        {
            ["os.system via REDUCE"] = (P().Global("os", "system").Str(cmd).Tuple1().Reduce().Stop().Bytes, none, "global 'os.system'"),
            ["posix.system via REDUCE"] = (P().Global("posix", "system").Str(cmd).Tuple1().Reduce().Stop().Bytes, none, "global 'posix.system'"),
            ["os.system inside a state dict"] = (StateDict().Global("os", "system").Str(cmd).Tuple1().Reduce().SetItem().Stop().Bytes, none, "global 'os.system'"),
            ["os.system via STACK_GLOBAL"] = (new PickleBuilder().Proto(4).ShortStr("os").ShortStr("system").Op(0x93).Str(cmd).Tuple1().Reduce().Stop().Bytes, none, "global 'os.system'"),
            ["builtins.eval"] = (P().Global("builtins", "eval").Str($"__import__('os').system('{cmd}')").Tuple1().Reduce().Stop().Bytes, none, "global 'builtins.eval'"),
            ["builtins.exec"] = (P().Global("__builtin__", "exec").Str("x").Tuple1().Reduce().Stop().Bytes, none, "global '__builtin__.exec'"),
            ["subprocess.Popen"] = (P().Global("subprocess", "Popen").Str(cmd).Tuple1().Reduce().Stop().Bytes, none, "global 'subprocess.Popen'"),
            ["builtins.getattr"] = (P().Global("builtins", "getattr").Stop().Bytes, none, "global 'builtins.getattr'"),
            ["torch.load, another torch function"] = (P().Global("torch.serialization", "load").Str("x").Tuple1().Reduce().Stop().Bytes, none, "global 'torch.serialization.load'"),
            ["numpy reconstruct"] = (P().Global("numpy.core.multiarray", "_reconstruct").Stop().Bytes, none, "global 'numpy.core.multiarray._reconstruct'"),
            ["a tensor subclass rebuild"] = (P().Global("torch._tensor", "_rebuild_from_type_v2").Stop().Bytes, none, "global 'torch._tensor._rebuild_from_type_v2'"),
            ["REDUCE on a storage type"] = (P().Global("torch", "FloatStorage").Str(cmd).Tuple1().Reduce().Stop().Bytes, none, "REDUCE at byte"),
            ["REDUCE on a string"] = (P().Str("os.system").Str(cmd).Tuple1().Reduce().Stop().Bytes, none, "REDUCE at byte"),
            ["REDUCE on a memoized OrderedDict instance"] = (P().OrderedDict().Put(1).Get(1).EmptyTuple().Reduce().Stop().Bytes, none, "REDUCE at byte"),
            ["BUILD on a tensor (legacy set_)"] = (StateDict().Tensor("FloatStorage", "0", 12, 0, [12], [1]).Str(cmd).Tuple1().Build().SetItem().Stop().Bytes, one, "BUILD at byte"),
            ["BUILD on a string"] = (P().Str("x").EmptyDict().Build().Stop().Bytes, none, "BUILD at byte"),
            ["BUILD with a tuple state"] = (P().OrderedDict().Str(cmd).Tuple1().Build().Stop().Bytes, none, "BUILD at byte"),
            ["INST"] = (P().Mark().Str(cmd).Raw((byte)'i').Raw("os\nsystem\n"u8.ToArray()).Stop().Bytes, none, "INST at byte"),
            ["OBJ on an allowed class"] = (P().Mark().Global("collections", "OrderedDict").Op('o').Stop().Bytes, none, "OBJ at byte"),
            ["NEWOBJ"] = (P().Global("collections", "OrderedDict").EmptyTuple().Op(0x81).Stop().Bytes, none, "NEWOBJ at byte"),
            ["NEWOBJ_EX"] = (P().Global("collections", "OrderedDict").EmptyTuple().EmptyDict().Op(0x92).Stop().Bytes, none, "NEWOBJ_EX at byte"),
            ["EXT1 (the copyreg registry)"] = (P().Op(0x82).Raw(1).Stop().Bytes, none, "EXT at byte"),
            ["text PERSID"] = (P().Raw((byte)'P').Raw("x\n"u8.ToArray()).Stop().Bytes, none, "PERSID at byte"),
            ["a persistent id that is not a storage"] = (P().Mark().Str("module").Str("os").Str("x").Str("cpu").Int(1).Tuple().Op('Q').Stop().Bytes, none, "persistent id"),
            ["a storage whose type is not a storage"] = (P().Mark().Str("storage").Global("collections", "OrderedDict").Str("0").Str("cpu").Int(1).Tuple().Op('Q').Stop().Bytes, one, "not a storage type"),
            ["truncated pickle"] = (StateDict().Tensor("FloatStorage", "0", 12, 0, [12], [1]).SetItem().Stop().Bytes[..60], one, "truncated"),
            ["no STOP"] = (StateDict().Bytes, none, "without STOP"),
            ["a string longer than the pickle"] = (P().Raw((byte)'X', 0xff, 0xff, 0xff, 0x7f).Raw("abc"u8.ToArray()).Stop().Bytes, none, "truncated"),
            ["truncated storage"] = (StateDict().Tensor("FloatStorage", "0", 12, 0, [12], [1]).SetItem().Stop().Bytes, new() { ["0"] = new byte[20] }, "needs 48 bytes but its record holds 20"),
            ["bombed storage: 2^60 elements"] = (StateDict().Tensor("FloatStorage", "0", 1L << 60, 0, [1L << 60], [1]).SetItem().Stop().Bytes, one, "storage '0'"),
            ["bombed storage: a terabyte claimed"] = (StateDict().Tensor("FloatStorage", "0", 1L << 40, 0, [1L << 40], [1]).SetItem().Stop().Bytes, one, "needs 4398046511104 bytes but its record holds 48"),
            ["a view past its storage"] = (StateDict().Tensor("FloatStorage", "0", 12, 4, [3, 4], [4, 1]).SetItem().Stop().Bytes, one, "reaches element 15 of storage '0', which holds 12"),
            ["a size that overflows"] = (StateDict().Tensor("FloatStorage", "0", 12, 0, [1L << 40, 1L << 40], [0, 0]).SetItem().Stop().Bytes, one, "overflows"),
            ["a missing storage record"] = (StateDict().Tensor("FloatStorage", "7", 12, 0, [12], [1]).SetItem().Stop().Bytes, one, "no record archive/data/7"),
            ["a storage key that is a path"] = (StateDict().Tensor("FloatStorage", "../../../etc/passwd", 12, 0, [12], [1]).SetItem().Stop().Bytes, one, "is not a record name"),
            ["memo read never stored"] = (P().Get(7).Stop().Bytes, none, "memo entry 7"),
            ["memo read far out"] = (P().Op('j').Raw(0xff, 0xff, 0xff, 0xff).Stop().Bytes, none, "memo entry 4294967295"),
            ["memo store on an empty stack"] = (P().Put(0).Stop().Bytes, none, "stack underflow"),
            ["deep MARK nesting"] = (deep.Stop().Bytes, none, "nests deeper than 1000"),
            ["deeply nested tuples"] = (nested.Stop().Bytes, none, "holds a tuple, not a state dict"),
            ["a list key"] = (P().EmptyDict().Op(']').Int(1).SetItem().Stop().Bytes, none, "dict key of type a list"),
            ["a value that is not a tensor"] = (StateDict().Int(3).SetItem().Stop().Bytes, none, "'w' holds an int, not a tensor"),
            ["a 255-byte integer"] = (P().Op(0x8a).Raw(255).Raw(new byte[255]).Stop().Bytes, none, "integer of 255 bytes"),
            ["stack underflow"] = (P().Reduce().Stop().Bytes, none, "stack underflow"),
        };
    }

    private static void AssertRefused(string folder, string file, string expect)
    {
        var before = Directory.GetFileSystemEntries(folder, "*", SearchOption.AllDirectories).Order().ToArray();
        var e = Assert.Throws<GlanceException>(() => Checkpoint.Open(folder));
        Assert.StartsWith(file + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(expect, e.Message);
        Assert.False(File.Exists(Path.Combine(folder, Marker)), "the payload ran");
        Assert.Equal(before, Directory.GetFileSystemEntries(folder, "*", SearchOption.AllDirectories).Order().ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_hostile_pickle_is_refused_in_one_line_and_nothing_happens(string name)
    {
        using var dir = new TempFolder();
        var (pickle, storages, expect) = Suite(dir.Path)[name];
        var file = dir.File("pytorch_model.bin");
        TorchSaveWriter.WriteZip(file, pickle, storages);
        AssertRefused(dir.Path, file, expect);
    }

    [Fact]
    public void A_legacy_pickle_is_refused_without_being_run()
    {
        using var dir = new TempFolder();
        var file = dir.File("pytorch_model.bin");
        File.WriteAllBytes(file, new PickleBuilder().Proto().Global("os", "system").Str(Payload(dir.Path)).Tuple1().Reduce().Stop().Bytes);
        AssertRefused(dir.Path, file, "legacy format");
    }

    [Fact]
    public void A_compressed_storage_record_is_refused()
    {
        using var dir = new TempFolder();
        var file = dir.File("pytorch_model.bin");
        var pickle = new PickleBuilder().Proto().OrderedDict().Str("w").Tensor("FloatStorage", "0", 12, 0, [12], [1]).SetItem().Stop().Bytes;
        TorchSaveWriter.WriteZip(file, pickle, new Dictionary<string, byte[]> { ["0"] = Floats12 }, storageCompression: CompressionLevel.Optimal);
        AssertRefused(dir.Path, file, "is compressed");
    }

    [Theory]
    [InlineData("not a zip", "no zip signature")]
    [InlineData("truncated zip", "corrupt torch.save zip")]
    [InlineData("no data.pkl", "without {folder}/data.pkl")]
    [InlineData("version 99", "format version '99'")]
    [InlineData("byteorder middle", "byteorder 'middle'")]
    public void A_file_that_is_not_a_torch_save_zip_is_named(string what, string expect)
    {
        using var dir = new TempFolder();
        var file = dir.File("pytorch_model.bin");
        var pickle = new PickleBuilder().Proto().OrderedDict().Stop().Bytes;
        switch (what)
        {
            case "not a zip": File.WriteAllText(file, "hello"); break;
            case "truncated zip":
                var whole = File.ReadAllBytes(Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "pickle", "views", "pytorch_model.bin"));
                File.WriteAllBytes(file, whole[..(whole.Length / 2)]);
                break;
            case "no data.pkl":
                using (var zip = new ZipArchive(File.Create(file), ZipArchiveMode.Create)) zip.CreateEntry("archive/other");
                break;
            case "version 99": TorchSaveWriter.WriteZip(file, pickle, new Dictionary<string, byte[]>(), version: "99"); break;
            default: TorchSaveWriter.WriteZip(file, pickle, new Dictionary<string, byte[]>(), byteorder: "middle"); break;
        }
        AssertRefused(dir.Path, file, expect);
    }

    [Fact]
    public void Glance_caption_reports_a_hostile_checkpoint_in_one_line()
    {
        using var dir = new TempFolder();
        var model = Directory.CreateDirectory(dir.File("model")).FullName;
        foreach (var f in Directory.GetFiles(TinyModels.CaptionerFolder).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        var bin = Path.Combine(model, "pytorch_model.bin");
        TorchSaveWriter.WriteZip(bin, new PickleBuilder().Proto().Global("os", "system").Str(Payload(model)).Tuple1().Reduce().Stop().Bytes, new Dictionary<string, byte[]>());
        var image = Faults.CaptionFaultTests.Png(dir.Path, "grey.png", 24, 24);

        var (code, output, error) = GlanceCli.RunReported("caption", "--model", model, image);

        Assert.NotEqual(0, code);
        Assert.Equal("", output);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Contains($"{bin}: refused: data.pkl: it asks for the global 'os.system'", error);
        Assert.False(File.Exists(Path.Combine(model, Marker)));
    }
}
