using System.Text.Encodings.Web;
using System.Text.Json;
using SharpGlance.Llm;

namespace SharpGlance.Data.Pseudo;

/// <summary>Where pseudo-initial captions come from (SPEC §9; the paper's Tab. 12 names the data sets).</summary>
public enum PseudoStrategy
{
    /// <summary>Rule edits of the ground truth (the paper's Data3, made by rules instead of GPT-4o-mini).</summary>
    Rules,
    /// <summary>The stage-1 model's own captions (Data1), rule edits where it has none or it equals the GT.</summary>
    Model,
    /// <summary>Each variant drawn from <see cref="Rules"/> or <see cref="Model"/> with even odds.</summary>
    Mixed,
    /// <summary>An OpenAI-compatible chat model edits the ground truth (the paper's way); rules fill its gaps.</summary>
    Llm,
}

/// <summary>How to make pseudo-initial captions. <see cref="Validate"/> names a bad field.</summary>
public sealed record PseudoOptions
{
    /// <summary>Pseudo-initial captions per ground-truth caption (the paper: 3).</summary>
    public int Variants { get; init; } = 3;

    /// <summary>At most this many edits per rule variant (the paper: 0–3).</summary>
    public int MaxEdits { get; init; } = 3;

    public int Seed { get; init; }

    public PseudoStrategy Strategy { get; init; } = PseudoStrategy.Rules;

    /// <summary>Data4: one variant (at a seeded position) is the ground truth itself; the others get ≥ 1 edit.</summary>
    public bool IncludeGroundTruth { get; init; }

    /// <summary>The model's captions for <see cref="PseudoStrategy.Model"/> and <see cref="PseudoStrategy.Mixed"/>.</summary>
    public string? CaptionsPath { get; init; }

    /// <summary>The chat endpoint for <see cref="PseudoStrategy.Llm"/>.</summary>
    public ChatEndpoint? Llm { get; init; }

    /// <summary>Chat requests in flight at once.</summary>
    public int LlmParallelism { get; init; } = 4;

    /// <summary>How often a rule variant is left unedited when 0 edits are allowed ("occasionally identical").</summary>
    public double ZeroEditProbability { get; init; } = 0.1;

    public void Validate()
    {
        if (Variants < 1) throw new GlanceException($"--variants must be at least 1 (got {Variants})");
        if (MaxEdits < 0) throw new GlanceException($"--max-edits must be 0 or more (got {MaxEdits})");
        if (IncludeGroundTruth && Variants < 2) throw new GlanceException("--include-gt needs --variants of at least 2 (one of them is the ground truth)");
        if (IncludeGroundTruth && MaxEdits < 1) throw new GlanceException("--include-gt needs --max-edits of at least 1 (the other variants must differ from the ground truth)");
        if (Strategy is PseudoStrategy.Model or PseudoStrategy.Mixed && string.IsNullOrEmpty(CaptionsPath))
            throw new GlanceException($"--strategy {Strategy.ToString().ToLowerInvariant()} needs --captions FILE (the stage-1 model's captions)");
        if (Strategy == PseudoStrategy.Llm && Llm is null)
            throw new GlanceException("--strategy llm needs an endpoint: --llm-url (or SHARPGLANCE_LLM_URL)");
        if (LlmParallelism < 1) throw new GlanceException($"--llm-parallel must be at least 1 (got {LlmParallelism})");
        if (ZeroEditProbability is < 0 or > 1) throw new GlanceException($"ZeroEditProbability must be in [0, 1] (got {ZeroEditProbability})");
    }
}

/// <summary>One pseudo-initial caption: its text, its edits and where it came from ("rules", "model", "llm", "gt").</summary>
public sealed record PseudoVariant(string Caption, IReadOnlyList<CaptionEdit> Edits, string Source)
{
    public const string Rules = "rules", Model = "model", Llm = "llm", GroundTruth = "gt";
}

/// <summary>
/// Makes the stage-2 training data of Sharp-Eyed Refinement (SPEC §9): for every ground-truth caption of a
/// LLaVA conversation file, <see cref="PseudoOptions.Variants"/> pseudo-initial captions with their edits.
/// Each entry draws from its own generator seeded by (seed, entry index), so the output does not depend
/// on the order or parallelism of the work, and the same seed gives the same bytes (an LLM's replies
/// aside). Variants of one entry differ from each other where the caption allows it, and the ground
/// truth appears among them at most once.
/// </summary>
public sealed class PseudoCaptionGenerator : IDisposable
{
    private const int Attempts = 8;

    private readonly PseudoOptions _options;
    private readonly CaptionEditor _editor;
    private readonly ModelCaptions? _modelCaptions;
    private readonly ChatClient? _chat;
    private readonly object _lock = new();

    public PseudoCaptionGenerator(PseudoOptions options, Lexicon lexicon, ModelCaptions? modelCaptions = null, HttpMessageHandler? llmHandler = null)
    {
        options.Validate();
        _options = options;
        _editor = new CaptionEditor(lexicon) { ZeroEditProbability = options.ZeroEditProbability };
        _modelCaptions = modelCaptions;
        if (options.Strategy is PseudoStrategy.Model or PseudoStrategy.Mixed && modelCaptions is null)
            _modelCaptions = ModelCaptions.Load(options.CaptionsPath!);
        if (options.Strategy == PseudoStrategy.Llm) _chat = new ChatClient(options.Llm!, llmHandler);
        Summary = new PseudoSummary
        {
            Strategy = options.Strategy.ToString().ToLowerInvariant(),
            Seed = options.Seed,
            VariantsPerCaption = options.Variants,
            MaxEdits = options.MaxEdits,
            IncludeGroundTruth = options.IncludeGroundTruth,
            Lexicon = lexicon.SourceNames,
            Model = _modelCaptions is null ? null : new PseudoSummary.ModelStats { CaptionsFile = _modelCaptions.Path, Captions = _modelCaptions.Count },
            Llm = options.Llm is null || options.Strategy != PseudoStrategy.Llm ? null : new PseudoSummary.LlmStats { Url = options.Llm.BaseUrl, Model = options.Llm.Model },
        };
    }

    public CaptionEditor Editor => _editor;

    /// <summary>What this generator has made so far.</summary>
    public PseudoSummary Summary { get; }

    /// <summary>
    /// The pseudo-initial captions of one ground-truth caption. <paramref name="index"/> (the entry's position
    /// in its file) seeds the entry's choices; <paramref name="image"/> and <paramref name="id"/> find the
    /// model's captions. The LLM strategy calls the endpoint; the others never block.
    /// </summary>
    /// <param name="modelCaptions">The model's captions this entry may use (<see cref="AssignModelCaptions"/>); null = all
    /// of its image's captions.</param>
    public async Task<IReadOnlyList<PseudoVariant>> GenerateAsync(string groundTruth, int index, string? image = null, string? id = null,
        CancellationToken cancel = default, IReadOnlyList<string>? modelCaptions = null)
    {
        var rng = new Random(EntrySeed(_options.Seed, index));
        int n = _options.Variants;
        int gtSlot = _options.IncludeGroundTruth ? rng.Next(n) : -1;
        int minEdits = _options.IncludeGroundTruth ? 1 : 0;
        var variants = new PseudoVariant?[n];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (gtSlot >= 0)
        {
            variants[gtSlot] = new PseudoVariant(groundTruth, [], PseudoVariant.GroundTruth);
            seen.Add(groundTruth);
        }

        var free = Enumerable.Range(0, n).Where(i => i != gtSlot).ToList();
        if (_options.Strategy == PseudoStrategy.Llm)
        {
            var proposals = await AskLlmAsync(groundTruth, free.Count, minEdits, seen, id ?? index.ToString(System.Globalization.CultureInfo.InvariantCulture), cancel).ConfigureAwait(false);
            for (int k = 0; k < proposals.Count && k < free.Count; k++) variants[free[k]] = proposals[k];
        }
        else if (_options.Strategy is PseudoStrategy.Model or PseudoStrategy.Mixed)
        {
            var found = _modelCaptions!.Find(image, id);
            var captions = modelCaptions ?? found;
            lock (_lock)
            {
                if (found is null) Summary.Model!.EntriesMissing++;
                else Summary.Model!.EntriesMatched++;
            }
            // Each model caption at most once (a repeat would only weight one pair more), in file order;
            // one that says exactly the ground truth stays: "it is right, keep it" is a lesson too.
            var unused = new Queue<string>(captions ?? []);
            foreach (var i in free)
            {
                bool useModel = _options.Strategy == PseudoStrategy.Model || rng.NextDouble() < 0.5;
                if (!useModel) continue;
                string? caption = null;
                while (unused.Count > 0 && caption is null)
                {
                    var next = unused.Dequeue();
                    if (SameCaption(next, groundTruth))
                    {
                        if (seen.Contains(groundTruth) || minEdits > 0) continue;
                        lock (_lock) Summary.Model!.EqualToGroundTruth++;
                        caption = groundTruth;
                    }
                    else if (!seen.Contains(next)) caption = next;
                }
                if (caption is null) continue;
                var hunks = CaptionDiff.Hunks(groundTruth, caption).Select(h => new CaptionEdit(PseudoVariant.Model, h.From, h.To)).ToList();
                variants[i] = new PseudoVariant(caption, hunks, PseudoVariant.Model);
                seen.Add(caption);
            }
        }
        foreach (var i in free)
            variants[i] ??= RuleVariant(groundTruth, rng, minEdits, seen);

        var result = variants.Select(v => v!).ToList();
        Record(groundTruth, result);
        return result;
    }

    /// <summary><see cref="GenerateAsync"/> for the strategies that never call out (or when blocking is fine).</summary>
    public IReadOnlyList<PseudoVariant> Generate(string groundTruth, int index, string? image = null, string? id = null) =>
        GenerateAsync(groundTruth, index, image, id).GetAwaiter().GetResult();

    /// <summary>
    /// A rule variant not yet among <paramref name="seen"/> (the ground truth itself at most once), trying a
    /// few draws before settling for a repeat when the caption has too little to edit.
    /// </summary>
    private PseudoVariant RuleVariant(string groundTruth, Random rng, int minEdits, HashSet<string> seen)
    {
        EditedCaption edited = new(groundTruth, []);
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            int min = seen.Contains(groundTruth) ? Math.Max(1, minEdits) : minEdits;
            edited = _editor.Variant(groundTruth, rng, _options.MaxEdits, min);
            if (!seen.Contains(edited.Text)) break;
        }
        seen.Add(edited.Text);
        return new PseudoVariant(edited.Text, edited.Edits, PseudoVariant.Rules);
    }

    private async Task<List<PseudoVariant>> AskLlmAsync(string groundTruth, int count, int minEdits, HashSet<string> seen, string entry, CancellationToken cancel)
    {
        var accepted = new List<PseudoVariant>();
        if (count == 0) return accepted;
        var messages = LlmPseudoPrompt.Messages(groundTruth, count, _options.MaxEdits, allowIdentical: minEdits == 0);
        var reply = await _chat!.CompleteAsync(messages, temperature: 0.7, seed: _options.Seed, cancel: cancel).ConfigureAwait(false);
        lock (_lock) Summary.Llm!.Requests++;
        string? error = reply.Error;
        IReadOnlyList<LlmPseudoPrompt.Proposal>? proposals = null;
        if (reply.Ok) proposals = LlmPseudoPrompt.ParseReply(reply.Text!, out error);
        if (proposals is null)
        {
            lock (_lock)
            {
                Summary.Llm!.FailedRequests++;
                Summary.Llm.NoteError($"entry {entry}: {error}");
            }
            return accepted;
        }
        foreach (var p in proposals)
        {
            if (accepted.Count == count) break;
            var variant = CheckProposal(groundTruth, p, minEdits, seen, out var why);
            if (variant is null)
            {
                lock (_lock)
                {
                    Summary.Llm!.RejectedVariants++;
                    Summary.Llm.NoteError($"entry {entry}: variant rejected: {why}");
                }
                continue;
            }
            accepted.Add(variant);
            seen.Add(variant.Caption);
        }
        return accepted;
    }

    /// <summary>
    /// Whether an LLM's caption is a pseudo-initial caption of the kind asked for: one line, near the ground
    /// truth (at most max-edits changed spans, twice that when it lists its edits, since agreement changes
    /// words beside an edit; at most half of its tokens changed, the paper's Data2 failure), new among the
    /// entry's variants. Its own edit list is kept when every edit is
    /// visible in the two texts; otherwise the word diff is recorded with kind "other".
    /// </summary>
    private PseudoVariant? CheckProposal(string groundTruth, LlmPseudoPrompt.Proposal p, int minEdits, HashSet<string> seen, out string why)
    {
        why = "";
        var caption = p.Caption.Trim();
        if (caption.Length == 0) { why = "empty caption"; return null; }
        if (caption.Contains('\n')) { why = "caption spans several lines"; return null; }
        if (caption.Length > 3 * groundTruth.Length + 40) { why = "caption far longer than the ground truth"; return null; }
        if (caption == groundTruth.Trim())
        {
            if (minEdits > 0 || seen.Contains(groundTruth)) { why = "identical to the ground truth"; return null; }
            if (p.Edits is { Count: > 0 }) { why = "claims edits but equals the ground truth"; return null; }
            return new PseudoVariant(groundTruth, [], PseudoVariant.Llm);
        }
        if (seen.Contains(caption)) { why = "repeats another variant"; return null; }
        var hunks = CaptionDiff.Hunks(groundTruth, caption);
        bool listed = p.Edits is { Count: > 0 };
        if (listed && p.Edits!.Count > _options.MaxEdits) { why = $"{p.Edits.Count} edits (more than {_options.MaxEdits})"; return null; }
        int limit = listed ? 2 * _options.MaxEdits : _options.MaxEdits;
        if (hunks.Count > limit) { why = $"{hunks.Count} changed spans (more than {limit})"; return null; }
        int total = CaptionTokens.Tokenize(groundTruth).Count;
        int changed = hunks.Sum(h => CaptionTokens.Tokenize(h.From).Count);
        if (total >= 4 && 2 * changed > total) { why = $"rewrites {changed} of the caption's {total} tokens"; return null; }
        bool visible = listed && p.Edits!.All(e => e.From.Length > 0 && e.To.Length > 0
            && groundTruth.Contains(e.From, StringComparison.OrdinalIgnoreCase) && caption.Contains(e.To, StringComparison.OrdinalIgnoreCase));
        IReadOnlyList<CaptionEdit> edits = visible ? p.Edits! : hunks.Select(h => new CaptionEdit("other", h.From, h.To)).ToList();
        return new PseudoVariant(caption, edits, PseudoVariant.Llm);
    }

    private void Record(string groundTruth, IReadOnlyList<PseudoVariant> variants)
    {
        lock (_lock)
        {
            Summary.Entries++;
            foreach (var v in variants)
            {
                Summary.Variants++;
                Summary.Sources[v.Source] = Summary.Sources.GetValueOrDefault(v.Source) + 1;
                foreach (var e in v.Edits) Summary.EditsPerKind[e.Kind] = Summary.EditsPerKind.GetValueOrDefault(e.Kind) + 1;
                if (v.Source != PseudoVariant.Model)
                    Summary.EditCountHistogram[v.Edits.Count] = Summary.EditCountHistogram.GetValueOrDefault(v.Edits.Count) + 1;
                if (v.Source == PseudoVariant.Llm) Summary.Llm!.AcceptedVariants++;
            }
            if (Summary.Llm is not null)
                Summary.Llm.FallbackVariants += variants.Count(v => v.Source == PseudoVariant.Rules);
        }
    }

    /// <summary>
    /// The paper's copy-friendly pairing (D.5) for the model's captions: each caption of an image goes to the
    /// entry of that image whose ground truth it is nearest to (fewest changed spans, then fewest changed
    /// words; the first entry on a tie), and is left out when even that pair is not a small edit — more
    /// than <paramref name="maxSpans"/> changed spans or over half the ground truth's words changed (the
    /// paper's Data2, which teaches the refiner to ignore the caption it is given). Returns, per entry,
    /// the captions it may use, and how many captions were left out.
    /// </summary>
    public static (IReadOnlyList<string>?[] PerEntry, int TooFar) AssignModelCaptions(IReadOnlyList<(string GroundTruth, string? Image, string Id)> entries,
        ModelCaptions captions, int maxSpans)
    {
        var perEntry = new List<string>?[entries.Count];
        int tooFar = 0;
        var byImage = new Dictionary<IReadOnlyList<string>, List<int>>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < entries.Count; i++)
        {
            if (captions.Find(entries[i].Image, entries[i].Id) is not { } list) continue;
            perEntry[i] = [];
            if (!byImage.TryGetValue(list, out var members)) byImage[list] = members = [];
            members.Add(i);
        }
        foreach (var (list, members) in byImage)
            foreach (var caption in list)
            {
                var best = members.Select(i => (Entry: i, Distance: Distance(entries[i].GroundTruth, caption)))
                    .MinBy(x => x.Distance);
                var (spans, changed, total) = best.Distance;
                if (spans > maxSpans || (total >= 4 && 2 * changed > total)) { tooFar++; continue; }
                perEntry[best.Entry]!.Add(caption);
            }
        return (perEntry, tooFar);

        static (int Spans, int Changed, int Total) Distance(string groundTruth, string caption)
        {
            if (SameCaption(groundTruth, caption)) return (0, 0, CaptionTokens.Tokenize(groundTruth).Count);
            var hunks = CaptionDiff.Hunks(groundTruth, caption);
            return (hunks.Count, hunks.Sum(h => Math.Max(CaptionTokens.Tokenize(h.From).Count, CaptionTokens.Tokenize(h.To).Count)),
                CaptionTokens.Tokenize(groundTruth).Count);
        }
    }

    /// <summary>Equal but for case, spacing and a final full stop: the model said exactly the ground truth.</summary>
    private static bool SameCaption(string a, string b)
    {
        static string Norm(string s) => string.Join(' ', s.Trim().TrimEnd('.', '!', ' ').ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return Norm(a) == Norm(b);
    }

    /// <summary>
    /// A per-entry seed: SplitMix64 of (seed, index). <see cref="Random(int)"/> with a seed uses the same
    /// (Knuth subtractive) generator on every .NET version, which keeps outputs reproducible.
    /// </summary>
    internal static int EntrySeed(int seed, int index)
    {
        ulong z = ((ulong)(uint)seed << 32) | (uint)index;
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }

    public void Dispose() => _chat?.Dispose();

    // ---- the file-level run: LLaVA conversation JSON in, the same with pre_captions out ----

    /// <summary>
    /// Reads the LLaVA conversation file at <paramref name="inputPath"/> (a list of
    /// <c>{"id", "image", "conversations": [{"from": "human", ...}, {"from": "gpt", "value": caption}, ...]}</c>;
    /// the ground truth is the first "gpt" turn), adds <c>"pre_captions"</c> and <c>"pre_caption_edits"</c>
    /// to every entry (replacing any earlier ones and a single <c>"pre_caption"</c>), leaves everything else
    /// as it was, and writes the result atomically to <paramref name="outputPath"/>.
    /// </summary>
    public static PseudoSummary Run(string inputPath, string outputPath, PseudoOptions options, Lexicon lexicon,
        IProgress<ProgressUpdate>? progress = null, HttpMessageHandler? llmHandler = null, CancellationToken cancel = default)
    {
        options.Validate();
        using var document = ReadDocument(inputPath);
        var entries = ReadEntries(inputPath, document);
        ModelCaptions? modelCaptions = null;
        if (options.Strategy is PseudoStrategy.Model or PseudoStrategy.Mixed)
        {
            modelCaptions = ModelCaptions.Load(options.CaptionsPath!);
            if (!entries.Any(e => modelCaptions.Find(e.Image, e.Id) is not null))
                throw GlanceException.ForFile(modelCaptions.Path, $"none of its {modelCaptions.Count} captions matches an image of {inputPath} "
                    + "(matched by image path, file name, name without extension, image number, or entry id)");
        }
        using var generator = new PseudoCaptionGenerator(options, lexicon, modelCaptions, llmHandler);
        IReadOnlyList<string>?[]? assigned = null;
        if (modelCaptions is not null)
        {
            (assigned, int tooFar) = AssignModelCaptions(entries.Select(e => (e.GroundTruth, e.Image, e.Id)).ToList(), modelCaptions, Math.Max(1, options.MaxEdits));
            generator.Summary.Model!.TooFar = tooFar;
        }
        var results = new IReadOnlyList<PseudoVariant>[entries.Count];
        long done = 0;
        progress?.Report(new ProgressUpdate(0, entries.Count));
        if (options.Strategy == PseudoStrategy.Llm)
        {
            Parallel.ForEachAsync(Enumerable.Range(0, entries.Count),
                new ParallelOptions { MaxDegreeOfParallelism = options.LlmParallelism, CancellationToken = cancel },
                async (i, ct) =>
                {
                    var e = entries[i];
                    results[i] = await generator.GenerateAsync(e.GroundTruth, i, e.Image, e.Id, ct).ConfigureAwait(false);
                    progress?.Report(new ProgressUpdate(Interlocked.Increment(ref done), entries.Count));
                }).GetAwaiter().GetResult();
        }
        else
        {
            for (int i = 0; i < entries.Count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                var e = entries[i];
                results[i] = generator.GenerateAsync(e.GroundTruth, i, e.Image, e.Id, cancel, assigned?[i]).GetAwaiter().GetResult();
                progress?.Report(new ProgressUpdate(++done, entries.Count));
            }
        }

        var summary = generator.Summary;
        // A caption with edits in any variant is editable; only the rest need a look.
        summary.UneditableCaptions = Enumerable.Range(0, entries.Count)
            .Count(i => results[i].All(v => v.Edits.Count == 0) && generator.Editor.Sites(entries[i].GroundTruth).Count == 0);
        summary.Output = outputPath;

        // Each entry is copied property by property from the read-only document, then the two new lists
        // are appended: no DOM is built, and the ground truth is written back exactly as read.
        AtomicFile.Write(outputPath, stream =>
        {
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            writer.WriteStartArray();
            for (int i = 0; i < entries.Count; i++)
            {
                writer.WriteStartObject();
                foreach (var property in entries[i].Element.EnumerateObject())
                    if (property.Name is not ("pre_caption" or "pre_captions" or "pre_caption_edits")) property.WriteTo(writer);
                writer.WriteStartArray("pre_captions");
                foreach (var v in results[i]) writer.WriteStringValue(v.Caption);
                writer.WriteEndArray();
                writer.WriteStartArray("pre_caption_edits");
                foreach (var v in results[i])
                {
                    writer.WriteStartArray();
                    foreach (var e in v.Edits)
                    {
                        writer.WriteStartObject();
                        writer.WriteString("kind", e.Kind);
                        writer.WriteString("from", e.From);
                        writer.WriteString("to", e.To);
                        writer.WriteEndObject();
                    }
                    writer.WriteEndArray();
                }
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        });
        return summary;
    }

    internal sealed record Entry(JsonElement Element, string Id, string? Image, string GroundTruth);

    internal static JsonDocument ReadDocument(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw GlanceException.ForFile(path, "input file not found");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw GlanceException.ForFile(path, e.Message); }
        catch (JsonException e) { throw GlanceException.ForFile(path, $"not valid JSON ({e.Message})"); }
    }

    /// <summary>The entries of a LLaVA conversation file, each with its ground truth (the first "gpt" turn).</summary>
    internal static List<Entry> ReadEntries(string path, JsonDocument document)
    {
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Array)
            throw GlanceException.ForFile(path, "expected a JSON list of LLaVA conversation entries ({\"id\", \"image\", \"conversations\"})");

        var entries = new List<Entry>(root.GetArrayLength());
        int i = 0;
        foreach (var obj in root.EnumerateArray())
        {
            if (obj.ValueKind != JsonValueKind.Object) throw GlanceException.ForFile(path, $"entry {i} is not an object");
            string id = obj.TryGetProperty("id", out var idElement)
                ? idElement.ValueKind == JsonValueKind.String ? idElement.GetString()! : idElement.GetRawText()
                : $"#{i}";
            string? image = obj.TryGetProperty("image", out var img) && img.ValueKind == JsonValueKind.String ? img.GetString() : null;
            if (!obj.TryGetProperty("conversations", out var turns) || turns.ValueKind != JsonValueKind.Array)
                throw GlanceException.ForFile(path, $"entry '{id}' has no \"conversations\" list");
            string? gt = null;
            foreach (var turn in turns.EnumerateArray())
            {
                if (turn.ValueKind == JsonValueKind.Object && turn.TryGetProperty("from", out var from) && from.ValueKind == JsonValueKind.String && from.GetString() == "gpt")
                {
                    if (turn.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString())) gt = value.GetString();
                    else throw GlanceException.ForFile(path, $"entry '{id}': its first \"gpt\" turn has no caption text");
                    break;
                }
            }
            if (gt is null) throw GlanceException.ForFile(path, $"entry '{id}' has no \"gpt\" turn (the ground-truth caption)");
            entries.Add(new Entry(obj, id, image, gt));
            i++;
        }
        return entries;
    }
}
