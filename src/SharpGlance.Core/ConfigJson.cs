using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SharpGlance;

/// <summary>
/// Reading and writing Hugging Face <c>config.json</c> files into the <c>sealed record XConfig</c> types.
/// Absent fields keep the record's defaults (HF's <c>__init__</c> defaults); unknown fields are ignored, as
/// HF ignores them; a field of the wrong type is an error naming the file and the field.
/// </summary>
public static class ConfigJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        // Set, not left to the first (de)serialization: Bind's strict check asks GetTypeInfo first, which
        // throws "metadata ... was not provided by TypeInfoResolver of type '<null>'" until then (a fresh
        // `glance train --deeplens-config` failed so; in-process tests had always serialized something before).
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new SnakeCaseEnums() },
    };

    /// <summary>
    /// How SharpGlance parses JSON files: a key given twice in one object is an error at parse time (a
    /// JsonException the callers report with the file), not an ArgumentException on first access.
    /// </summary>
    public static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false };

    /// <summary>The JSON object in <paramref name="path"/>.</summary>
    public static JsonObject ReadObject(string path)
    {
        if (!File.Exists(path)) throw GlanceException.ForFile(path, "file not found");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: Strict) as JsonObject
                ?? throw GlanceException.ForFile(path, "not a JSON object");
        }
        catch (JsonException e) { throw GlanceException.ForFile(path, $"invalid JSON: {e.Message}"); }
    }

    /// <summary>
    /// The bytes of <paramref name="path"/>, refused unless they are UTF-8: System.Text.Json parses invalid
    /// bytes inside a string and fails only when the string is read, with no file named.
    /// </summary>
    public static byte[] ReadUtf8(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw GlanceException.ForFile(path, "is not valid UTF-8 text");
        return bytes;
    }

    /// <summary>
    /// Binds <paramref name="node"/> to <typeparamref name="T"/>; <paramref name="source"/> names it in errors.
    /// <paramref name="strict"/> refuses keys <typeparamref name="T"/> does not have (for our own configs, where
    /// an unknown key is a typo; HF's configs carry keys we do not read, so theirs are bound leniently).
    /// </summary>
    public static T Bind<T>(JsonNode node, string source, bool strict = false)
    {
        if (strict && node is JsonObject fields)
        {
            var known = Options.GetTypeInfo(typeof(T)).Properties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var (key, _) in fields)
                if (!known.Contains(key)) throw GlanceException.ForFile(source, $"unknown field '{key}' for {typeof(T).Name}");
        }
        try
        {
            return node.Deserialize<T>(Options) ?? throw GlanceException.ForFile(source, $"empty {typeof(T).Name}");
        }
        catch (ConfigValueException e) { throw GlanceException.ForFile(source, $"{e.Path?.TrimStart('$', '.')} {e.Message}"); }
        catch (JsonException e)
        {
            throw GlanceException.ForFile(source, $"field '{e.Path?.TrimStart('$', '.')}' has the wrong type for {typeof(T).Name}: {e.Message}");
        }
    }

    public static JsonObject ToObject<T>(T value) => (JsonObject)JsonSerializer.SerializeToNode(value, Options)!;

    public static void Write(string path, JsonNode node) => AtomicFile.WriteAllText(path, node.ToJsonString(Options) + "\n");

    /// <summary>
    /// The string at <paramref name="node"/>, null when absent; any other JSON type is an error naming
    /// <paramref name="path"/> and <paramref name="what"/> (e.g. "entry 3: \"image\"").
    /// </summary>
    public static string? String(JsonNode? node, string path, string what) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw GlanceException.ForFile(path, $"{what} must be a string, not {node.GetValueKind().ToString().ToLowerInvariant()}"),
    };

    /// <summary>The <c>model_type</c> of a config object ("" when absent).</summary>
    public static string ModelType(JsonObject config) =>
        config["model_type"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : "";
}

/// <summary>A value of the right JSON type that a config field does not accept (an unknown enum name).</summary>
public sealed class ConfigValueException(string message) : JsonException(message);

/// <summary>
/// Every enum in a config is a snake_case string on disk (<c>cls_patch</c>, <c>pad</c>), or the name its
/// <see cref="JsonStringEnumMemberNameAttribute"/> gives (<c>deeplens</c>). Reading is exact: another
/// string, or a number, is refused with the names it could have been.
/// </summary>
public sealed class SnakeCaseEnums : JsonConverterFactory
{
    public override bool CanConvert(Type type) => type.IsEnum;

    public override JsonConverter CreateConverter(Type type, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(type))!;

    /// <summary>The on-disk name of <paramref name="value"/>.</summary>
    public static string NameOf<T>(T value) where T : struct, Enum => Converter<T>.Names[value];

    private sealed class Converter<T> : JsonConverter<T> where T : struct, Enum
    {
        internal static readonly Dictionary<T, string> Names = typeof(T).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .ToDictionary(f => (T)f.GetValue(null)!, f => f.GetCustomAttributes(typeof(JsonStringEnumMemberNameAttribute), false) is [JsonStringEnumMemberNameAttribute a, ..]
                ? a.Name : JsonNamingPolicy.SnakeCaseLower.ConvertName(f.Name));

        private static readonly Dictionary<string, T> Values = Names.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);

        public override T Read(ref Utf8JsonReader reader, Type type, JsonSerializerOptions options)
        {
            string? name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            if (name is not null && Values.TryGetValue(name, out var value)) return value;
            var shown = name is null ? $"a {reader.TokenType.ToString().ToLowerInvariant()}" : $"'{name}'";
            throw new ConfigValueException($"{shown} is not one of {string.Join(", ", Values.Keys)}");
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
            writer.WriteStringValue(Names.TryGetValue(value, out var name) ? name : throw new JsonException($"{value} is not a {typeof(T).Name}"));
    }
}
