using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpGlance.Data;

/// <summary>
/// One training pair from a LLaVA conversation file: the image, the caption (the first <c>gpt</c> turn),
/// the question of the <c>human</c> turn, and for Sharp-Eyed Refinement the pseudo-initial captions
/// (<c>pre_caption</c> or <c>pre_captions</c>, SPEC §9).
/// </summary>
public sealed record CaptionExample(int Index, string Id, string ImagePath, string Caption, string? Question, IReadOnlyList<string> PreCaptions);

/// <summary>Reads LLaVA conversation JSON (<c>[{"id", "image", "conversations": [...]}, ...]</c>).</summary>
public static class LlavaDataset
{
    /// <summary>
    /// The entries of <paramref name="jsonPath"/>, their images under <paramref name="imagesFolder"/>: an
    /// image path that leads outside that folder (<c>../</c>, an absolute path) is refused before any file
    /// is opened.
    /// </summary>
    public static IReadOnlyList<CaptionExample> Load(string jsonPath, string imagesFolder)
    {
        if (!File.Exists(jsonPath)) throw GlanceException.ForFile(jsonPath, "file not found");
        if (!Directory.Exists(imagesFolder)) throw GlanceException.ForFile(imagesFolder, "images folder not found");
        JsonArray entries;
        try
        {
            using var stream = new MemoryStream(ConfigJson.ReadUtf8(jsonPath));
            entries = JsonNode.Parse(stream, documentOptions: ConfigJson.Strict) as JsonArray ?? throw GlanceException.ForFile(jsonPath, "not a JSON list of conversations");
        }
        catch (JsonException e) { throw GlanceException.ForFile(jsonPath, $"invalid JSON: {e.Message}"); }
        if (entries.Count == 0) throw GlanceException.ForFile(jsonPath, "no entries");

        var root = Path.GetFullPath(imagesFolder);
        var result = new List<CaptionExample>(entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            if (entries[i] is not JsonObject e) throw GlanceException.ForFile(jsonPath, $"entry {i} is not an object");
            string id = e["id"]?.ToString() ?? i.ToString();
            string Where() => $"entry {i} (id {id})";
            string? Text(JsonNode? node, string what) => ConfigJson.String(node, jsonPath, $"{Where()}: {what}");
            string image = Text(e["image"], "\"image\"") is { Length: > 0 } s ? s
                : throw GlanceException.ForFile(jsonPath, $"{Where()} has no \"image\"");
            if (image.Contains('\0')) throw GlanceException.ForFile(jsonPath, $"{Where()}: the image path holds a NUL character");
            if (!IsInside(Path.GetFullPath(Path.Combine(root, image)), root))
                throw GlanceException.ForFile(jsonPath, $"{Where()}: image \"{image}\" lies outside the images folder {imagesFolder}");
            if (e["conversations"] is not JsonArray turns) throw GlanceException.ForFile(jsonPath, $"{Where()} has no \"conversations\" list");
            string? Turn(string from) => turns.OfType<JsonObject>()
                .FirstOrDefault(t => Text(t["from"], "\"from\"") == from) is { } turn ? Text(turn["value"], $"the {from} turn's \"value\"") : null;
            string caption = Turn("gpt") ?? throw GlanceException.ForFile(jsonPath, $"{Where()} has no gpt turn (the caption)");
            if (string.IsNullOrWhiteSpace(caption)) throw GlanceException.ForFile(jsonPath, $"{Where()} has an empty caption");
            string? question = Turn("human")?.Replace("<image>", "").Trim();
            var pre = new List<string>();
            switch (e["pre_captions"])
            {
                case JsonArray list:
                    pre.AddRange(list.Select(x => Text(x, "\"pre_captions\" item") ?? throw GlanceException.ForFile(jsonPath, $"{Where()}: \"pre_captions\" holds null")));
                    break;
                case null:
                    if (Text(e["pre_caption"], "\"pre_caption\"") is { } one) pre.Add(one);
                    break;
                case var other:
                    throw GlanceException.ForFile(jsonPath, $"{Where()}: \"pre_captions\" must be a list of strings, not {other.GetValueKind().ToString().ToLowerInvariant()}");
            }
            result.Add(new CaptionExample(i, id, Path.Combine(imagesFolder, image), caption.Trim(),
                string.IsNullOrEmpty(question) ? null : question, pre));
        }
        return result;
    }

    /// <summary>Whether the full path <paramref name="path"/> is <paramref name="folder"/> or below it.</summary>
    public static bool IsInside(string path, string folder)
    {
        var root = Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar;
        return path.StartsWith(root, StringComparison.Ordinal);
    }
}
