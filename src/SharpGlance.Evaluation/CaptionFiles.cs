using System.Text.Json;

namespace SharpGlance.Evaluation;

/// <summary>The caption file formats <c>glance eval</c> reads.</summary>
public enum CaptionFormat
{
    /// <summary>COCO caption annotations: <c>{"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]}</c>.</summary>
    CocoAnnotations,
    /// <summary>Karpathy's split file: <c>{"images": [{"cocoid"|"imgid", "filepath", "filename", "split", "sentences": [{"raw"}]}]}</c>.</summary>
    Karpathy,
    /// <summary>COCO results: <c>[{"image_id", "caption"}]</c>.</summary>
    CocoResults,
    /// <summary>One JSON object a line: <c>{"image", "caption"}</c> (<c>"image_id"</c> and <c>"captions": [...]</c> also read).</summary>
    Jsonl,
}

/// <summary>Reference captions by image id, in file order (the order coco-caption evaluates in).</summary>
public sealed class ReferenceSet
{
    public required string Path { get; init; }
    public required CaptionFormat Format { get; init; }
    public required Dictionary<string, List<string>> Captions { get; init; }
    /// <summary>Image file (relative path as the file names it) per id, where the format names one.</summary>
    public required Dictionary<string, string> ImageFiles { get; init; }
    /// <summary>Other names an image goes by (file name, file stem, Karpathy imgid, number without zero padding).</summary>
    internal Dictionary<string, string> Aliases { get; init; } = new(StringComparer.Ordinal);
    public int CaptionCount => Captions.Values.Sum(c => c.Count);
}

/// <summary>One candidate caption per image id, in file order.</summary>
public sealed class CandidateSet
{
    public required string Path { get; init; }
    public required CaptionFormat Format { get; init; }
    public required Dictionary<string, string> Captions { get; init; }
    public required Dictionary<string, string> ImageFiles { get; init; }
    /// <summary>
    /// How the captions were made, when the entries say (<c>glance caption --json</c> writes
    /// <see cref="CaptionFiles.MetadataKeys"/> on every line): each key's distinct values, joined by " | ".
    /// </summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>One image to score: its candidate, its references and (when known) its image file.</summary>
public sealed record EvaluationItem(string ImageId, string Candidate, IReadOnlyList<string> References, string? ImageFile = null);

/// <summary>
/// Loads references and candidates in the four formats and lines them up the way coco-caption's
/// <c>COCO.loadRes</c> + <c>COCOEvalCap</c> do: the evaluated images are those with a candidate, taken in the
/// reference file's image order, each with all its reference captions in file order. Every problem is a
/// <see cref="GlanceException"/> naming the file.
/// </summary>
public static class CaptionFiles
{
    /// <summary>Reads references: COCO annotations, Karpathy split (images of <paramref name="split"/>), COCO-results-shaped JSON, or JSONL.</summary>
    public static ReferenceSet LoadReferences(string path, string split = "test")
    {
        var text = ReadText(path);
        if (IsJsonl(path, text)) return ReferencesFromJsonl(path, text);
        using var doc = ParseJson(path, text);
        var root = doc.RootElement;
        if (root.ValueKind == JsonValueKind.Array) return ReferencesFromPairs(path, root);
        if (root.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, "expected a JSON object or array of captions");
        if (root.TryGetProperty("annotations", out var annotations)) return ReferencesFromCoco(path, root, annotations);
        if (root.TryGetProperty("images", out var images) && images.ValueKind == JsonValueKind.Array &&
            images.EnumerateArray().Any(i => i.ValueKind == JsonValueKind.Object && i.TryGetProperty("sentences", out _)))
            return ReferencesFromKarpathy(path, images, split);
        throw GlanceException.ForFile(path, "not a caption file: expected COCO annotations (\"annotations\"), a Karpathy split (\"images\" with \"sentences\"), [{\"image_id\", \"caption\"}] or JSONL");
    }

    /// <summary>The optional keys of a candidate entry that describe the run (the model, the decoding settings).</summary>
    public static readonly IReadOnlyList<string> MetadataKeys = ["model", "decoding"];

    /// <summary>Reads candidates: COCO results JSON or JSONL; exactly one caption per image.</summary>
    public static CandidateSet LoadCandidates(string path)
    {
        var text = ReadText(path);
        var captions = new Dictionary<string, string>(StringComparer.Ordinal);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        CaptionFormat format;
        void Add(string id, string caption, int entry, JsonElement obj)
        {
            if (!captions.TryAdd(id, caption))
                throw GlanceException.ForFile(path, $"image id {id} appears twice (entry {entry}); coco-caption scores exactly one caption per image");
            foreach (var key in MetadataKeys)
                if (OptionalString(obj, key) is { Length: > 0 } value)
                {
                    if (!metadata.TryGetValue(key, out var values)) metadata[key] = values = [];
                    if (!values.Contains(value)) values.Add(value);
                }
        }
        if (IsJsonl(path, text))
        {
            format = CaptionFormat.Jsonl;
            foreach (var (obj, line) in JsonlObjects(path, text))
            {
                var (id, file) = JsonlImage(path, obj, line);
                Add(id, RequiredString(path, obj, "caption", $"line {line}"), line, obj);
                if (file is not null) files[id] = file;
            }
        }
        else
        {
            format = CaptionFormat.CocoResults;
            using var doc = ParseJson(path, text);
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw GlanceException.ForFile(path, "expected COCO results: a JSON array of {\"image_id\", \"caption\"}");
            int entry = 0;
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                entry++;
                if (item.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"entry {entry} is not an object");
                Add(IdOf(path, item, "image_id", $"entry {entry}"), RequiredString(path, item, "caption", $"entry {entry}"), entry, item);
            }
        }
        if (captions.Count == 0) throw GlanceException.ForFile(path, "no captions");
        return new CandidateSet
        {
            Path = path, Format = format, Captions = captions, ImageFiles = files,
            Metadata = metadata.ToDictionary(kv => kv.Key, kv => string.Join(" | ", kv.Value), StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// The images to evaluate: every candidate's image (matched by id, or by file name / stem / unpadded
    /// number when the ids differ in form), in reference order. Candidates without references are an error,
    /// as in coco-caption ("Results do not correspond to current coco set").
    /// </summary>
    public static List<EvaluationItem> Align(ReferenceSet references, CandidateSet candidates)
    {
        var byRefId = new Dictionary<string, string>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var id in candidates.Captions.Keys)
        {
            var refId = Resolve(references, id);
            if (refId is null) { missing.Add(id); continue; }
            if (byRefId.ContainsKey(refId))
                throw GlanceException.ForFile(candidates.Path, $"image ids {Quote(id)} and {Quote(byRefId[refId])} both name image {refId} of {references.Path}");
            byRefId[refId] = id;
        }
        if (missing.Count > 0)
            throw GlanceException.ForFile(candidates.Path,
                $"{missing.Count} image id{(missing.Count == 1 ? "" : "s")} without references in {references.Path}: {string.Join(", ", missing.Take(5).Select(Quote))}{(missing.Count > 5 ? ", …" : "")}");

        var items = new List<EvaluationItem>(byRefId.Count);
        foreach (var (refId, refs) in references.Captions)
        {
            if (!byRefId.TryGetValue(refId, out var candId)) continue;
            if (refs.Count == 0) throw GlanceException.ForFile(references.Path, $"image {refId} has no reference captions");
            var file = references.ImageFiles.GetValueOrDefault(refId) ?? candidates.ImageFiles.GetValueOrDefault(candId);
            CheckLength(candidates.Path, candId, candidates.Captions[candId]);
            foreach (var r in refs) CheckLength(references.Path, refId, r);
            items.Add(new EvaluationItem(refId, candidates.Captions[candId], refs, file));
        }
        return items;
    }

    /// <summary>
    /// The longest caption the metrics score, in words. METEOR's alignment grows faster than linearly with
    /// length (1.1 GB at 65k words, out of memory at 1 MB of text); real captions have tens of words.
    /// </summary>
    public const int MaxCaptionWords = 2_000;

    private static void CheckLength(string path, string id, string caption)
    {
        int words = 0;
        bool inWord = false;
        foreach (char c in caption)
        {
            if (!char.IsWhiteSpace(c) && !inWord) words++;
            inWord = !char.IsWhiteSpace(c);
        }
        if (words > MaxCaptionWords)
            throw GlanceException.ForFile(path, $"image {Quote(id)}: a caption of more than {MaxCaptionWords:N0} words, above the metrics' limit (METEOR's alignment would need gigabytes)");
    }

    private static string? Resolve(ReferenceSet refs, string id)
    {
        if (refs.Captions.ContainsKey(id)) return id;
        foreach (var key in AliasKeys(id))
            if (refs.Captions.ContainsKey(key)) return key;
            else if (refs.Aliases.TryGetValue(key, out var target) && target.Length > 0) return target;
        return null;
    }

    /// <summary>Other spellings of an id: its file name, stem, and number without leading zeros.</summary>
    private static IEnumerable<string> AliasKeys(string id)
    {
        yield return id;
        var name = System.IO.Path.GetFileName(id.Replace('\\', '/'));
        if (name.Length > 0 && name != id) yield return name;
        var stem = System.IO.Path.GetFileNameWithoutExtension(name);
        if (stem.Length > 0 && stem != name) yield return stem;
        // COCO file stems end in the zero-padded id: COCO_val2014_000000391895, 000000391895.
        int digits = stem.Length;
        while (digits > 0 && char.IsAsciiDigit(stem[digits - 1])) digits--;
        // A negative number (-1) is no padded id: its digits would name image 1.
        if (digits < stem.Length && stem[..digits] != "-")
        {
            var number = stem[digits..].TrimStart('0');
            yield return number.Length == 0 ? "0" : number;
        }
    }

    private static void AddAliases(Dictionary<string, string> aliases, string id, IEnumerable<string?> names)
    {
        foreach (var name in names)
        {
            if (string.IsNullOrEmpty(name)) continue;
            foreach (var key in AliasKeys(name))
            {
                if (key == id) continue;
                // An alias two images share is ambiguous: keep it, but pointing nowhere.
                if (aliases.TryGetValue(key, out var existing) && existing != id) aliases[key] = "";
                else aliases[key] = id;
            }
        }
    }

    // ---- the formats ----

    private static ReferenceSet ReferencesFromCoco(string path, JsonElement root, JsonElement annotations)
    {
        if (annotations.ValueKind != JsonValueKind.Array) throw GlanceException.ForFile(path, "\"annotations\" is not an array");
        var captions = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var aliases = new Dictionary<string, string>(StringComparer.Ordinal);
        bool hasImages = root.TryGetProperty("images", out var images) && images.ValueKind == JsonValueKind.Array;
        if (hasImages)
        {
            int entry = 0;
            foreach (var image in images.EnumerateArray())
            {
                entry++;
                if (image.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"images entry {entry} is not an object");
                var id = IdOf(path, image, "id", $"images entry {entry}");
                if (!captions.TryAdd(id, [])) throw GlanceException.ForFile(path, $"image id {id} is listed twice in \"images\"");
                if (OptionalString(image, "file_name") is { } file) { files[id] = file; AddAliases(aliases, id, [file]); }
            }
        }
        int n = 0;
        foreach (var ann in annotations.EnumerateArray())
        {
            n++;
            if (ann.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"annotation {n} is not an object");
            var id = IdOf(path, ann, "image_id", $"annotation {n}");
            var caption = RequiredString(path, ann, "caption", $"annotation {n}");
            if (!captions.TryGetValue(id, out var list))
            {
                // pycocotools only evaluates images listed in "images"; without that list, take them as met.
                if (hasImages) continue;
                captions[id] = list = [];
            }
            list.Add(caption);
        }
        if (n == 0) throw GlanceException.ForFile(path, "no annotations");
        return new ReferenceSet { Path = path, Format = CaptionFormat.CocoAnnotations, Captions = captions, ImageFiles = files, Aliases = aliases };
    }

    private static ReferenceSet ReferencesFromKarpathy(string path, JsonElement images, string split)
    {
        var captions = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var aliases = new Dictionary<string, string>(StringComparer.Ordinal);
        var splits = new SortedSet<string>(StringComparer.Ordinal);
        int entry = 0;
        foreach (var image in images.EnumerateArray())
        {
            entry++;
            if (image.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"images entry {entry} is not an object");
            var imageSplit = OptionalString(image, "split") ?? "";
            splits.Add(imageSplit);
            if (imageSplit != split) continue;
            var filename = OptionalString(image, "filename");
            // COCO's id when the file has one (results name COCO ids); otherwise the file stem (Flickr30k), then imgid.
            string id = image.TryGetProperty("cocoid", out _) ? IdOf(path, image, "cocoid", $"images entry {entry}")
                : filename is not null ? System.IO.Path.GetFileNameWithoutExtension(filename)
                : IdOf(path, image, "imgid", $"images entry {entry}");
            if (!image.TryGetProperty("sentences", out var sentences) || sentences.ValueKind != JsonValueKind.Array)
                throw GlanceException.ForFile(path, $"images entry {entry} (image {id}) has no \"sentences\" array");
            var list = new List<string>();
            int s = 0;
            foreach (var sentence in sentences.EnumerateArray())
            {
                s++;
                if (sentence.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"image {id}: sentence {s} is not an object");
                list.Add(RequiredString(path, sentence, "raw", $"image {id}, sentence {s}"));
            }
            if (!captions.TryAdd(id, list)) throw GlanceException.ForFile(path, $"image id {id} appears twice in split '{split}'");
            var filepath = OptionalString(image, "filepath");
            if (filename is not null) files[id] = filepath is null ? filename : $"{filepath}/{filename}";
            string? imgid = image.TryGetProperty("imgid", out var imgidEl) ? imgidEl.ToString() : null;
            AddAliases(aliases, id, [filename, imgid]);
        }
        if (entry == 0) throw GlanceException.ForFile(path, "no images");
        if (captions.Count == 0)
            throw GlanceException.ForFile(path, $"no images with split '{split}' (splits present: {string.Join(", ", splits.Select(x => $"'{x}'"))})");
        return new ReferenceSet { Path = path, Format = CaptionFormat.Karpathy, Captions = captions, ImageFiles = files, Aliases = aliases };
    }

    private static ReferenceSet ReferencesFromPairs(string path, JsonElement array)
    {
        var captions = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        int entry = 0;
        foreach (var item in array.EnumerateArray())
        {
            entry++;
            if (item.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"entry {entry} is not an object");
            var id = IdOf(path, item, "image_id", $"entry {entry}");
            if (!captions.TryGetValue(id, out var list)) captions[id] = list = [];
            list.Add(RequiredString(path, item, "caption", $"entry {entry}"));
        }
        if (entry == 0) throw GlanceException.ForFile(path, "no captions");
        return new ReferenceSet { Path = path, Format = CaptionFormat.CocoResults, Captions = captions, ImageFiles = new(StringComparer.Ordinal) };
    }

    private static ReferenceSet ReferencesFromJsonl(string path, string text)
    {
        var captions = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var aliases = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (obj, line) in JsonlObjects(path, text))
        {
            var (id, file) = JsonlImage(path, obj, line);
            if (!captions.TryGetValue(id, out var list)) captions[id] = list = [];
            if (obj.TryGetProperty("captions", out var many) && many.ValueKind == JsonValueKind.Array)
            {
                foreach (var c in many.EnumerateArray())
                    list.Add(c.ValueKind == JsonValueKind.String ? c.GetString()! : throw GlanceException.ForFile(path, $"line {line}: \"captions\" holds a non-string"));
            }
            else list.Add(RequiredString(path, obj, "caption", $"line {line}"));
            if (file is not null) { files[id] = file; AddAliases(aliases, id, [file]); }
        }
        return new ReferenceSet { Path = path, Format = CaptionFormat.Jsonl, Captions = captions, ImageFiles = files, Aliases = aliases };
    }

    // ---- JSON helpers ----

    private static string ReadText(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, Directory.Exists(path) ? "is a folder, not a caption file" : "not found");
        string text;
        // Strict UTF-8: a replacement character silently scored in place of a word is a wrong score.
        try
        {
            using var reader = new StreamReader(path, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true);
            text = reader.ReadToEnd();
        }
        catch (System.Text.DecoderFallbackException) { throw GlanceException.ForFile(path, "is not valid UTF-8 text"); }
        catch (IOException e) { throw GlanceException.ForFile(path, "cannot be read: " + e.Message); }
        catch (UnauthorizedAccessException e) { throw GlanceException.ForFile(path, "cannot be read: " + e.Message); }
        if (string.IsNullOrWhiteSpace(text)) throw GlanceException.ForFile(path, "is empty");
        return text;
    }

    private static bool IsJsonl(string path, string text)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase)) return true;
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return false;
        // No telling extension: several top-level objects, one a line, is JSONL.
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length > 1 && lines.All(l => l.StartsWith('{') && l.EndsWith('}'));
    }

    private static JsonDocument ParseJson(string path, string text)
    {
        try { return JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw GlanceException.ForFile(path, $"not valid JSON ({e.Message})"); }
    }

    private static IEnumerable<(JsonElement Obj, int Line)> JsonlObjects(string path, string text)
    {
        var lines = text.Split('\n');
        int count = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            JsonElement obj;
            try
            {
                using var doc = JsonDocument.Parse(line, ConfigJson.Strict);
                obj = doc.RootElement.Clone();
            }
            catch (JsonException e) { throw GlanceException.ForFile(path, $"line {i + 1} is not valid JSON ({e.Message})"); }
            if (obj.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"line {i + 1} is not a JSON object");
            count++;
            yield return (obj, i + 1);
        }
        if (count == 0) throw GlanceException.ForFile(path, "no captions");
    }

    /// <summary>A JSONL line's image: "image" (a path or name; its id is the file stem) or "image_id".</summary>
    private static (string Id, string? File) JsonlImage(string path, JsonElement obj, int line)
    {
        if (obj.TryGetProperty("image_id", out _)) return (IdOf(path, obj, "image_id", $"line {line}"), OptionalString(obj, "image"));
        var image = RequiredString(path, obj, "image", $"line {line}");
        var stem = System.IO.Path.GetFileNameWithoutExtension(image.Replace('\\', '/'));
        return (stem.Length > 0 ? stem : image, image);
    }

    /// <summary>An id as text: a JSON number as written (123), a string as is.</summary>
    private static string IdOf(string path, JsonElement obj, string name, string where)
    {
        if (!obj.TryGetProperty(name, out var value)) throw GlanceException.ForFile(path, $"{where} has no \"{name}\"");
        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out _) => value.GetRawText(),
            JsonValueKind.Number => throw GlanceException.ForFile(path, $"{where}: \"{name}\" {value.GetRawText()} is not a whole number"),
            JsonValueKind.String when value.GetString()!.Length > 0 => value.GetString()!,
            _ => throw GlanceException.ForFile(path, $"{where}: \"{name}\" must be a number or a non-empty string"),
        };
    }

    private static string RequiredString(string path, JsonElement obj, string name, string where)
    {
        if (!obj.TryGetProperty(name, out var value)) throw GlanceException.ForFile(path, $"{where} has no \"{name}\"");
        if (value.ValueKind != JsonValueKind.String) throw GlanceException.ForFile(path, $"{where}: \"{name}\" is not a string");
        return value.GetString()!;
    }

    private static string? OptionalString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Quote(string id) => id.All(char.IsAsciiDigit) ? id : $"'{id}'";
}
