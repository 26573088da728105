using System.Text.Json.Serialization;

namespace SharpGlance.Data.Pseudo;

/// <summary>What a pseudo-caption run made: sources, edits per kind, how many edits the variants got.</summary>
public sealed class PseudoSummary
{
    [JsonPropertyName("entries")] public int Entries { get; set; }
    [JsonPropertyName("variants")] public int Variants { get; set; }
    [JsonPropertyName("strategy")] public string Strategy { get; set; } = "rules";
    [JsonPropertyName("seed")] public int Seed { get; set; }
    [JsonPropertyName("variants_per_caption")] public int VariantsPerCaption { get; set; }
    [JsonPropertyName("max_edits")] public int MaxEdits { get; set; }
    [JsonPropertyName("include_gt")] public bool IncludeGroundTruth { get; set; }
    [JsonPropertyName("lexicon")] public IReadOnlyList<string> Lexicon { get; set; } = [];
    [JsonPropertyName("output")] public string? Output { get; set; }

    /// <summary>Variants by source: rules, model, llm, gt.</summary>
    [JsonPropertyName("sources")] public SortedDictionary<string, int> Sources { get; } = new(StringComparer.Ordinal);

    /// <summary>Edits by kind over all variants ("model" counts the changed spans of model captions).</summary>
    [JsonPropertyName("edits_per_kind")] public SortedDictionary<string, int> EditsPerKind { get; } = new(StringComparer.Ordinal);

    /// <summary>Variants by their number of edits (model captions left out: their spans are not edits).</summary>
    [JsonPropertyName("edit_count_histogram")] public SortedDictionary<int, int> EditCountHistogram { get; } = new();

    /// <summary>Ground-truth captions in which the lexicon finds nothing to edit (their rule variants equal them).</summary>
    [JsonPropertyName("uneditable_captions")] public int UneditableCaptions { get; set; }

    [JsonPropertyName("model")] public ModelStats? Model { get; set; }
    [JsonPropertyName("llm")] public LlmStats? Llm { get; set; }

    public sealed class ModelStats
    {
        [JsonPropertyName("captions_file")] public string CaptionsFile { get; set; } = "";
        [JsonPropertyName("captions")] public int Captions { get; set; }
        [JsonPropertyName("entries_matched")] public int EntriesMatched { get; set; }
        [JsonPropertyName("entries_missing")] public int EntriesMissing { get; set; }
        /// <summary>Model captions equal to the ground truth, kept as "keep it" examples.</summary>
        [JsonPropertyName("equal_to_gt")] public int EqualToGroundTruth { get; set; }
        /// <summary>Model captions left out because even their nearest ground truth is not a small edit away.</summary>
        [JsonPropertyName("too_far")] public int TooFar { get; set; }
    }

    public sealed class LlmStats
    {
        public const int MaxErrors = 20;

        [JsonPropertyName("url")] public string Url { get; set; } = "";
        [JsonPropertyName("model")] public string Model { get; set; } = "";
        [JsonPropertyName("requests")] public int Requests { get; set; }
        /// <summary>Requests that gave no usable reply (HTTP errors, timeouts, malformed JSON).</summary>
        [JsonPropertyName("failed_requests")] public int FailedRequests { get; set; }
        [JsonPropertyName("accepted_variants")] public int AcceptedVariants { get; set; }
        [JsonPropertyName("rejected_variants")] public int RejectedVariants { get; set; }
        /// <summary>Variants the rules made because the model failed, refused or fell short.</summary>
        [JsonPropertyName("fallback_variants")] public int FallbackVariants { get; set; }
        /// <summary>The first <see cref="MaxErrors"/> problems, each naming its entry.</summary>
        [JsonPropertyName("errors")] public List<string> Errors { get; } = [];

        internal void NoteError(string error)
        {
            if (Errors.Count < MaxErrors) Errors.Add(error);
        }
    }
}
