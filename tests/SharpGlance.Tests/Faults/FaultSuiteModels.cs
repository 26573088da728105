using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace SharpGlance.Tests.Faults;

/// <summary>
/// Generated bad model folders for `glance caption --model DIR` (issue #16): config.json missing, not JSON
/// or with the wrong type or an impossible value for each size; safetensors headers that lie (length,
/// JSON, dtype, shape, offsets, duplicates), missing, extra and non-finite tensors, cut files; broken
/// tokenizer and preprocessor files; shard indexes that point elsewhere. The rest of the folder is the
/// tiny captioner, linked.
/// </summary>
public class FaultSuiteModels
{
    /// <summary>Values no size can take: text, fractions, booleans, lists, objects, zero, negative, absurdly large.</summary>
    private static readonly (string Name, string Json)[] BadSizes =
        [("string", "\"32\""), ("fraction", "2.5"), ("bool", "true"), ("list", "[32]"), ("object", "{}"), ("zero", "0"), ("negative", "-4"), ("huge", "1099511627776")];

    private static readonly Dictionary<string, FaultCase> All = Cases().ToDictionary(c => c.Name);

    public static TheoryData<string> Models => FaultSuite.Names(All.Values);

    [Theory, MemberData(nameof(Models))]
    public Task A_bad_model_folder_gets_one_error_line_naming_the_bad_file(string name) => FaultSuite.Check(All, name);

    /// <summary>
    /// A model folder whose <paramref name="file"/> <paramref name="write"/> replaces (given the good
    /// file's path and the path to write; writing nothing leaves it missing), the other files linked to
    /// the tiny captioner's. The error must name <paramref name="blamed"/> (default: the file itself).
    /// </summary>
    private static FaultCase Model(string name, string file, Action<string, string> write, string? blamed = null) => new("model/" + name, dir =>
    {
        var model = LinkedModel(dir, except: file);
        write(Path.Combine(TinyModels.CaptionerFolder, file), Path.Combine(model, file));
        return Run(dir, model, Path.Combine(model, blamed ?? file));
    });

    /// <summary>A model folder in <paramref name="dir"/> of links to the tiny captioner's files, but for <paramref name="except"/>.</summary>
    private static string LinkedModel(string dir, string? except)
    {
        var model = Directory.CreateDirectory(Path.Combine(dir, "model")).FullName;
        foreach (var f in Directory.GetFiles(TinyModels.CaptionerFolder))
            if (Path.GetFileName(f) != except) File.CreateSymbolicLink(Path.Combine(model, Path.GetFileName(f)), f);
        return model;
    }

    private static FaultRun Run(string dir, string model, string bad) =>
        new(FaultSuiteImages.Caption(model, CaptionFaultTests.Png(dir, "good.png", 20, 20)), bad);

    private static FaultCase Text(string name, string file, string text) => Model(name, file, (_, path) => File.WriteAllText(path, text));

    private static FaultCase Json(string name, string file, Action<JsonObject> edit) => Model(name, file, (good, path) =>
    {
        var json = JsonNode.Parse(File.ReadAllText(good))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    });

    private static IEnumerable<FaultCase> Cases()
    {
        foreach (var file in new[] { "config.json", "preprocessor_config.json", "vocab.json" })
            foreach (var (kind, text) in new[] { ("empty", ""), ("open-brace", "{"), ("list", "[]"), ("null", "null"), ("number", "42"), ("string", "\"x\""), ("prose", "not json"), ("nul", "{\"a\u0000\": 1") })
                yield return Text($"{file}/{kind}", file, text);
        foreach (var file in new[] { "config.json", "vocab.json", "merges.txt", "model.safetensors" })
            yield return Model($"{file}/missing", file, (_, _) => { }, blamed: file == "model.safetensors" ? "" : file);
        yield return Model("config.json/invalid-utf8", "config.json", (good, path) => File.WriteAllBytes(path, [.. File.ReadAllBytes(good)[..40], 0xC3, 0x28, .. File.ReadAllBytes(good)[40..]]));
        yield return Model("config.json/duplicate-key", "config.json", (good, path) => File.WriteAllText(path, File.ReadAllText(good).Replace("\"hidden_size\": 32,", "\"hidden_size\": 32, \"hidden_size\": 64,")));
        yield return Model("config.json/cut-in-half", "config.json", (good, path) => File.WriteAllText(path, File.ReadAllText(good)[..600]));

        // Every size of the LM and of the tower, given each impossible value.
        foreach (var key in new[] { "vocab_size", "hidden_size", "num_hidden_layers", "ffn_dim", "max_position_embeddings", "num_attention_heads", "word_embed_proj_dim" })
            foreach (var (kind, value) in BadSizes)
                yield return Json($"config.json/{key}/{kind}", "config.json", c => c[key] = JsonNode.Parse(value));
        foreach (var key in new[] { "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size", "patch_size", "num_channels" })
            foreach (var (kind, value) in BadSizes)
                yield return Json($"config.json/vision_config.{key}/{kind}", "config.json", c => c["vision_config"]![key] = JsonNode.Parse(value));
        foreach (var (key, value) in new[]
        {
            ("mm_projector_type", "3"), ("image_aspect_ratio", "\"stretch\""), ("template", "\"nope\""),
            ("activation_function", "\"swish2\""), ("mm_vision_select_layer", "\"-99\""), ("mm_vision_select_layer", "\"abc\""),
            ("mm_vision_select_feature", "\"nope\""), ("first_glance", "\"nope\""), ("vision_config", "\"clip\""), ("vision_config", "[]"), ("model_type", "42"),
        })
            yield return Json($"config.json/{key}/{value.Trim('"')}", "config.json", c => c[key] = JsonNode.Parse(value));
        yield return Json("config.json/vision_config.hidden_act/nope", "config.json", c => c["vision_config"]!["hidden_act"] = "nope");

        foreach (var (key, value) in new[]
        {
            ("image_mean", "\"abc\""), ("image_mean", "[0.5]"), ("image_std", "[0, 0, 0]"), ("size", "{\"shortest_edge\": -5}"), ("crop_size", "{\"height\": 0, \"width\": 56}"),
            ("rescale_factor", "\"x\""), ("resample", "99"), ("do_resize", "\"yes\""),
        })
            yield return Json($"preprocessor_config.json/{key}/{value}", "preprocessor_config.json", c => c[key] = JsonNode.Parse(value));

        yield return Json("vocab.json/string-ids", "vocab.json", v => v["</s>"] = "2");
        yield return Json("vocab.json/no-eos", "vocab.json", v => v.Remove("</s>"));
        yield return Json("vocab.json/sparse-ids", "vocab.json", v => v["</s>"] = 9_999_999);
        yield return Json("vocab.json/shared-id", "vocab.json", v => v["</s>"] = 5);
        yield return Text("merges.txt/empty", "merges.txt", "");
        yield return Text("merges.txt/one-symbol-lines", "merges.txt", "#version: 0.2\na\nb c d\n");

        foreach (var c in SafetensorsCases()) yield return c;

        // A shard index naming files elsewhere: the outside one is a FIFO, so opening it would stall the run.
        foreach (var (kind, shard) in new[] { ("parent", "../outside.safetensors"), ("absolute", "OUTSIDE"), ("dotdot", ".."), ("missing", "model-00002.safetensors"), ("empty", "") })
            yield return new FaultCase($"model/index/{kind}", dir =>
            {
                var model = LinkedModel(dir, except: null);   // the index comes first: model.safetensors is not read
                var outside = FaultSuite.Fifo.Create(Path.Combine(dir, "outside.safetensors"));
                var index = Path.Combine(model, "model.safetensors.index.json");
                File.WriteAllText(index, new JsonObject { ["weight_map"] = new JsonObject { ["model.decoder.embed_tokens.weight"] = shard.Replace("OUTSIDE", outside) } }.ToJsonString());
                return Run(dir, model, index) with { Outside = outside };
            });
        foreach (var (kind, text) in new[] { ("not-json", "{"), ("no-map", "{}"), ("map-list", "{\"weight_map\": []}"), ("number-shard", "{\"weight_map\": {\"a\": 3}}") })
            yield return Text($"index/{kind}", "model.safetensors.index.json", text);
    }

    /// <summary>The tiny captioner's weights with a lying header, cut, or with tensors removed, added or made non-finite.</summary>
    private static IEnumerable<FaultCase> SafetensorsCases()
    {
        const string file = "model.safetensors";
        const string Folder = "";   // weights that do not fit config.json are blamed on the folder, the checkpoint (it may span shards)
        FaultCase Header(string name, Func<JsonObject, long, string> edit, string? blamed = null) => Model($"{file}/{name}", file, (good, path) =>
        {
            var (header, data) = Split(File.ReadAllBytes(good));
            WriteSafetensors(path, edit(header, data.Length), data);
        }, blamed);
        FaultCase Tensor(string name, string key, Action<JsonObject, long> edit, string? blamed = null) =>
            Header($"{key}/{name}", (h, n) => { edit(h[key]!.AsObject(), n); return h.ToJsonString(); }, blamed);
        FaultCase Bytes(string name, Func<byte[], byte[]> edit) => Model($"{file}/{name}", file, (good, path) => File.WriteAllBytes(path, edit(File.ReadAllBytes(good))));

        foreach (var (kind, length) in new[] { ("beyond-file", 1L << 30), ("zero", 0L), ("huge", long.MaxValue), ("negative", -8L), ("seven", 7L) })
            yield return Bytes($"length/{kind}", b => { BinaryPrimitives.WriteInt64LittleEndian(b, length); return b; });
        foreach (var (kind, text) in new[] { ("prose", "not json at all"), ("list", "[]"), ("number", "42"), ("open-brace", "{\"a\": {") })
            yield return Header($"header/{kind}", (_, _) => text);
        yield return Bytes("header/invalid-utf8", b => { b[10] = 0xFF; b[11] = 0xFE; return b; });
        yield return Bytes("empty", _ => []);
        foreach (var (kind, keep) in new[] { ("4-bytes", 4), ("in-header", 2000), ("in-data", 3_000_000), ("last-byte", -1) })
            yield return Bytes($"cut/{kind}", b => b[..(keep < 0 ? b.Length + keep : keep)]);

        // Lies about one tensor: the first, a tower weight in the middle, and the last.
        foreach (var key in new[] { "model.decoder.embed_positions.weight", "model.vision_tower.vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight", "model.mm_projector.2.bias" })
        {
            foreach (var dtype in new[] { "\"F128\"", "\"Q4\"", "42", "null" })
                yield return Tensor($"dtype-{dtype.Trim('"')}", key, (t, _) => t["dtype"] = JsonNode.Parse(dtype));
            yield return Tensor("no-dtype", key, (t, _) => t.Remove("dtype"));
            foreach (var shape in new[] { "[-1, 32]", "\"32\"", "[1e20]", "[1]", "[3, 3, 3, 3, 3]" })
                yield return Tensor($"shape-{shape}", key, (t, _) => t["shape"] = JsonNode.Parse(shape));
            yield return Tensor("no-shape", key, (t, _) => t.Remove("shape"));
            yield return Tensor("shape-other-rank", key, (t, _) => t["shape"] = new JsonArray(t["shape"]!.AsArray().Reverse().Select(d => (JsonNode?)d!.GetValue<long>()).Append(1).ToArray()), Folder);
            yield return Tensor("offsets-beyond-data", key, (t, n) => t["data_offsets"] = new JsonArray(n, n + Length(t)));
            yield return Tensor("offsets-reversed", key, (t, _) => t["data_offsets"] = new JsonArray(Offset(t, 1), Offset(t, 0)));
            yield return Tensor("offsets-overlapping", key, (t, _) => t["data_offsets"] = new JsonArray(Offset(t, 0) + 4, Offset(t, 1) + 4));
            yield return Tensor("offsets-text", key, (t, _) => t["data_offsets"] = new JsonArray("0", "4"));
            yield return Tensor("offsets-fraction", key, (t, _) => t["data_offsets"] = new JsonArray(0.5, 4.5));
            yield return Tensor("offsets-one", key, (t, _) => t["data_offsets"] = new JsonArray(Offset(t, 0)));
            yield return Tensor("no-offsets", key, (t, _) => t.Remove("data_offsets"));
            yield return Header($"{key}/removed", (h, _) => { h.Remove(key); return h.ToJsonString(); }, Folder);
            yield return Header($"{key}/duplicated", (h, _) =>
            {
                var text = h.ToJsonString();
                return text.Insert(1, $"\"{key}\":{h[key]!.ToJsonString()},");
            });
            foreach (var (kind, value) in new[] { ("nan", float.NaN), ("infinity", float.PositiveInfinity) })
                yield return Model($"{file}/{key}/{kind}", file, (good, path) =>
                {
                    var bytes = File.ReadAllBytes(good);
                    var (header, _) = Split(bytes);
                    long start = 8 + BinaryPrimitives.ReadInt64LittleEndian(bytes) + Offset(header[key]!.AsObject(), 0);
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((int)start), value);
                    File.WriteAllBytes(path, bytes);
                });
        }
        yield return Header("extra-tensor", (h, _) =>
        {
            h["model.extra.weight"] = new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(2), ["data_offsets"] = new JsonArray(0, 8) };
            return h.ToJsonString();
        });
        yield return Header("metadata-list", (h, _) => { h["__metadata__"] = new JsonArray(1); return h.ToJsonString(); });
    }

    private static long Offset(JsonObject tensor, int i) => tensor["data_offsets"]![i]!.GetValue<long>();

    private static long Length(JsonObject tensor) => Offset(tensor, 1) - Offset(tensor, 0);

    private static (JsonObject Header, byte[] Data) Split(byte[] file)
    {
        int n = (int)BinaryPrimitives.ReadInt64LittleEndian(file);
        return (JsonNode.Parse(file.AsSpan(8, n))!.AsObject(), file[(8 + n)..]);
    }

    private static void WriteSafetensors(string path, string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var length = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, h.Length);
        File.WriteAllBytes(path, [.. length, .. h, .. data]);
    }
}
