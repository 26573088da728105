using System.Text.Json.Nodes;
using SharpGlance.Connectors;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests;

/// <summary>
/// Small random-weight model folders in HF layout, made once per test run: a CLIP vision tower (56 px,
/// 16 patches, width 32, 4 layers) and an OPT over the real OPT vocabulary (50272 rows, width 32).
/// </summary>
public static class TinyModels
{
    private static readonly Lazy<string> _root = new(() => TempDir.Create("tiny-models"));
    private static readonly Lazy<string> _clip = new(MakeClip);
    private static readonly Lazy<string> _opt = new(MakeOpt);

    private static readonly Lazy<string> _captioner = new(MakeCaptioner);

    public static string ClipFolder => _clip.Value;
    public static string OptFolder => _opt.Value;
    /// <summary>A saved captioner (tower embedded, <c>pad</c> aspect) of the two: for `glance caption` runs.</summary>
    public static string CaptionerFolder => _captioner.Value;

    public static ClipVisionConfig VisionConfig => ClipVisionConfig.Tiny;
    public static OptConfig TextConfig => OptConfig.Tiny with { VocabSize = 50272, MaxPositionEmbeddings = 128 };

    /// <summary>DeepLens sized for the tiny tower and LM: levels 4 (base), 2, 3; 6 queries.</summary>
    public static DeepLensConfig DeepLens => new()
    {
        TappedLayers = [4, 2, 3], VisionWidth = 32, DModel = 32, DecoderLayers = 1, DecoderAttentionHeads = 4,
        DecoderFfnDim = 64, NumQueries = 6, LmHidden = 32,
    };

    private static string MakeClip()
    {
        var dir = Path.Combine(_root.Value, "clip");
        Directory.CreateDirectory(dir);
        using var tower = new ClipVisionModel(VisionConfig, generator: new Generator(11));
        SafeTensorsFile.Save(Path.Combine(dir, "model.safetensors"),
            tower.state_dict().Select(kv => new KeyValuePair<string, Tensor>("vision_model." + kv.Key, kv.Value)));
        ConfigJson.Write(Path.Combine(dir, "config.json"), ConfigJson.ToObject(VisionConfig));
        return dir;
    }

    private static string MakeOpt()
    {
        var dir = Path.Combine(_root.Value, "opt");
        using var lm = new OptForCausalLM(TextConfig, generator: new Generator(12));
        lm.Save(dir);
        CopyTokenizer(dir);
        return dir;
    }

    private static string MakeCaptioner()
    {
        var dir = Path.Combine(_root.Value, "captioner");
        using var c = SharpGlance.Captioning.Captioner.Assemble(ClipFolder, OptFolder, new SharpGlance.Captioning.AssembleOptions { Seed = 3 });
        c.Save(dir);
        return dir;
    }

    public static void CopyTokenizer(string dir)
    {
        foreach (var f in new[] { "vocab.json", "merges.txt" })
            File.Copy(Path.Combine(Fixtures.OptTokenizer, f), Path.Combine(dir, f), overwrite: true);
    }
}
