using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpGlance.Data.Pseudo;

/// <summary>What a lexicon phrase can be in a caption (one phrase may have several senses: "orange").</summary>
internal enum SenseKind { Entity, Colour, Size, Material, Relation, Action, Verb }

/// <summary>Number of a noun form, or the form of a verb.</summary>
internal enum Form { Singular, Plural, Both, Base, Third, Ing }

internal sealed record Sense(SenseKind Kind, string Lemma, Form Form);

/// <summary>
/// Word classes the caption editor swaps within (SPEC §9): entities by class, colours, sizes, materials,
/// relations and actions, plus noun plurals and the verbs whose agreement it keeps. The built-in English
/// lexicon (<see cref="BuiltIn"/>) covers COCO's common vocabulary; a dataset may ship a
/// <c>lexicon.json</c> of the same shape that is merged on top (<see cref="With(string, string)"/>):
/// <code>
/// {"entities": {"animal": ["cat", ...], ...}, "plurals": {"mouse": "mice"}, "colours": [...], "sizes": [...],
///  "shapes": [...], "relations": [["left of", "right of"], ["above", "below"]]}
/// </code>
/// Optional keys: "materials", "actions" (class → base verbs), "verbs" (kept in agreement only),
/// "synonyms" (groups whose members never replace each other). "shapes" form the entity class "shape".
/// A list of words is one class; a list of lists is several. Unknown keys are ignored, so a dataset may
/// keep other data in the same file. For a word that a later lexicon lists, that lexicon's classes alone
/// give its replacements: a synthetic world swaps within its own vocabulary, not COCO's.
/// </summary>
public sealed class Lexicon
{
    public const string EntityKind = "entity", ColourKind = "colour", SizeKind = "size", MaterialKind = "material",
        RelationKind = "relation", ActionKind = "action";

    private sealed record WordClass(string Kind, string Name, string[] Words);

    private sealed class Source
    {
        public required string Name { get; init; }
        public List<WordClass> Classes { get; } = [];
        public Dictionary<string, string> Plurals { get; } = new(StringComparer.Ordinal);
        public List<string[]> Synonyms { get; } = [];
        public List<string> Verbs { get; } = [];
        public List<string[]> RelationGroups { get; } = [];
        public Dictionary<string, string[]> RelationForms { get; } = new(StringComparer.Ordinal);
    }

    private static readonly Lazy<Lexicon> LazyBuiltIn = new(() => new Lexicon([Parse(BuiltInLexicon.Json, "built-in lexicon")]));

    private readonly IReadOnlyList<Source> _sources;
    private readonly Dictionary<(string Kind, string Lemma), string[]> _partners = new();
    private readonly Dictionary<(string Kind, string Lemma), string[]> _classesOf = new();

    private Lexicon(IReadOnlyList<Source> sources)
    {
        _sources = sources;
        BuildIndex();
    }

    /// <summary>The built-in English lexicon alone.</summary>
    public static Lexicon BuiltIn => LazyBuiltIn.Value;

    /// <summary>The built-in lexicon, with the lexicon file at <paramref name="extraPath"/> on top when given.</summary>
    public static Lexicon Load(string? extraPath) => extraPath is null ? BuiltIn : BuiltIn.WithFile(extraPath);

    /// <summary>
    /// The lexicon for a dataset file: the built-ins plus <paramref name="explicitPath"/> when given, else plus
    /// the <c>lexicon.json</c> beside <paramref name="datasetPath"/> when there is one (the synthetic world
    /// writes one), else the built-ins alone.
    /// </summary>
    public static Lexicon ForDataset(string datasetPath, string? explicitPath = null)
    {
        if (explicitPath is not null) return BuiltIn.WithFile(explicitPath);
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(datasetPath));
        var beside = dir is null ? null : System.IO.Path.Combine(dir, "lexicon.json");
        return beside is not null && File.Exists(beside) ? BuiltIn.WithFile(beside) : BuiltIn;
    }

    /// <summary>This lexicon with a lexicon JSON file merged on top.</summary>
    public Lexicon WithFile(string path)
    {
        string json;
        try { json = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw GlanceException.ForFile(path, e is FileNotFoundException or DirectoryNotFoundException ? "lexicon file not found" : e.Message);
        }
        return With(json, path);
    }

    /// <summary>This lexicon with lexicon JSON text merged on top; <paramref name="name"/> names it in errors.</summary>
    public Lexicon With(string json, string name) => new([.. _sources, Parse(json, name)]);

    /// <summary>Where the lexicon came from, in merge order ("built-in lexicon", then file paths).</summary>
    public IReadOnlyList<string> SourceNames => _sources.Select(s => s.Name).ToList();

    /// <summary>
    /// What may replace <paramref name="lemma"/> (lower case; nouns singular, verbs in base form) in a swap of
    /// <paramref name="kind"/> (<see cref="EntityKind"/>, ...): the other members of its classes, without its
    /// synonyms. Empty for a word the lexicon does not know.
    /// </summary>
    public IReadOnlyList<string> Partners(string kind, string lemma) =>
        _partners.TryGetValue((kind, lemma), out var p) ? p : [];

    /// <summary>The names of the classes of <paramref name="kind"/> that give <paramref name="lemma"/> its partners.</summary>
    public IReadOnlyList<string> ClassesOf(string kind, string lemma) =>
        _classesOf.TryGetValue((kind, lemma), out var c) ? c : [];

    /// <summary>Every word of <paramref name="kind"/>, in lexicon order.</summary>
    public IReadOnlyList<string> Words(string kind) =>
        _sources.SelectMany(s => s.Classes).Where(c => c.Kind == kind).SelectMany(c => c.Words).Distinct().ToList();

    /// <summary>
    /// Plural of a (possibly multi-word) noun: an irregular form from the latest lexicon that lists the whole
    /// phrase or its last word ("teddy bear" → "teddy bears", "old man" → "old men"), else the regular rule.
    /// </summary>
    public string Plural(string noun)
    {
        for (int s = _sources.Count - 1; s >= 0; s--)
            if (_sources[s].Plurals.TryGetValue(noun, out var whole)) return whole;
        int space = noun.LastIndexOf(' ');
        var head = space < 0 ? noun : noun[(space + 1)..];
        var prefix = space < 0 ? "" : noun[..(space + 1)];
        for (int s = _sources.Count - 1; s >= 0; s--)
            if (_sources[s].Plurals.TryGetValue(head, out var p)) return prefix + p;
        return prefix + Inflection.RegularPlural(head);
    }

    // ---- the phrase index the editor matches captions against ----

    internal IReadOnlyDictionary<string, Sense[]> Phrases { get; private set; } = null!;

    /// <summary>The most tokens any phrase has ("in front of" = 3, "t-shirt" = 3).</summary>
    internal int MaxPhraseTokens { get; private set; }

    private void BuildIndex()
    {
        var senses = new Dictionary<string, List<Sense>>(StringComparer.Ordinal);
        void Add(string phrase, Sense sense)
        {
            var key = CaptionTokens.Key(phrase);
            if (key.Length == 0) return;
            if (!senses.TryGetValue(key, out var list)) senses[key] = list = [];
            if (!list.Contains(sense)) list.Add(sense);
        }

        var kinds = new[] { EntityKind, ColourKind, SizeKind, MaterialKind, RelationKind, ActionKind };
        var lemmas = kinds.SelectMany(k => _sources.SelectMany(s => s.Classes).Where(c => c.Kind == k).SelectMany(c => c.Words).Select(w => (k, w)))
            .Distinct().ToList();
        foreach (var (kind, lemma) in lemmas)
        {
            // The latest source that lists the word decides its classes and partners.
            Source? owner = null;
            for (int s = _sources.Count - 1; s >= 0 && owner is null; s--)
                if (_sources[s].Classes.Any(c => c.Kind == kind && c.Words.Contains(lemma))) owner = _sources[s];
            var classes = owner!.Classes.Where(c => c.Kind == kind && c.Words.Contains(lemma)).ToList();
            var synonyms = owner.Synonyms.Where(g => g.Contains(lemma)).SelectMany(g => g).ToHashSet(StringComparer.Ordinal);
            _partners[(kind, lemma)] = classes.SelectMany(c => c.Words).Where(w => w != lemma && !synonyms.Contains(w)).Distinct().ToArray();
            _classesOf[(kind, lemma)] = classes.Select(c => c.Name).Distinct().ToArray();

            switch (kind)
            {
                case EntityKind:
                    var plural = Plural(lemma);
                    if (plural == lemma) Add(lemma, new Sense(SenseKind.Entity, lemma, Form.Both));
                    else
                    {
                        Add(lemma, new Sense(SenseKind.Entity, lemma, Form.Singular));
                        Add(plural, new Sense(SenseKind.Entity, lemma, Form.Plural));
                    }
                    break;
                case ColourKind: Add(lemma, new Sense(SenseKind.Colour, lemma, Form.Base)); break;
                case SizeKind: Add(lemma, new Sense(SenseKind.Size, lemma, Form.Base)); break;
                case MaterialKind: Add(lemma, new Sense(SenseKind.Material, lemma, Form.Base)); break;
                case RelationKind: Add(lemma, new Sense(SenseKind.Relation, lemma, Form.Base)); break;
                case ActionKind:
                    Add(lemma, new Sense(SenseKind.Action, lemma, Form.Base));
                    Add(Inflection.ThirdPerson(lemma), new Sense(SenseKind.Action, lemma, Form.Third));
                    Add(Inflection.Ing(lemma), new Sense(SenseKind.Action, lemma, Form.Ing));
                    break;
            }
        }

        // Verbs whose finite forms follow their subject's number: every action and the extra verbs.
        foreach (var verb in lemmas.Where(l => l.k == ActionKind).Select(l => l.w).Concat(_sources.SelectMany(s => s.Verbs)).Distinct())
        {
            if (verb.Contains(' ')) continue;
            Add(verb, new Sense(SenseKind.Verb, verb, Form.Base));
            Add(Inflection.ThirdPerson(verb), new Sense(SenseKind.Verb, verb, Form.Third));
        }

        Phrases = senses.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);
        MaxPhraseTokens = Phrases.Keys.Select(k => CaptionTokens.Tokenize(k).Count).DefaultIfEmpty(1).Max();
    }

    // ---- JSON ----

    private static Source Parse(string json, string name)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e) { throw GlanceException.ForFile(name, $"not valid JSON ({e.Message})"); }
        if (root is not JsonObject obj) throw GlanceException.ForFile(name, "a lexicon must be a JSON object");

        var source = new Source { Name = name };
        foreach (var (key, value) in obj)
        {
            if (value is null) continue;
            switch (key)
            {
                case "entities":
                    if (value is not JsonObject classes) throw GlanceException.ForFile(name, "\"entities\" must map class names to lists of words");
                    foreach (var (cls, words) in classes)
                        source.Classes.Add(new WordClass(EntityKind, cls, Words(words, name, $"entities.{cls}")));
                    break;
                case "shapes":
                    AddGroups(source, EntityKind, "shape", value, name, key);
                    break;
                case "colours" or "colors":
                    AddGroups(source, ColourKind, "colour", value, name, key);
                    break;
                case "sizes":
                    AddGroups(source, SizeKind, "size", value, name, key);
                    break;
                case "materials":
                    AddGroups(source, MaterialKind, "material", value, name, key);
                    break;
                case "relations":
                    if (value is not JsonArray rels || rels.Any(r => r is not JsonArray))
                        throw GlanceException.ForFile(name, "\"relations\" must be a list of word lists such as [\"left of\", \"right of\"]");
                    for (int i = 0; i < rels.Count; i++)
                    {
                        var group = Words(rels[i], name, $"relations[{i}]");
                        if (group.Length == 0) throw GlanceException.ForFile(name, $"relations[{i}] is empty");
                        // A symmetric relation is its own inverse (the synthetic world writes ["next to", "next to"]):
                        // nothing to swap it with, so it adds no edit.
                        if (group.Length < 2) continue;
                        source.RelationGroups.Add(group);
                    }
                    break;
                case "relation_phrases":
                    // The surface forms of each relation ("left of": ["to the left of", "left of", "on the left of"]),
                    // as the synthetic world's lexicon.json lists them. Each phrase swaps with the forms of its
                    // inverse (from "relations"), so "on the left of" is edited as a whole, never its "on" alone.
                    if (value is not JsonObject forms) throw GlanceException.ForFile(name, "\"relation_phrases\" must map relations to lists of phrases");
                    foreach (var (relation, phrases) in forms)
                        source.RelationForms[relation] = Words(phrases, name, $"relation_phrases.{relation}");
                    break;
                case "actions":
                    if (value is JsonObject actionClasses)
                        foreach (var (cls, words) in actionClasses)
                            source.Classes.Add(new WordClass(ActionKind, cls, Words(words, name, $"actions.{cls}")));
                    else AddGroups(source, ActionKind, "action", value, name, key);
                    break;
                case "plurals":
                    if (value is not JsonObject plurals) throw GlanceException.ForFile(name, "\"plurals\" must map singular nouns to plurals");
                    foreach (var (singular, plural) in plurals)
                    {
                        if (plural is not JsonValue pv || !pv.TryGetValue<string>(out var p) || Normalise(p).Length == 0 || Normalise(singular).Length == 0)
                            throw GlanceException.ForFile(name, $"plurals.{singular} must be a non-empty word");
                        source.Plurals[Normalise(singular)] = Normalise(p);
                    }
                    break;
                case "verbs":
                    source.Verbs.AddRange(Words(value, name, key));
                    break;
                case "synonyms":
                    if (value is not JsonArray syn || syn.Any(g => g is not JsonArray))
                        throw GlanceException.ForFile(name, "\"synonyms\" must be a list of word lists");
                    for (int i = 0; i < syn.Count; i++) source.Synonyms.Add(Words(syn[i], name, $"synonyms[{i}]"));
                    break;
                default:
                    break;  // other keys belong to the dataset (the synthetic world keeps more in the same file)
            }
        }
        foreach (var group in source.RelationGroups)
        {
            // With surface forms, every form of one relation swaps with every form of the others in its group.
            var forms = group.Select(r => source.RelationForms.TryGetValue(r, out var f) ? f : [r]).ToList();
            for (int a = 0; a < forms.Count; a++)
                for (int b = a + 1; b < forms.Count; b++)
                    foreach (var x in forms[a])
                        foreach (var y in forms[b])
                            if (x != y) source.Classes.Add(new WordClass(RelationKind, $"{x}/{y}", [x, y]));
        }
        return source;
    }

    /// <summary>A flat list of words is one class; a list of lists is one class per inner list.</summary>
    private static void AddGroups(Source source, string kind, string className, JsonNode value, string file, string key)
    {
        if (value is not JsonArray array) throw GlanceException.ForFile(file, $"\"{key}\" must be a list of words or of word lists");
        if (array.All(n => n is JsonArray))
        {
            for (int i = 0; i < array.Count; i++)
                source.Classes.Add(new WordClass(kind, array.Count == 1 ? className : $"{className}{i + 1}", Words(array[i], file, $"{key}[{i}]")));
        }
        else source.Classes.Add(new WordClass(kind, className, Words(value, file, key)));
    }

    private static string[] Words(JsonNode? node, string file, string key)
    {
        if (node is not JsonArray array) throw GlanceException.ForFile(file, $"\"{key}\" must be a list of words");
        var words = new List<string>();
        foreach (var item in array)
        {
            if (item is not JsonValue v || !v.TryGetValue<string>(out var s) || Normalise(s).Length == 0)
                throw GlanceException.ForFile(file, $"\"{key}\" must hold only non-empty strings");
            var w = Normalise(s);
            if (!words.Contains(w)) words.Add(w);
        }
        return [.. words];
    }

    /// <summary>Lower case, single spaces: "Fire  Hydrant " → "fire hydrant".</summary>
    private static string Normalise(string s) =>
        string.Join(' ', s.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}
