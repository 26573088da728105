using System.Text.Json.Nodes;
using SharpGlance.Data.Pseudo;

namespace SharpGlance.Tests.Data.Pseudo;

/// <summary>COCO-style captions, the synthetic world's lexicon shape, and LLaVA files made from them.</summary>
internal static class PseudoTestData
{
    public static readonly string[] CocoCaptions =
    [
        "A cat is sitting on a red chair.",
        "Three dogs run in front of a white fire hydrant.",
        "A woman in a room with a cat",
        "A multicolored motorcycle rests outside of a sheep farm",
        "A man riding a wave on top of a surfboard.",
        "There is a large elephant standing next to a wooden fence.",
        "Two men are playing frisbee in a park.",
        "A teddy bear sitting on a bed beside a small lamp.",
        "A plate with a sandwich and an orange on a wooden table.",
        "A little girl holding an umbrella to the left of a blue bus.",
        "Several sheep are grazing in a green field.",
        "A man is eating a hot dog inside of a car.",
    ];

    /// <summary>The shape the synthetic world writes as lexicon.json (SPEC §11).</summary>
    public const string SyntheticLexicon = """
    {
      "entities": {"animal": ["cat", "dog", "mouse", "owl"], "fruit": ["apple", "banana"]},
      "plurals": {"mouse": "mice"},
      "colours": ["red", "crimson", "blue", "navy", "green"],
      "sizes": ["small", "large"],
      "shapes": ["circle", "square", "triangle"],
      "relations": [["left of", "right of"], ["above", "below"]],
      "phrasings": ["{a} is {rel} {b}"]
    }
    """;

    public static JsonObject Entry(string id, string caption, string? image = null) => new()
    {
        ["id"] = id,
        ["image"] = image ?? $"coco/COCO_train2014_{int.Parse(id.TrimStart('e')):D12}.jpg",
        ["conversations"] = new JsonArray(
            new JsonObject { ["from"] = "human", ["value"] = "<image>\nDescribe the image briefly." },
            new JsonObject { ["from"] = "gpt", ["value"] = caption },
            new JsonObject { ["from"] = "human", ["value"] = "And the colour?" },
            new JsonObject { ["from"] = "gpt", ["value"] = "Not the ground truth." }),
    };

    /// <summary>A LLaVA conversation file with one entry per caption (ids e0, e1, ...) in a fresh folder.</summary>
    public static string WriteLlava(string dir, IEnumerable<string> captions, string name = "train.json")
    {
        Directory.CreateDirectory(dir);
        var array = new JsonArray(captions.Select((c, i) => (JsonNode?)Entry($"e{i}", c)).ToArray());
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, array.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "sharpglance-pseudo-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Every edit the editor can make to <paramref name="caption"/> with one edit, over many seeds.</summary>
    public static List<EditedCaption> SingleEdits(CaptionEditor editor, string caption, int seeds = 400) =>
        Enumerable.Range(0, seeds).Select(s => editor.Edit(caption, 1, new Random(s))).ToList();
}
