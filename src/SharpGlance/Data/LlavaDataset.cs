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
    public static IReadOnlyList<CaptionExample> Load(string jsonPath, string imagesFolder)
    {
        if (!File.Exists(jsonPath)) throw GlanceException.ForFile(jsonPath, "file not found");
        if (!Directory.Exists(imagesFolder)) throw GlanceException.ForFile(imagesFolder, "images folder not found");
        JsonArray entries;
        try
        {
            using var stream = File.OpenRead(jsonPath);
            entries = JsonNode.Parse(stream) as JsonArray ?? throw GlanceException.ForFile(jsonPath, "not a JSON list of conversations");
        }
        catch (JsonException e) { throw GlanceException.ForFile(jsonPath, $"invalid JSON: {e.Message}"); }
        if (entries.Count == 0) throw GlanceException.ForFile(jsonPath, "no entries");

        var result = new List<CaptionExample>(entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            if (entries[i] is not JsonObject e) throw GlanceException.ForFile(jsonPath, $"entry {i} is not an object");
            string id = e["id"]?.ToString() ?? i.ToString();
            string Where() => $"entry {i} (id {id})";
            string image = e["image"] is JsonValue iv && iv.TryGetValue<string>(out var s) && s.Length > 0 ? s
                : throw GlanceException.ForFile(jsonPath, $"{Where()} has no \"image\"");
            if (e["conversations"] is not JsonArray turns) throw GlanceException.ForFile(jsonPath, $"{Where()} has no \"conversations\" list");
            string? Turn(string from) => turns.OfType<JsonObject>()
                .FirstOrDefault(t => t["from"]?.GetValue<string>() == from)?["value"]?.GetValue<string>();
            string caption = Turn("gpt") ?? throw GlanceException.ForFile(jsonPath, $"{Where()} has no gpt turn (the caption)");
            if (string.IsNullOrWhiteSpace(caption)) throw GlanceException.ForFile(jsonPath, $"{Where()} has an empty caption");
            string? question = Turn("human")?.Replace("<image>", "").Trim();
            var pre = new List<string>();
            if (e["pre_captions"] is JsonArray list) pre.AddRange(list.Select(x => x?.GetValue<string>()).OfType<string>());
            else if (e["pre_caption"] is JsonValue pv && pv.TryGetValue<string>(out var one)) pre.Add(one);
            result.Add(new CaptionExample(i, id, Path.Combine(imagesFolder, image), caption.Trim(),
                string.IsNullOrEmpty(question) ? null : question, pre));
        }
        return result;
    }
}
