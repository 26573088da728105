using System.Text.Json;
using System.Text.Json.Nodes;
using SharpGlance.Llm;

namespace SharpGlance.Data.Pseudo;

/// <summary>
/// The instruction for an OpenAI-compatible chat model that writes pseudo-initial captions, after the
/// paper's description of its GPT-4o-mini prompt (App. F.1, Fig. 19; the figure's text is not in our copy):
/// modify 0–3 points of the ground truth in four categories (entity, attribute, relation, action), keep
/// the sentence structure and style, occasionally leave it identical, with the paper's Tab. 13 examples
/// as few-shot. The reply is asked for as JSON; <see cref="ParseReply"/> reads it leniently.
/// </summary>
public static class LlmPseudoPrompt
{
    private static readonly HashSet<string> Kinds = new(StringComparer.Ordinal)
    {
        "entity", "attribute", "colour", "count", "size", "material", "shape", "texture", "relation", "action",
    };

    // The caption is quoted as a JSON string, but "it's" stays "it's" rather than "it\u0027s".
    private static readonly JsonSerializerOptions Quoting = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static IReadOnlyList<ChatMessage> Messages(string groundTruth, int variants, int maxEdits, bool allowIdentical)
    {
        var system = "You write pseudo-initial captions for training an image-caption refiner: plausible first-draft captions "
            + "that a small captioning model might produce, each slightly wrong compared with the correct caption. "
            + "You reply with JSON only.";
        int minEdits = allowIdentical ? 0 : 1;
        var user = $$"""
            Correct caption: {{JsonSerializer.Serialize(groundTruth, Quoting)}}

            Write {{variants}} pseudo-initial captions for it.
            - Each one modifies {{minEdits}} to {{maxEdits}} points of the correct caption.
            - A modification is one of four kinds: entity (e.g. cat -> dog, car -> bus, chair -> couch);
              attribute (colour, count such as "a cup" -> "three cups", size, material such as wooden -> metal, shape, texture);
              relation (e.g. "in front of" <-> "behind", on <-> under, left <-> right, inside <-> outside);
              action (e.g. sitting <-> standing, eating <-> holding).
            - Apart from the modifications, keep the sentence structure, the wording and the style; keep the grammar right
              (plural nouns and verbs after a count change, "a"/"an").
            {{(allowIdentical ? "- A caption may occasionally be identical to the correct caption (0 modifications).\n" : "- Every caption must differ from the correct caption.\n")}}- The {{variants}} captions must differ from each other.

            Examples:
            Correct caption: "A woman in a room with a cat"
            {"variants": [{"caption": "A woman in a room with two cats", "edits": [{"kind": "count", "from": "a cat", "to": "two cats"}]},
                          {"caption": "A woman in a room with a dog", "edits": [{"kind": "entity", "from": "cat", "to": "dog"}]},
                          {"caption": "A woman in a kitchen with a dog", "edits": [{"kind": "entity", "from": "room", "to": "kitchen"}, {"kind": "entity", "from": "cat", "to": "dog"}]}]}
            Correct caption: "A multicolored motorcycle rests outside of a sheep farm"
            {"variants": [{"caption": "A multicolored bicycle rests inside a sheep farm", "edits": [{"kind": "entity", "from": "motorcycle", "to": "bicycle"}, {"kind": "relation", "from": "outside of", "to": "inside"}]},
                          {"caption": "A bright red motorcycle rests outside of a sheep farm", "edits": [{"kind": "colour", "from": "multicolored", "to": "bright red"}]},
                          {"caption": "A multicolored motorcycle races around a sheep farm", "edits": [{"kind": "action", "from": "rests", "to": "races"}, {"kind": "relation", "from": "outside of", "to": "around"}]}]}

            Reply with exactly this JSON shape and nothing else:
            {"variants": [{"caption": "...", "edits": [{"kind": "entity|colour|count|size|material|shape|texture|relation|action", "from": "...", "to": "..."}]}]}
            """;
        return [new ChatMessage("system", system), new ChatMessage("user", user)];
    }

    /// <summary>One caption the model proposed and the edits it says it made (null when it listed none).</summary>
    public sealed record Proposal(string Caption, IReadOnlyList<CaptionEdit>? Edits);

    /// <summary>
    /// Reads a reply: JSON possibly inside a code fence or prose; an object with "variants" (or "captions")
    /// or a bare list; each item a caption string or an object with "caption" (or "text") and "edits".
    /// Null with <paramref name="error"/> when nothing usable is there.
    /// </summary>
    public static IReadOnlyList<Proposal>? ParseReply(string reply, out string? error)
    {
        error = null;
        int start = reply.IndexOfAny(['{', '[']);
        int end = Math.Max(reply.LastIndexOf('}'), reply.LastIndexOf(']'));
        if (start < 0 || end <= start)
        {
            error = "no JSON in the reply";
            return null;
        }
        JsonNode? root;
        try { root = JsonNode.Parse(reply[start..(end + 1)]); }
        catch (JsonException e)
        {
            error = "reply is not valid JSON: " + e.Message;
            return null;
        }
        var items = root switch
        {
            JsonArray a => a,
            JsonObject o => (o["variants"] ?? o["captions"] ?? o["pseudo_captions"] ?? o["pseudo-initial captions"]) as JsonArray,
            _ => null,
        };
        if (items is null)
        {
            error = "reply has no \"variants\" list";
            return null;
        }
        var proposals = new List<Proposal>();
        foreach (var item in items)
        {
            switch (item)
            {
                case JsonValue v when v.TryGetValue<string>(out var s):
                    proposals.Add(new Proposal(s, null));
                    break;
                case JsonObject o when (o["caption"] ?? o["text"]) is JsonValue cv && cv.TryGetValue<string>(out var caption):
                    proposals.Add(new Proposal(caption, ParseEdits(o["edits"])));
                    break;
            }
        }
        if (proposals.Count == 0)
        {
            error = "reply lists no captions";
            return null;
        }
        return proposals;
    }

    private static List<CaptionEdit>? ParseEdits(JsonNode? node)
    {
        if (node is not JsonArray array) return null;
        var edits = new List<CaptionEdit>();
        foreach (var e in array)
        {
            if (e is not JsonObject o) return null;
            string? kind = Str(o["kind"]) ?? Str(o["category"]), from = Str(o["from"]), to = Str(o["to"]);
            if (from is null || to is null) return null;
            edits.Add(new CaptionEdit(NormaliseKind(kind), from, to));
        }
        return edits;
    }

    private static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>"Color" → "colour", known kinds as they are, anything else → "other".</summary>
    public static string NormaliseKind(string? kind)
    {
        var k = (kind ?? "").Trim().ToLowerInvariant();
        if (k == "color") k = "colour";
        return Kinds.Contains(k) ? k : "other";
    }
}
