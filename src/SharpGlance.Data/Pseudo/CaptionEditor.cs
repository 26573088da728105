using System.Text;
using System.Text.Json.Serialization;

namespace SharpGlance.Data.Pseudo;

/// <summary>
/// One edit of a pseudo-initial caption: its kind (entity, colour, count, size, material, relation, action;
/// "model" for a hunk of a model's own caption, or an LLM's own kind), the ground-truth text it replaced and
/// the text that replaced it. Words changed only to keep the grammar ("is" → "are", "a" → "an") are part of
/// the edit that caused them, not edits of their own.
/// </summary>
public sealed record CaptionEdit(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("to")] string To);

/// <summary>A caption after editing and the edits made, in caption order.</summary>
public sealed record EditedCaption(string Text, IReadOnlyList<CaptionEdit> Edits);

/// <summary>An editable span of a caption: its kind, its text and offset, and what could replace it.</summary>
public sealed record EditSite(string Kind, string Text, int Offset, IReadOnlyList<string> Replacements);

/// <summary>
/// The rule-based pseudo-initial caption editor (SPEC §9): finds the spans its <see cref="Lexicon"/> knows
/// (entities, colours, counts, sizes, materials, relations, actions; multi-word ones such as "in front of"
/// or "fire hydrant" too) and changes a few of them, keeping the sentence structure and the grammar:
/// "a"/"an" before the next word, singular and plural nouns (irregular plurals from the lexicon), and the
/// subject's verb when a count changes its number ("a cat is sitting" → "two cats are sitting",
/// "three dogs run" → "a dog runs"). Text outside the edited words is copied byte for byte. All choices
/// come from the caller's <see cref="Random"/>, so a seed fixes the output. The grammar is heuristic:
/// a verb is changed only when the counted noun phrase is plainly its subject, and a noun phrase is
/// counted only when nothing suggests a compound noun follows it.
/// </summary>
public sealed class CaptionEditor
{
    public const string CountKind = "count";

    private static readonly HashSet<string> Stopwords = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "this", "that", "these", "those", "his", "her", "its", "their", "my", "our", "your", "some",
        "of", "with", "and", "or", "but", "in", "on", "at", "by", "for", "from", "to", "into", "onto", "near", "under",
        "over", "above", "below", "behind", "beside", "next", "while", "as", "is", "are", "was", "were", "be", "been",
        "being", "has", "have", "had", "there", "who", "which", "where", "when", "it", "they", "he", "she", "them", "him",
        "not", "no", "up", "down", "out", "off", "around", "through", "across", "along", "against", "between", "among",
        "during", "without", "inside", "outside", "than", "then", "so", "very", "too", "also",
    };

    private static readonly HashSet<string> Determiners = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "this", "that", "these", "those", "his", "her", "its", "their", "my", "our", "your", "some",
        "another", "each", "every", "any", "no", "several", "many", "both", "all", "one", "two", "three", "four", "five",
        "six", "seven", "eight", "nine", "ten",
    };

    private static readonly HashSet<string> SingularDeterminers = new(StringComparer.Ordinal) { "a", "an", "one", "this", "that", "another", "each", "every" };
    private static readonly HashSet<string> PluralDeterminers = new(StringComparer.Ordinal) { "these", "those", "several", "many", "some", "both", "all" };
    private static readonly HashSet<string> ClauseWords = new(StringComparer.Ordinal) { "and", "or", "nor", "but", "while", "as", "when", "where", "because", "whereas", "although", "though", "so", "then", "if" };
    private static readonly HashSet<string> Relatives = new(StringComparer.Ordinal) { "that", "which", "who" };
    private static readonly HashSet<string> Pronouns = new(StringComparer.Ordinal) { "he", "she", "it", "they", "who", "that", "which", "i", "we", "you" };
    private static readonly HashSet<string> Infinitive = new(StringComparer.Ordinal) { "to", "can", "will", "would", "could", "should", "may", "might", "must", "do", "does", "did", "let", "help" };
    private static readonly HashSet<string> ActionLeads = new(StringComparer.Ordinal) { "to", "and", "or", "also", "then", "can", "will", "would", "could", "should", "may", "might", "must", "does", "do", "did" };
    private static readonly Dictionary<string, string> BeSingularToPlural = new(StringComparer.Ordinal) { ["is"] = "are", ["was"] = "were" };
    private static readonly Dictionary<string, string> BePluralToSingular = new(StringComparer.Ordinal) { ["are"] = "is", ["were"] = "was" };

    public CaptionEditor(Lexicon lexicon) => Lexicon = lexicon;

    public Lexicon Lexicon { get; }

    /// <summary>How often <see cref="Variant"/> leaves a caption as it is when zero edits are allowed.</summary>
    public double ZeroEditProbability { get; init; } = 0.1;

    /// <summary>
    /// A pseudo-initial caption with between <paramref name="minEdits"/> and <paramref name="maxEdits"/> edits:
    /// none with probability <see cref="ZeroEditProbability"/> (when <paramref name="minEdits"/> is 0), else a
    /// count drawn uniformly from [max(1, min), max]. Fewer edits are made when the caption has fewer
    /// independent editable spans; <see cref="EditedCaption.Edits"/> says how many were made.
    /// </summary>
    public EditedCaption Variant(string caption, Random rng, int maxEdits, int minEdits = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxEdits);
        if (maxEdits == 0) return new EditedCaption(caption, []);
        int edits = minEdits <= 0 && rng.NextDouble() < ZeroEditProbability ? 0 : rng.Next(Math.Max(1, minEdits), maxEdits + 1);
        return Edit(caption, edits, rng);
    }

    /// <summary>
    /// How often each kind of edit is drawn, relative to the others (e.g. the error mix a first glance makes);
    /// kinds not named weigh 1. Null: every kind possible in a caption is equally likely.
    /// </summary>
    public IReadOnlyDictionary<string, double>? KindWeights { get; init; }

    /// <summary>
    /// Makes up to <paramref name="edits"/> edits that touch disjoint words. Each edit picks a kind among the
    /// kinds still possible (uniformly, or by <see cref="KindWeights"/>), then a span of that kind, then a
    /// replacement, so frequent kinds (entities) do not crowd out the rest. <paramref name="onlyKind"/>
    /// restricts the edits to one kind (none are made when the caption has no span of it).
    /// </summary>
    public EditedCaption Edit(string caption, int edits, Random rng, string? onlyKind = null)
    {
        if (edits <= 0) return new EditedCaption(caption, []);
        var (a, candidates) = Prepare(caption);
        var chosen = new List<(Candidate Candidate, Option Option)>();
        var touched = new HashSet<int>();
        while (chosen.Count < edits)
        {
            var open = candidates.Where(c => (onlyKind is null || c.Kind == onlyKind) && !c.Touched.Overlaps(touched) && !chosen.Any(x => ReferenceEquals(x.Candidate, c))).ToList();
            if (open.Count == 0) break;
            var kinds = open.Select(c => c.Kind).Distinct().ToList();
            var kind = KindWeights is null ? kinds[rng.Next(kinds.Count)] : PickWeighted(kinds, rng);
            var ofKind = open.Where(c => c.Kind == kind).ToList();
            var candidate = ofKind[rng.Next(ofKind.Count)];
            var option = candidate.Options[rng.Next(candidate.Options.Count)];
            chosen.Add((candidate, option));
            touched.UnionWith(candidate.Touched);
        }
        if (chosen.Count == 0) return new EditedCaption(caption, []);

        var replacements = chosen.SelectMany(c => c.Option.Replacements).ToList();
        var text = Render(a, replacements);
        if (text == caption) return new EditedCaption(caption, []);  // cannot happen: every option changes a word
        var recorded = chosen.OrderBy(c => c.Candidate.First)
            .Select(c => new CaptionEdit(c.Candidate.Kind, Span(a, c.Candidate.First, c.Candidate.Last), c.Option.To)).ToList();
        return new EditedCaption(text, recorded);
    }

    private string PickWeighted(List<string> kinds, Random rng)
    {
        var weights = kinds.Select(k => Math.Max(0, KindWeights!.GetValueOrDefault(k, 1.0))).ToArray();
        double r = rng.NextDouble() * weights.Sum();
        for (int i = 0; i < kinds.Count; i++)
            if ((r -= weights[i]) < 0) return kinds[i];
        return kinds[^1];
    }

    /// <summary>Every span the editor could change, with its possible replacements (for inspection and tests).</summary>
    public IReadOnlyList<EditSite> Sites(string caption)
    {
        var (a, candidates) = Prepare(caption);
        return candidates.Select(c => new EditSite(c.Kind, Span(a, c.First, c.Last), a.Tokens[c.First].Start,
            c.Options.Select(o => o.To).Distinct().ToList())).ToList();
    }

    // ---- analysis: tokens and the lexicon phrases they form ----

    // The variants of one caption are drawn one after another, so the last caption's analysis is kept
    // (per thread: the LLM strategy edits from several threads). Analyses are read-only once made.
    private readonly ThreadLocal<(string Caption, Analysis Analysis, List<Candidate> Candidates)?> _last = new();

    private (Analysis, List<Candidate>) Prepare(string caption)
    {
        if (_last.Value is { } last && last.Caption == caption) return (last.Analysis, last.Candidates);
        var a = Analyse(caption);
        var candidates = Candidates(a);
        _last.Value = (caption, a, candidates);
        return (a, candidates);
    }

    private sealed record Match(int First, int Count, string Key, IReadOnlyList<Sense> Senses)
    {
        public int Last => First + Count - 1;
    }

    private sealed class Analysis
    {
        public required string Text { get; init; }
        public required List<Token> Tokens { get; init; }
        public required Match?[] MatchAt { get; init; }    // the match starting at a token
        public required Match?[] Covering { get; init; }   // the match covering a token
    }

    private Analysis Analyse(string text)
    {
        var tokens = CaptionTokens.Tokenize(text);
        var matchAt = new Match?[tokens.Count];
        var covering = new Match?[tokens.Count];
        var raw = new List<(int First, int Count, string Key, Sense[] Senses)>();
        // Leftmost-longest: "in front of" wins over "front", "hot dog" over "dog", "on top of" over "on".
        for (int i = 0; i < tokens.Count;)
        {
            int found = 0;
            for (int len = Math.Min(Lexicon.MaxPhraseTokens, tokens.Count - i); len >= 1 && found == 0; len--)
            {
                if (!Contiguous(tokens, i, len)) continue;
                var key = CaptionTokens.Key(tokens, i, len);
                if (Lexicon.Phrases.TryGetValue(key, out var senses))
                {
                    raw.Add((i, len, key, senses));
                    found = len;
                }
            }
            i += Math.Max(found, 1);
        }
        var a = new Analysis { Text = text, Tokens = tokens, MatchAt = matchAt, Covering = covering };
        foreach (var (first, count, key, senses) in raw)
        {
            var m = new Match(first, count, key, Resolve(a, first, count, senses));
            matchAt[first] = m;
            for (int k = first; k < first + count; k++) covering[k] = m;
        }
        return a;
    }

    /// <summary>A phrase never spans a sentence break: its tokens are words, numbers or inner hyphens/slashes.</summary>
    private static bool Contiguous(List<Token> tokens, int first, int count)
    {
        for (int k = first; k < first + count; k++)
            if (tokens[k].Kind == TokenKind.Punct && tokens[k].Lower is not ("-" or "/" or "'")) return false;
        return tokens[first].Kind != TokenKind.Punct && tokens[first + count - 1].Kind != TokenKind.Punct;
    }

    /// <summary>
    /// Which senses of an ambiguous phrase apply here. "orange"/"glass" are attributes before another word
    /// ("an orange cat", "a glass vase") and entities otherwise ("an orange on a plate"); "skis"/"swing"
    /// are actions after their subject ("a man skis") and nouns after a determiner ("a swing").
    /// Matches before this one are already resolved, which the action test reads.
    /// </summary>
    private List<Sense> Resolve(Analysis a, int first, int count, Sense[] senses)
    {
        var tokens = a.Tokens;
        bool hasEntity = senses.Any(s => s.Kind == SenseKind.Entity);
        bool hasAttribute = senses.Any(s => s.Kind is SenseKind.Colour or SenseKind.Size or SenseKind.Material);
        bool hasAction = senses.Any(s => s.Kind == SenseKind.Action);
        var active = new List<Sense>();
        int next = first + count;
        bool adjectival = next < tokens.Count && tokens[next].Kind == TokenKind.Word && tokens[next].SpaceBefore && !Stopwords.Contains(tokens[next].Lower);
        bool useEntity = hasEntity && !(hasAttribute && adjectival);
        bool useAttribute = hasAttribute && !(hasEntity && !adjectival);
        bool afterDeterminer = first > 0 && Determiners.Contains(tokens[first - 1].Lower);
        bool actionOk = hasAction && !afterDeterminer && senses.Where(s => s.Kind == SenseKind.Action).Any(s => ActionAllowed(a, first, s.Form));
        if (actionOk) useEntity = false;
        foreach (var s in senses)
        {
            bool use = s.Kind switch
            {
                SenseKind.Entity => useEntity,
                SenseKind.Colour or SenseKind.Size or SenseKind.Material => useAttribute,
                SenseKind.Action => actionOk && ActionAllowed(a, first, s.Form),
                SenseKind.Relation => true,
                SenseKind.Verb => true,  // read by agreement, never edited by itself
                _ => false,
            };
            if (use) active.Add(s);
        }
        return active;
    }

    /// <summary>
    /// An -ing form is always an action ("a man riding a horse"); a base or -s form only where a verb can
    /// stand: after its subject, a pronoun, "to", "and" or a modal, or an -ly adverb ("a dog runs",
    /// "dogs run"), so that "a stand" or "the waves" stay nouns.
    /// </summary>
    private static bool ActionAllowed(Analysis a, int first, Form form)
    {
        if (form == Form.Ing) return true;
        if (first == 0) return false;
        var prev = a.Tokens[first - 1];
        if (prev.Kind != TokenKind.Word) return false;
        if (Pronouns.Contains(prev.Lower) || ActionLeads.Contains(prev.Lower) || prev.Lower.EndsWith("ly", StringComparison.Ordinal)) return true;
        return a.Covering[first - 1] is { } m && m.Senses.Any(s => s.Kind == SenseKind.Entity);
    }

    // ---- candidates ----

    private sealed record Replacement(int First, int Last, string Text);

    private sealed record Option(IReadOnlyList<Replacement> Replacements, string To);

    private sealed record Candidate(string Kind, int First, int Last, HashSet<int> Touched, IReadOnlyList<Option> Options);

    private List<Candidate> Candidates(Analysis a)
    {
        var list = new List<Candidate>();
        var tokens = a.Tokens;
        for (int i = 0; i < tokens.Count; i++)
        {
            if (a.MatchAt[i] is { } m) list.AddRange(SwapCandidates(a, m));
            if (CountCandidate(a, i) is { } c) list.Add(c);
        }
        return list;
    }

    private IEnumerable<Candidate> SwapCandidates(Analysis a, Match m)
    {
        var original = Span(a, m.First, m.Last);
        foreach (var sense in m.Senses)
        {
            var (kind, texts) = sense.Kind switch
            {
                SenseKind.Entity => (Lexicon.EntityKind, EntityForms(a, m, sense)),
                SenseKind.Colour => (Lexicon.ColourKind, Lexicon.Partners(Lexicon.ColourKind, sense.Lemma)),
                SenseKind.Size => (Lexicon.SizeKind, Lexicon.Partners(Lexicon.SizeKind, sense.Lemma)),
                SenseKind.Material => (Lexicon.MaterialKind, Lexicon.Partners(Lexicon.MaterialKind, sense.Lemma)),
                SenseKind.Relation => (Lexicon.RelationKind, Lexicon.Partners(Lexicon.RelationKind, sense.Lemma)),
                SenseKind.Action => (Lexicon.ActionKind, Lexicon.Partners(Lexicon.ActionKind, sense.Lemma).Select(p => sense.Form switch
                {
                    Form.Third => Inflection.ThirdPerson(p),
                    Form.Ing => Inflection.Ing(p),
                    _ => p,
                }).ToList()),
                _ => ("", (IReadOnlyList<string>)[]),
            };
            var options = texts.Where(t => CaptionTokens.Key(t) != m.Key).Distinct()
                .Select(t => Inflection.MatchCase(original, t))
                .Select(t => new Option([new Replacement(m.First, m.Last, t)], t)).ToList();
            if (options.Count == 0) continue;
            var touched = Enumerable.Range(m.First, m.Count).ToHashSet();
            if (ArticleBefore(a, m.First) is { } article) touched.Add(article);
            yield return new Candidate(kind, m.First, m.Last, touched, options);
        }
    }

    /// <summary>Replacement nouns in the number of the one replaced; for "sheep"-like nouns the determiner decides.</summary>
    private List<string> EntityForms(Analysis a, Match m, Sense sense)
    {
        var partners = Lexicon.Partners(Lexicon.EntityKind, sense.Lemma);
        var form = sense.Form;
        if (form == Form.Both && m.First > 0)
        {
            var prev = a.Tokens[m.First - 1].Lower;
            var count = Inflection.ParseCount(prev);
            if (count == 1 || SingularDeterminers.Contains(prev)) form = Form.Singular;
            else if (count > 1 || PluralDeterminers.Contains(prev)) form = Form.Plural;
        }
        return form switch
        {
            Form.Singular => partners.ToList(),
            Form.Plural => partners.Select(Lexicon.Plural).ToList(),
            _ => partners.Where(p => Lexicon.Plural(p) == p).ToList(),  // number unknown: only nouns that do not show it
        };
    }

    /// <summary>
    /// "a small cat" ↔ "two small cats": a count determiner (a/an/one, two..ten, digits, several, many), up to
    /// three modifiers, and a lexicon noun whose number agrees with it, followed by nothing that looks like
    /// the rest of a compound noun. The subject's verb follows the new number.
    /// </summary>
    private Candidate? CountCandidate(Analysis a, int i)
    {
        var tokens = a.Tokens;
        var det = tokens[i];
        if (det.Kind == TokenKind.Punct || a.Covering[i] is not null) return null;
        int? count = det.Lower is "several" or "many" ? null : Inflection.ParseCount(det.Lower);
        if (count is null && det.Lower is not ("several" or "many")) return null;
        bool singular = count == 1;

        // The head noun after at most three modifiers.
        Match? head = null;
        int j = i + 1;
        for (int modifiers = 0; j < tokens.Count && tokens[j].SpaceBefore; j++)
        {
            if (a.MatchAt[j] is { } mm && mm.Senses.Any(s => s.Kind == SenseKind.Entity))
            {
                head = mm;
                break;
            }
            var t = tokens[j];
            if (t.Kind != TokenKind.Word || Stopwords.Contains(t.Lower) || Determiners.Contains(t.Lower) || modifiers == 3) return null;
            if (a.Covering[j] is { } cm && cm.Senses.Any(s => s.Kind is SenseKind.Relation or SenseKind.Verb || s.Kind == SenseKind.Action && s.Form != Form.Ing))
                return null;
            modifiers++;
        }
        if (head is null) return null;
        var entity = head.Senses.First(s => s.Kind == SenseKind.Entity);
        if (entity.Form == Form.Plural && singular || entity.Form == Form.Singular && !singular) return null;
        if (!CountableFollower(a, head.Last + 1)) return null;

        var touched = Enumerable.Range(i, head.Last - i + 1).ToHashSet();
        int? verb = FindAgreeingVerb(a, i, head.Last, singular);
        if (verb is { } v) touched.Add(v);

        int[] targets = count switch
        {
            1 => [2, 2, 3, 4],
            null => [1, 1, 2, 3],
            { } n => [1, 1, .. new[] { 2, 3, 4, 5 }.Where(x => x != n)],
        };
        bool digits = det.Kind == TokenKind.Number;
        var options = new List<Option>();
        foreach (var target in targets)
        {
            var reps = new List<Replacement>();
            string headText = target == 1 ? entity.Lemma : Lexicon.Plural(entity.Lemma);
            var originalHead = Span(a, head.First, head.Last);
            bool headChanges = CaptionTokens.Key(headText) != head.Key;
            string nextWord = i + 1 == head.First ? headText : tokens[i + 1].Lower;
            string detText = target == 1 ? Inflection.Article(nextWord) : digits ? target.ToString(System.Globalization.CultureInfo.InvariantCulture) : Inflection.NumberWord(target);
            reps.Add(new Replacement(i, i, Inflection.MatchCase(Span(a, i, i), detText)));
            if (headChanges) reps.Add(new Replacement(head.First, head.Last, Inflection.MatchCase(originalHead, headText)));
            if (verb is { } vi && (target == 1) != singular && AgreeingForm(a, vi, singular) is { } verbText)
                reps.Add(new Replacement(vi, vi, Inflection.MatchCase(Span(a, vi, vi), verbText)));
            var to = Render(a, reps, i, head.Last);
            options.Add(new Option(reps, to));
        }
        return new Candidate(CountKind, i, head.Last, touched, options);
    }

    /// <summary>
    /// What may follow a counted noun: the end, punctuation, a function word, a verb or an -ing/-ed word.
    /// Anything else may be the rest of a compound noun ("a pizza box"), which counting would break.
    /// </summary>
    private static bool CountableFollower(Analysis a, int k)
    {
        if (k >= a.Tokens.Count) return true;
        var t = a.Tokens[k];
        if (t.Kind != TokenKind.Word || !t.SpaceBefore) return t.Kind == TokenKind.Punct && t.Lower is not ("-" or "'");
        if (Stopwords.Contains(t.Lower) || Relatives.Contains(t.Lower)) return true;
        if (t.Lower.EndsWith("ing", StringComparison.Ordinal) || t.Lower.EndsWith("ed", StringComparison.Ordinal)) return true;
        return a.Covering[k] is { } m && m.Senses.Any(s => s.Kind is SenseKind.Verb or SenseKind.Action or SenseKind.Relation);
    }

    /// <summary>
    /// The finite verb that agrees with the noun phrase [det..headLast], if the phrase is plainly a subject:
    /// "there is/are" right before it, or nothing but function words between the clause start and it and a
    /// verb of the phrase's number later in the clause ("a cat on a mat is sleeping"). Null when in doubt.
    /// </summary>
    private static int? FindAgreeingVerb(Analysis a, int det, int headLast, bool singular)
    {
        var tokens = a.Tokens;
        if (det >= 2 && tokens[det - 2].Lower == "there" && tokens[det - 1].Lower is "is" or "are" or "was" or "were")
            return IsBe(tokens[det - 1].Lower, singular) ? det - 1 : null;
        if (det >= 1 && tokens[det - 1].Lower is "and" or "or" or "nor") return null;  // "a cat and a dog are": the verb is the pair's
        for (int k = det - 1; k >= 0; k--)
        {
            var t = tokens[k];
            if (t.Kind == TokenKind.Punct || ClauseWords.Contains(t.Lower)) break;
            if (a.Covering[k] is { } m && m.Senses.Any(s => s.Kind is SenseKind.Entity or SenseKind.Verb or SenseKind.Action or SenseKind.Relation)) return null;
            if (t.Lower is "is" or "are" or "was" or "were" || t.Lower.EndsWith("ing", StringComparison.Ordinal) || Stopwords.Contains(t.Lower) && !Determiners.Contains(t.Lower))
                return null;
        }
        bool passedNoun = false;
        for (int k = headLast + 1; k < tokens.Count && k <= headLast + 12; k++)
        {
            var t = tokens[k];
            if (t.Kind == TokenKind.Punct || ClauseWords.Contains(t.Lower)) return null;
            if (Relatives.Contains(t.Lower))
            {
                if (passedNoun) return null;
                continue;
            }
            if (a.MatchAt[k] is { } m && m.Senses.Any(s => s.Kind == SenseKind.Entity))
            {
                passedNoun = true;
                k = m.Last;
                continue;
            }
            if (t.Lower is "is" or "are" or "was" or "were") return IsBe(t.Lower, singular) ? k : null;
            if (a.Covering[k] is { } vm && vm.Count == 1 && vm.Senses.FirstOrDefault(s => s.Kind == SenseKind.Verb) is { } verb)
            {
                var prev = tokens[k - 1].Lower;
                if (Infinitive.Contains(prev) || Determiners.Contains(prev)) continue;  // "trying to catch", "a wave"
                if (verb.Form == Form.Third && singular || verb.Form == Form.Base && !singular) return k;
                return null;
            }
        }
        return null;
    }

    private static bool IsBe(string word, bool singular) => singular ? word is "is" or "was" : word is "are" or "were";

    /// <summary>The verb at <paramref name="k"/> in the other number: is ↔ are, was ↔ were, sits ↔ sit, has ↔ have.</summary>
    private static string? AgreeingForm(Analysis a, int k, bool wasSingular)
    {
        var w = a.Tokens[k].Lower;
        if (wasSingular && BeSingularToPlural.TryGetValue(w, out var p)) return p;
        if (!wasSingular && BePluralToSingular.TryGetValue(w, out var s)) return s;
        var verb = a.Covering[k]?.Senses.FirstOrDefault(x => x.Kind == SenseKind.Verb && x.Form == (wasSingular ? Form.Third : Form.Base));
        if (verb is null) return null;
        return wasSingular ? verb.Lemma : Inflection.ThirdPerson(verb.Lemma);
    }

    /// <summary>The "a"/"an" right before token <paramref name="k"/>, whose form depends on that token.</summary>
    private static int? ArticleBefore(Analysis a, int k) =>
        k > 0 && a.Tokens[k].SpaceBefore && a.Tokens[k - 1].Lower is "a" or "an" ? k - 1 : null;

    // ---- rendering ----

    private static string Span(Analysis a, int first, int last) => a.Text[a.Tokens[first].Start..a.Tokens[last].End];

    /// <summary>
    /// The caption with the replacements applied, plus the "a"/"an" agreement of any article whose next word
    /// was replaced. Everything else is copied from the original text.
    /// </summary>
    private static string Render(Analysis a, IReadOnlyList<Replacement> replacements)
    {
        var all = replacements.ToList();
        var replaced = all.SelectMany(r => Enumerable.Range(r.First, r.Last - r.First + 1)).ToHashSet();
        foreach (var r in replacements)
        {
            if (ArticleBefore(a, r.First) is not { } art || replaced.Contains(art)) continue;
            var firstWord = r.Text.Split(' ', '-')[0];
            var article = Inflection.MatchCase(Span(a, art, art), Inflection.Article(firstWord));
            if (article != Span(a, art, art)) all.Add(new Replacement(art, art, article));
        }
        return Render(a, all, 0, a.Tokens.Count - 1, whole: true);
    }

    /// <summary>
    /// The text of tokens [first..last] with the replacements inside that range applied; with
    /// <paramref name="whole"/>, the whole caption including any leading and trailing whitespace.
    /// </summary>
    private static string Render(Analysis a, IReadOnlyList<Replacement> replacements, int first, int last, bool whole = false)
    {
        if (a.Tokens.Count == 0) return a.Text;
        var sb = new StringBuilder();
        int pos = whole ? 0 : a.Tokens[first].Start;
        int end = whole ? a.Text.Length : a.Tokens[last].End;
        foreach (var r in replacements.Where(r => r.First >= first && r.Last <= last).OrderBy(r => r.First))
        {
            sb.Append(a.Text, pos, a.Tokens[r.First].Start - pos);
            sb.Append(r.Text);
            pos = a.Tokens[r.Last].End;
        }
        sb.Append(a.Text, pos, end - pos);
        return sb.ToString();
    }
}
