using System.Globalization;
using System.Text;

namespace SharpGlance.Data.Synthetic;

/// <summary>
/// Errors found in one caption against its scene graph, by the paper's kinds (App. F.1: entity,
/// attribute = colour + count + size, relation; the world has no actions). <see cref="Notes"/> says what
/// each error was.
/// </summary>
public sealed record CaptionErrors(int Entity, int Colour, int Count, int Size, int Relation, IReadOnlyList<string> Notes)
{
    public int Attribute => Colour + Count + Size;
    public int Total => Entity + Attribute + Relation;
}

/// <summary>
/// One thing a caption says about its scene, judged: its kind (one of <see cref="ErrorBreakdown.Kinds"/>),
/// where it is (the index of its word among the caption's words: the noun of an entity, the number word of
/// a count — the noun for a bare plural —, the colour or size word, the first word of a relation phrase),
/// and whether it is right.
/// </summary>
public sealed record MentionVerdict(string Kind, int Word, bool Right);

/// <summary>Error counts summed over many captions, and how many captions had each kind (the error-breakdown table).</summary>
public sealed class ErrorBreakdown
{
    public static readonly string[] Kinds = ["entity", "colour", "count", "size", "relation"];

    private readonly long[] _errors = new long[Kinds.Length];
    private readonly long[] _captionsWith = new long[Kinds.Length];

    public long Captions { get; private set; }
    public long CaptionsWithAny { get; private set; }

    /// <summary>Errors of <paramref name="kind"/> (one of <see cref="Kinds"/>) over all captions.</summary>
    public long Errors(string kind) => _errors[IndexOf(kind)];

    /// <summary>Captions with at least one error of <paramref name="kind"/>.</summary>
    public long CaptionsWith(string kind) => _captionsWith[IndexOf(kind)];

    public long TotalErrors => _errors.Sum();

    public void Add(CaptionErrors e)
    {
        Captions++;
        int[] counts = [e.Entity, e.Colour, e.Count, e.Size, e.Relation];
        for (var k = 0; k < counts.Length; k++)
        {
            _errors[k] += counts[k];
            if (counts[k] > 0) _captionsWith[k]++;
        }
        if (e.Total > 0) CaptionsWithAny++;
    }

    /// <summary>A small text table: errors per 100 captions and % of captions with the error, per kind.</summary>
    public string Format()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"kind",-10} {"errors",8} {"per 100",8} {"% capt.",8}");
        for (var k = 0; k < Kinds.Length; k++)
            sb.AppendLine(CultureInfo.InvariantCulture, $"{Kinds[k],-10} {_errors[k],8} {Per100(_errors[k]),8:F1} {Per100(_captionsWith[k]),8:F1}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"any",-10} {TotalErrors,8} {Per100(TotalErrors),8:F1} {Per100(CaptionsWithAny),8:F1}");
        sb.Append(CultureInfo.InvariantCulture, $"({Captions} captions)");
        return sb.ToString();
    }

    private double Per100(long n) => Captions == 0 ? 0 : 100.0 * n / Captions;

    private static int IndexOf(string kind) =>
        Array.IndexOf(Kinds, kind) is var i and >= 0 ? i : throw new ArgumentException($"unknown error kind '{kind}'", nameof(kind));
}

/// <summary>
/// Checks a caption written in the synthetic world's language against the image's scene graph and counts
/// its errors by kind. It parses the world's grammar rather than matching templates: noun phrases
/// ([determiner|number] [size] [colour] noun, singular or plural, "a pair of"), definite re-mentions
/// ("the cats"), and relation phrases joining the latest noun phrase before them to the next one after,
/// within a sentence. Words it does not know are skipped (up to two may sit inside a noun phrase or
/// between a relation and its object: "a small shiny red circle"); a relation whose object never comes
/// ("on a plain blue background", or a comma, "and" or "with" first) is ignored.
/// <para>
/// Mentioned groups are matched to scene groups by the assignment that agrees best (same noun first,
/// then attributes). Entity errors: a mention matched to a group with another noun (a swap), a mention
/// of something absent (a hallucination), a group never mentioned (an omission). On every matched pair:
/// colour and size (shapes only; emoji have neither), count ("a"/"one" = 1, "two", "a pair of", …, a bare
/// plural = more than one). Relations: each stated relation between two matched groups must hold for
/// their boxes (<see cref="Relations.Holds"/>, so "left of" is right for a "next to" scene whose subject is
/// on the left); a scene relation between two mentioned groups that the caption never states counts as
/// one relation error too.
/// </para>
/// </summary>
public sealed class SceneErrorAnalyzer
{
    private enum TokenKind { Noun, Colour, Size, Number, Definite, Relation }

    private sealed record Token(TokenKind Kind, string Value, int Number = 0, bool Plural = false, bool Singular = false);

    /// <summary>A noun phrase as parsed: its noun, count (null: not said; -1: "some"/bare plural), attributes, and definiteness.</summary>
    internal sealed class Mention
    {
        public required string Entity;
        public int? Count;
        public string? Colour, Size;
        public bool Definite;
        public int Word, CountWord, ColourWord, SizeWord;   // word indices in the caption (see MentionVerdict)
        public Mention? Antecedent; // for a definite re-mention
        public Mention Root => Antecedent?.Root ?? this;
        public override string ToString() =>
            $"{(Definite ? "the " : "")}{(Count is { } c ? c + " " : "")}{Size} {Colour} {Entity}".Replace("  ", " ", StringComparison.Ordinal).Trim();
    }

    internal sealed record StatedRelation(Mention Subject, string Predicate, Mention Object, int Word = -1);

    private readonly Dictionary<string, Token> _phrases = new(StringComparer.Ordinal);
    private readonly int _maxPhraseWords;
    private readonly WorldLexicon _lexicon;

    public SceneErrorAnalyzer(WorldLexicon lexicon)
    {
        _lexicon = lexicon;
        foreach (var names in lexicon.Entities.Values)
            foreach (var name in names)
            {
                var plural = lexicon.Plurals.TryGetValue(name, out var p) ? p : English.Plural(name);
                Add(name, new Token(TokenKind.Noun, name, Singular: true, Plural: plural == name));
                if (plural != name) Add(plural, new Token(TokenKind.Noun, name, Plural: true));
            }
        foreach (var c in lexicon.Colours) Add(c, new Token(TokenKind.Colour, c));
        if (lexicon.Colours.Contains("gray")) Add("grey", new Token(TokenKind.Colour, "gray"));
        // Sizes and their common synonyms (a model may say "big").
        foreach (var s in lexicon.Sizes) Add(s, new Token(TokenKind.Size, s));
        foreach (var (word, size) in new[] { ("big", "large"), ("huge", "large"), ("little", "small"), ("tiny", "small") })
            if (lexicon.Sizes.Contains(size)) Add(word, new Token(TokenKind.Size, size));
        foreach (var (word, n) in new[] { ("a", 1), ("an", 1), ("one", 1), ("single", 1), ("two", 2), ("three", 3), ("four", 4), ("five", 5), ("six", 6),
                     ("pair of", 2), ("couple of", 2), ("some", -1), ("several", -1), ("many", -1), ("multiple", -1) })
            Add(word, new Token(TokenKind.Number, word, Number: n));
        foreach (var word in new[] { "the", "this", "that", "these", "those", "both" })
            Add(word, new Token(TokenKind.Definite, word));
        foreach (var (predicate, phrases) in lexicon.RelationPhrases)
            foreach (var phrase in phrases) Add(phrase, new Token(TokenKind.Relation, predicate));
        // Forms a model may produce that the writer does not use.
        foreach (var (phrase, predicate) in new[] { ("over", Relations.Above), ("underneath of", Relations.Under), ("on top", Relations.OnTopOf),
                     ("atop", Relations.OnTopOf), ("beneath", Relations.Below), ("to the side of", Relations.NextTo),
                     ("near", Relations.NextTo) })
            if (!_phrases.ContainsKey(phrase)) Add(phrase, new Token(TokenKind.Relation, predicate));
        _maxPhraseWords = _phrases.Keys.Max(k => k.Split(' ').Length);

        void Add(string phrase, Token token) => _phrases.TryAdd(phrase, token);
    }

    public WorldLexicon Lexicon => _lexicon;

    /// <summary>The errors of <paramref name="caption"/> about <paramref name="scene"/>.</summary>
    public CaptionErrors Analyze(string caption, SceneGraph scene) => Judge(caption, scene, null);

    /// <summary>
    /// Every entity, count, colour, size and relation the caption states, in the order of their words, each
    /// judged as <see cref="Analyze(string, SceneGraph)"/> judges it (its errors are the wrong verdicts plus the
    /// omissions, which have no place in the caption: groups never mentioned, scene relations never stated).
    /// </summary>
    public IReadOnlyList<MentionVerdict> Mentions(string caption, SceneGraph scene)
    {
        var verdicts = new List<MentionVerdict>();
        Judge(caption, scene, verdicts);
        return verdicts.OrderBy(v => v.Word).ToList();
    }

    private CaptionErrors Judge(string caption, SceneGraph scene, List<MentionVerdict>? verdicts)
    {
        var (mentions, stated) = Parse(caption);
        var notes = new List<string>();
        int entity = 0, colour = 0, count = 0, size = 0, relation = 0;

        // Mentions that introduce something (not re-mentions); the first eight are matched, any beyond are extra.
        var roots = mentions.Where(m => m.Antecedent is null).ToList();
        var groups = scene.Groups;
        var assignment = Assign(roots.Take(8).ToList(), groups, stated, scene.Width); // group index → root index or -1
        var groupOf = new Dictionary<Mention, SceneGroup>();
        for (var g = 0; g < groups.Count; g++)
            if (assignment[g] >= 0) groupOf[roots[assignment[g]]] = groups[g];

        foreach (var root in roots)
        {
            if (!groupOf.TryGetValue(root, out var g))
            {
                verdicts?.Add(new MentionVerdict("entity", root.Word, false));
                entity++;
                notes.Add(groups.Any(x => x.Name == root.Entity)
                    ? $"entity: an extra '{root.Entity}' (the scene's one group of them is already mentioned)"
                    : $"entity: '{root.Entity}' is not in the scene");
                continue;
            }
            verdicts?.Add(new MentionVerdict("entity", root.Word, g.Name == root.Entity));
            if (g.Name != root.Entity)
            {
                entity++;
                notes.Add($"entity: '{root.Entity}' where the scene has '{g.Name}'");
            }
            if (root.Count is { } stated1) verdicts?.Add(new MentionVerdict("count", root.CountWord, stated1 == -1 ? g.Count > 1 : stated1 == g.Count));
            if (root.Count is { } n && (n == -1 ? g.Count == 1 : n != g.Count))
            {
                count++;
                notes.Add($"count: {(n == -1 ? "several" : n.ToString(CultureInfo.InvariantCulture))} '{root.Entity}' where the scene has {g.Count}");
            }
            if (g.IsShape && root.Colour is { } said) verdicts?.Add(new MentionVerdict("colour", root.ColourWord, said == g.Colour));
            if (g.IsShape && root.Size is { } saidSize) verdicts?.Add(new MentionVerdict("size", root.SizeWord, saidSize == g.Size));
            if (g.IsShape && root.Colour is { } c && c != g.Colour)
            {
                colour++;
                notes.Add($"colour: {c} '{root.Entity}' where the scene has {g.Colour}");
            }
            if (g.IsShape && root.Size is { } s && s != g.Size)
            {
                size++;
                notes.Add($"size: {s} '{root.Entity}' where the scene has {g.Size}");
            }
        }
        foreach (var g in groups)
            if (!groupOf.ContainsValue(g))
            {
                entity++;
                notes.Add($"entity: '{CaptionWriter.NounPhrase(g)}' is not mentioned");
            }

        var judged = new HashSet<(int, string, int)>();
        var related = new HashSet<(int, int)>();
        foreach (var r in stated)
        {
            if (!groupOf.TryGetValue(r.Subject.Root, out var a) || !groupOf.TryGetValue(r.Object.Root, out var b) || a.Index == b.Index) continue;
            related.Add((Math.Min(a.Index, b.Index), Math.Max(a.Index, b.Index)));
            if (!judged.Add((a.Index, r.Predicate, b.Index))) continue;
            bool holds = Relations.Holds(r.Predicate, a.Bounds, b.Bounds, scene.Width);
            verdicts?.Add(new MentionVerdict("relation", r.Word, holds));
            if (holds) continue;
            relation++;
            var truth = Relations.HoldsAll(a.Bounds, b.Bounds, scene.Width);
            notes.Add($"relation: '{a.Name} {r.Predicate} {b.Name}' is false (true: {(truth.Count == 0 ? "none" : string.Join(", ", truth))})");
        }
        foreach (var r in scene.Relations)
        {
            var pair = (Math.Min(r.Subject, r.Object), Math.Max(r.Subject, r.Object));
            if (groupOf.ContainsValue(groups[r.Subject]) && groupOf.ContainsValue(groups[r.Object]) && !related.Contains(pair))
            {
                relation++;
                notes.Add($"relation: '{groups[r.Subject].Name} {r.Predicate} {groups[r.Object].Name}' is not stated");
            }
        }
        return new CaptionErrors(entity, colour, count, size, relation, notes);
    }

    /// <summary>Sums <see cref="Analyze(string, SceneGraph)"/> over (caption, scene) pairs.</summary>
    public ErrorBreakdown Analyze(IEnumerable<(string Caption, SceneGraph Scene)> items)
    {
        var breakdown = new ErrorBreakdown();
        foreach (var (caption, scene) in items) breakdown.Add(Analyze(caption, scene));
        return breakdown;
    }

    /// <summary>
    /// For each group, the root mention it is matched to (or -1), maximising agreement: a same-noun pair
    /// scores 100, a swap within a class 20, any other swap 10, each agreeing attribute +1 and each
    /// disagreeing one −1, and each stated relation that holds under the assignment +1 (−1 if false) —
    /// so "a small blue circle above a large red circle" about a small red circle above a large blue one
    /// reads as two colour errors, not two size errors and a relation error. Groups are few (≤ 4) and
    /// roots ≤ 8, so every assignment is tried; ties keep the first found (groups in order).
    /// </summary>
    private int[] Assign(List<Mention> roots, IReadOnlyList<SceneGroup> groups, List<StatedRelation> stated, int side)
    {
        var best = Enumerable.Repeat(-1, groups.Count).ToArray();
        var current = new int[groups.Count];
        var used = new bool[roots.Count];
        var bestScore = int.MinValue;
        Search(0, 0);
        return best;

        int RelationScore()
        {
            var score = 0;
            foreach (var r in stated)
            {
                int ra = roots.IndexOf(r.Subject.Root), rb = roots.IndexOf(r.Object.Root);
                if (ra < 0 || rb < 0) continue;
                int a = Array.IndexOf(current, ra), b = Array.IndexOf(current, rb);
                if (a < 0 || b < 0 || a == b) continue;
                score += Relations.Holds(r.Predicate, groups[a].Bounds, groups[b].Bounds, side) ? 1 : -1;
            }
            return score;
        }

        void Search(int g, int score)
        {
            if (g == groups.Count)
            {
                score += RelationScore();
                if (score > bestScore) { bestScore = score; Array.Copy(current, best, current.Length); }
                return;
            }
            for (var m = 0; m < roots.Count; m++)
            {
                if (used[m]) continue;
                used[m] = true; current[g] = m;
                Search(g + 1, score + Score(roots[m], groups[g]));
                used[m] = false;
            }
            current[g] = -1;
            Search(g + 1, score);
        }
    }

    private int Score(Mention m, SceneGroup g)
    {
        var score = m.Entity == g.Name ? 100 : _lexicon.ClassOf(m.Entity) == g.Class ? 20 : 10;
        if (m.Count is { } n) score += (n == -1 ? g.Count > 1 : n == g.Count) ? 1 : -1;
        if (g.IsShape && m.Colour is not null) score += m.Colour == g.Colour ? 1 : -1;
        if (g.IsShape && m.Size is not null) score += m.Size == g.Size ? 1 : -1;
        return score;
    }

    /// <summary>The mentions (in order) and the relations stated between them.</summary>
    internal (List<Mention> Mentions, List<StatedRelation> Relations) Parse(string caption)
    {
        var mentions = new List<Mention>();
        var relations = new List<StatedRelation>();
        int offset = 0;   // words in the sentences before this one
        foreach (var sentence in caption.ToLowerInvariant().Split(['.', '!', '?', ';', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            var words = Words(sentence);
            // Pending noun-phrase material ("a small red …"), the latest noun phrase (subject of a following
            // relation), and a relation waiting for its object.
            int? count = null; string? colour = null, size = null; bool definite = false;
            int countWord = -1, colourWord = -1, sizeWord = -1;
            var strayInPhrase = 0;                             // unknown words inside the pending noun phrase
            Mention? last = null;
            (Mention? Subject, string Predicate, int Word)? open = null;
            var strayAfterRelation = 0;                        // unknown words since the open relation
            void ResetPhrase() { count = null; colour = null; size = null; definite = false; strayInPhrase = 0; }
            for (var i = 0; i < words.Count;)
            {
                var (token, length) = Match(words, i);
                var word = words[i];
                int at = offset + i;
                i += length;
                switch (token?.Kind)
                {
                    case TokenKind.Number:
                    case TokenKind.Definite:
                        // A new noun phrase after stray words: the open relation's object was one of those words.
                        if (strayAfterRelation > 0) open = null;
                        if (token.Kind == TokenKind.Definite) { ResetPhrase(); definite = true; }
                        else
                        {
                            if (colour is not null || size is not null) ResetPhrase();
                            count = token.Number; // "a pair of": "a" then "pair of" = 2
                            countWord = at;
                        }
                        break;
                    case TokenKind.Colour: colour = token.Value; colourWord = at; break;
                    case TokenKind.Size: size = token.Value; sizeWord = at; break;
                    case TokenKind.Noun:
                    {
                        // "a cat" = 1; "cats" = more than one; "the cat" = 1; "fish"/"sheep" alone = unknown.
                        var n = count ?? (token.Singular && !token.Plural ? 1 : !token.Singular && token.Plural ? -1 : null);
                        var m = new Mention
                        {
                            Entity = token.Value, Count = n, Colour = colour, Size = size, Definite = definite,
                            Word = at, CountWord = count is null ? at : countWord, ColourWord = colourWord, SizeWord = sizeWord,
                        };
                        if (definite) m.Antecedent = FindAntecedent(mentions, m);
                        if (m.Antecedent is { } ante)
                        {
                            // A re-mention adds what it says to the thing first mentioned ("a circle … the red circle").
                            var root = ante.Root;
                            if (root.Colour is null && m.Colour is not null) (root.Colour, root.ColourWord) = (m.Colour, m.ColourWord);
                            if (root.Size is null && m.Size is not null) (root.Size, root.SizeWord) = (m.Size, m.SizeWord);
                        }
                        mentions.Add(m);
                        if (open is { Subject: { } subject } o) relations.Add(new StatedRelation(subject, o.Predicate, m, o.Word));
                        open = null;
                        last = m;
                        ResetPhrase();
                        break;
                    }
                    case TokenKind.Relation:
                        open = (last, token.Value, at);
                        strayAfterRelation = 0;
                        ResetPhrase();
                        break;
                    default:
                        // An unknown word. A conjunction or comma ends the phrase and orphans an open relation;
                        // up to two other stray words may sit inside a noun phrase that has begun with an
                        // attribute ("a small shiny red circle") or between a relation and its object.
                        if (word is "and" or "," or "with" or "or" or "but" or "while")
                        {
                            open = null;
                            ResetPhrase();
                            break;
                        }
                        if (open is not null && ++strayAfterRelation > 2) open = null;
                        if (colour is null && size is null || ++strayInPhrase > 2) ResetPhrase();
                        break;
                }
            }
            offset += words.Count;
        }
        return (mentions, relations);
    }

    /// <summary>The latest earlier mention of the same noun whose attributes do not contradict the re-mention's.</summary>
    private static Mention? FindAntecedent(List<Mention> earlier, Mention m)
    {
        for (var k = earlier.Count - 1; k >= 0; k--)
        {
            var e = earlier[k].Root;
            if (e.Entity != m.Entity) continue;
            if (m.Colour is not null && e.Colour is not null && m.Colour != e.Colour) continue;
            if (m.Size is not null && e.Size is not null && m.Size != e.Size) continue;
            return e;
        }
        return null;
    }

    /// <summary>The longest known phrase starting at word <paramref name="i"/>, or (null, 1) for an unknown word.</summary>
    private (Token? Token, int Length) Match(List<string> words, int i)
    {
        for (var len = Math.Min(_maxPhraseWords, words.Count - i); len >= 1; len--)
        {
            var phrase = len == 1 ? words[i] : string.Join(' ', words.Skip(i).Take(len));
            if (_phrases.TryGetValue(phrase, out var token)) return (token, len);
        }
        return (null, 1);
    }

    /// <summary>Lower-case words: letters, digits, inner hyphens and apostrophes; everything else separates (a comma is a word of its own).</summary>
    private static List<string> Words(string sentence)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var ch in sentence)
        {
            if (char.IsLetterOrDigit(ch) || ((ch == '-' || ch == '\'' || ch == '’') && current.Length > 0)) current.Append(ch);
            else
            {
                if (current.Length > 0) { words.Add(current.ToString().TrimEnd('-', '\'', '’')); current.Clear(); }
                if (ch == ',') words.Add(",");
            }
        }
        if (current.Length > 0) words.Add(current.ToString().TrimEnd('-', '\'', '’'));
        return words;
    }
}
