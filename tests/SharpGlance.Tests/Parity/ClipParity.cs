using SharpGlance.IO;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Parity;

/// <summary>
/// <c>clip</c> fixtures (full CLIPModel, transformers 4.36 layout): pixel_values, input_ids, attention_mask →
/// image_embeds, text_embeds, logits_per_image, text/vision last hidden states (≤ 1e-4). The vision
/// tower alone, loaded from the same folder, must give the same vision states.
/// </summary>
public static class ClipParity
{
    [FixtureKind("clip")]
    public static void Check(string folder)
    {
        string name = Path.GetFileName(folder);
        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        using var model = ClipModel.FromPretrained(folder);
        using var _ = no_grad();
        using var pixels = expected.Load("pixel_values");
        using var ids = expected.Load("input_ids");
        using var mask = expected.Tensors.ContainsKey("attention_mask") ? expected.Load("attention_mask") : null;
        using var output = model.Forward(pixels, ids, mask);

        var outputs = new Dictionary<string, Tensor>
        {
            ["image_embeds"] = output.ImageEmbeds,
            ["text_embeds"] = output.TextEmbeds,
            ["logits_per_image"] = output.LogitsPerImage,
            ["logits_per_text"] = output.LogitsPerText,
            ["text_last_hidden_state"] = output.TextLastHiddenState,
            ["vision_last_hidden_state"] = output.VisionLastHiddenState,
        };
        int compared = 0;
        foreach (var (key, actual) in outputs)
        {
            if (!expected.Tensors.ContainsKey(key)) continue;
            using var e = expected.Load(key);
            ParityReport.Close(name, e, actual, 1e-4, key);
            compared++;
        }
        Assert.True(compared >= 3, $"{name}: only {compared} known outputs in expected.safetensors");

        using var tower = ClipVisionModel.FromPretrained(folder);
        using var vision = tower.forward(pixels);
        TensorAssert.Close(output.VisionLastHiddenState, vision.LastHiddenState!, 0, $"{name}: vision tower loaded alone from the CLIP folder");
    }
}
