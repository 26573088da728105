using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpGlance.Data.Pseudo;

/// <summary>
/// A stage-1 model's own captions (the paper's Data1 strategy), read from either
/// <c>glance caption --json</c> output (JSON lines <c>{"image": ..., "caption": ...}</c>) or a COCO results
/// file (<c>[{"image_id": 123, "caption": ...}]</c>). An entry finds its captions by its image path, the
/// file name, the name without extension, the image's COCO number (the last digits of the name:
/// COCO_train2014_000000123456.jpg → 123456), or its id, in that order. An image may have several
/// captions (samples, beams); they are kept in file order.
/// </summary>
public sealed class ModelCaptions
{
    private readonly Dictionary<string, List<string>> _byKey = new(StringComparer.Ordinal);

    private ModelCaptions(string path) => Path = path;

    public string Path { get; }

    /// <summary>How many captions the file holds.</summary>
    public int Count { get; private set; }

    public static ModelCaptions Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw GlanceException.ForFile(path, e is FileNotFoundException or DirectoryNotFoundException ? "captions file not found" : e.Message);
        }
        var captions = new ModelCaptions(path);
        var trimmed = text.TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
        if (trimmed.StartsWith('['))
        {
            JsonNode? root;
            try { root = JsonNode.Parse(trimmed); }
            catch (JsonException e) { throw GlanceException.ForFile(path, $"not valid JSON ({e.Message})"); }
            var array = (JsonArray)root!;
            for (int i = 0; i < array.Count; i++) captions.Add(array[i], $"item {i}");
        }
        else
        {
            var lines = text.Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.Length == 0) continue;
                JsonNode? node;
                try { node = JsonNode.Parse(line); }
                catch (JsonException e) { throw GlanceException.ForFile(path, $"line {i + 1}: not valid JSON ({e.Message})"); }
                captions.Add(node, $"line {i + 1}");
            }
        }
        if (captions.Count == 0) throw GlanceException.ForFile(path, "holds no captions");
        return captions;
    }

    /// <summary>The captions of an entry's image, or null when the file has none for it.</summary>
    public IReadOnlyList<string>? Find(string? image, string? id)
    {
        foreach (var key in Keys(image).Append(id))
            if (key is not null && _byKey.TryGetValue(key, out var list)) return list;
        return null;
    }

    private void Add(JsonNode? node, string where)
    {
        if (node is not JsonObject obj) throw GlanceException.ForFile(Path, $"{where}: expected an object with \"image\" or \"image_id\" and \"caption\"");
        if (obj["caption"] is not JsonValue cv || !cv.TryGetValue<string>(out var caption) || string.IsNullOrWhiteSpace(caption))
            throw GlanceException.ForFile(Path, $"{where}: no \"caption\" string");
        string? image = obj["image"] is JsonValue iv && iv.TryGetValue<string>(out var s) ? s : null;
        string? imageId = obj["image_id"] switch
        {
            JsonValue v when v.TryGetValue<long>(out var n) => n.ToString(CultureInfo.InvariantCulture),
            JsonValue v when v.TryGetValue<string>(out var t) => NumericId(t) ?? t,
            _ => null,
        };
        if (image is null && imageId is null) throw GlanceException.ForFile(Path, $"{where}: no \"image\" or \"image_id\"");
        caption = caption.Trim();
        var keys = Keys(image).Append(imageId).Where(k => k is not null).Distinct().ToList();
        foreach (var key in keys)
        {
            if (!_byKey.TryGetValue(key!, out var list)) _byKey[key!] = list = [];
            list.Add(caption);
        }
        Count++;
    }

    private static IEnumerable<string?> Keys(string? image)
    {
        if (string.IsNullOrEmpty(image)) yield break;
        yield return image;
        var name = System.IO.Path.GetFileName(image.Replace('\\', '/'));
        yield return name;
        var stem = System.IO.Path.GetFileNameWithoutExtension(name);
        yield return stem;
        yield return NumericId(stem);
    }

    /// <summary>The last run of digits as a number without leading zeros: "COCO_val2014_000000042" → "42".</summary>
    private static string? NumericId(string s)
    {
        int end = s.Length;
        while (end > 0 && !char.IsAsciiDigit(s[end - 1])) end--;
        int start = end;
        while (start > 0 && char.IsAsciiDigit(s[start - 1])) start--;
        if (start == end) return null;
        var digits = s[start..end].TrimStart('0');
        return digits.Length == 0 ? "0" : digits;
    }
}
