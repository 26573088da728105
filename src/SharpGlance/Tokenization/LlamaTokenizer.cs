using System.Text;
using System.Text.Json.Nodes;
using SharpGlance.IO;
using SpTokenizer = Microsoft.ML.Tokenizers.SentencePieceTokenizer;

namespace SharpGlance.Tokenization;

/// <summary>
/// The Llama tokenizer as transformers 4.36's slow <c>LlamaTokenizer</c> runs it: SentencePiece BPE with
/// byte fallback (<c>tokenizer.model</c>, through Microsoft.ML.Tokenizers), the added tokens of
/// <c>tokenizer_config.json</c> / <c>added_tokens.json</c> (<c>&lt;image&gt;</c>, <c>&lt;pad&gt;</c>, …) cut out
/// of the text before SentencePiece sees it, BOS prepended. Our code around the library reproduces HF's
/// wrapping, where exact parity needs it: with <c>legacy: false</c> (LLaVA-1.5's) the text gets one "▁"
/// in front, each piece between added tokens is encoded without SentencePiece's dummy prefix, and a "▁"
/// standing alone before a leading special token is dropped; decoding strips that first "▁" again.
/// </summary>
public sealed class LlamaTokenizer
{
    private const char Space = '\u2581';   // SentencePiece's "▁"

    private readonly SpTokenizer _sp;
    private readonly string[] _pieces;                           // id → piece, SentencePiece ids and added tokens
    private readonly Dictionary<string, int> _added;             // added token content → id
    private readonly HashSet<int> _specialIds;
    private readonly string[] _addedByLength;                    // longest first, for splitting

    public int BosId { get; }
    public int EosId { get; }
    public int UnkId { get; }
    public int? PadId { get; }
    /// <summary>SentencePiece pieces plus added tokens: one past the largest id.</summary>
    public int VocabSize => _pieces.Length;
    public bool AddBos { get; }
    public bool Legacy { get; }
    public string? Folder { get; }

    private LlamaTokenizer(SpTokenizer sp, Dictionary<string, int> added, HashSet<int> specialIds, int? pad, bool addBos, bool legacy, string? folder)
    {
        _sp = sp; _added = added; _specialIds = specialIds;
        PadId = pad; AddBos = addBos; Legacy = legacy; Folder = folder;
        BosId = sp.BeginningOfSentenceId; EosId = sp.EndOfSentenceId; UnkId = sp.UnknownId;
        int size = Math.Max(sp.Vocabulary.Values.DefaultIfEmpty(-1).Max(), added.Values.DefaultIfEmpty(-1).Max()) + 1;
        _pieces = new string[size];
        foreach (var (piece, id) in sp.Vocabulary) _pieces[id] = piece;
        foreach (var (content, id) in added) _pieces[id] = content;
        _addedByLength = added.Keys.OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal).ToArray();
    }

    /// <summary>True when <paramref name="dir"/> holds a SentencePiece <c>tokenizer.model</c>.</summary>
    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, "tokenizer.model"));

    /// <summary>
    /// Reads <c>tokenizer.model</c>, and the added tokens and flags of <c>tokenizer_config.json</c>
    /// (<c>added_tokens_decoder</c>, <c>add_bos_token</c>, <c>legacy</c>), <c>added_tokens.json</c> and
    /// <c>special_tokens_map.json</c> where present.
    /// </summary>
    public static LlamaTokenizer FromFolder(string dir)
    {
        var modelPath = Path.Combine(dir, "tokenizer.model");
        if (!File.Exists(modelPath)) throw GlanceException.ForFile(modelPath, "file not found (the Llama tokenizer needs SentencePiece's tokenizer.model)");
        SpTokenizer sp;
        try
        {
            using var stream = File.OpenRead(modelPath);
            sp = Microsoft.ML.Tokenizers.LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not GlanceException)
        {
            throw GlanceException.ForFile(modelPath, $"not a SentencePiece BPE model: {e.Message}");
        }

        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var special = new HashSet<int> { sp.BeginningOfSentenceId, sp.EndOfSentenceId, sp.UnknownId };
        bool addBos = true, legacy = true;
        string? padToken = null;
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            var config = ConfigJson.ReadObject(configPath);
            if (config["added_tokens_decoder"] is JsonObject decoder)
                foreach (var (key, value) in decoder)
                {
                    if (!int.TryParse(key, out int id) || value?["content"]?.GetValue<string>() is not { } content)
                        throw GlanceException.ForFile(configPath, $"added_tokens_decoder entry '{key}' is not an id with a content");
                    added[content] = id;
                    if (value["special"]?.GetValue<bool>() ?? false) special.Add(id);
                }
            addBos = config["add_bos_token"]?.GetValue<bool>() ?? true;
            // transformers 4.36: legacy absent (None) behaves as True.
            legacy = config["legacy"]?.GetValue<bool>() ?? true;
            padToken = TokenContent(config["pad_token"]);
            foreach (var extra in config["additional_special_tokens"] as JsonArray ?? [])
                if (TokenContent(extra) is { } t && added.TryGetValue(t, out int id)) special.Add(id);
        }
        var addedPath = Path.Combine(dir, "added_tokens.json");
        if (File.Exists(addedPath))
            foreach (var (content, value) in ConfigJson.ReadObject(addedPath))
                added.TryAdd(content, value?.GetValue<int>() ?? throw GlanceException.ForFile(addedPath, $"'{content}' has no id"));
        var mapPath = Path.Combine(dir, "special_tokens_map.json");
        if (File.Exists(mapPath))
        {
            var map = ConfigJson.ReadObject(mapPath);
            padToken ??= TokenContent(map["pad_token"]);
            foreach (var (name, value) in map)
                foreach (var node in value is JsonArray arr ? arr.ToArray() : [value])
                    if (TokenContent(node) is { } t && (added.TryGetValue(t, out int id) || sp.Vocabulary.TryGetValue(t, out id))) special.Add(id);
        }
        int? pad = padToken is null ? null
            : added.TryGetValue(padToken, out int p) || sp.Vocabulary.TryGetValue(padToken, out p) ? p : null;
        // SentencePiece's control pieces (<unk>, <s>, </s>) are added tokens too: cut out of the text, not spelled.
        foreach (var id in new[] { sp.UnknownId, sp.BeginningOfSentenceId, sp.EndOfSentenceId })
            if (sp.Vocabulary.FirstOrDefault(kv => kv.Value == id).Key is { } piece) added.TryAdd(piece, id);
        return new LlamaTokenizer(sp, added, special, pad, addBos, legacy, dir);
    }

    private static string? TokenContent(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonObject o => o["content"]?.GetValue<string>(),
        _ => null,
    };

    public bool IsSpecial(int id) => _specialIds.Contains(id);

    /// <summary>The id of an added token (e.g. <c>&lt;image&gt;</c>), or null.</summary>
    public int? AddedTokenId(string content) => _added.TryGetValue(content, out int id) ? id : null;

    public string IdToPiece(int id) => id >= 0 && id < _pieces.Length && _pieces[id] is { } p ? p
        : throw new GlanceException($"token id {id} is outside the tokenizer's {_pieces.Length} entries");

    /// <summary>Token ids of <paramref name="text"/>, BOS first when <paramref name="addBos"/> (default: add_bos_token).</summary>
    public int[] Encode(string text, bool? addBos = null)
    {
        var ids = new List<int>();
        if (addBos ?? AddBos) ids.Add(BosId);
        if (text.Length == 0) return ids.ToArray();
        // legacy=False: one "▁" before the text (and any "▁" in it read as a space), then the pieces.
        if (!Legacy) text = Space + text.Replace(Space, ' ');
        var chunks = Split(text);
        // A lone "▁" before a leading special token is dropped (HF: tokens[0] == "▁" and tokens[1] special).
        if (!Legacy && chunks.Count > 1 && chunks[0] is { Added: false, Text: var first } && first == Space.ToString()
            && chunks[1].Added && _specialIds.Contains(_added[chunks[1].Text]))
            chunks.RemoveAt(0);
        foreach (var (chunk, isAdded) in chunks)
        {
            if (isAdded) ids.Add(_added[chunk]);
            else ids.AddRange(EncodePiece(chunk));
        }
        return ids.ToArray();
    }

    /// <summary>
    /// SentencePiece on text between added tokens. legacy=False: no dummy prefix and leading spaces kept
    /// (HF's "&lt;unk&gt;" trick amounts to that), spaces spelled "▁" (Llama's normalizer is the identity).
    /// legacy=True: SentencePiece's own normalization, dummy prefix on every piece.
    /// </summary>
    private IReadOnlyList<int> EncodePiece(string text)
    {
        if (Legacy) return _sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        return _sp.EncodeToIds(text.Replace(' ', Space), addBeginningOfSentence: false, addEndOfSentence: false,
            considerPreTokenization: false, considerNormalization: false);
    }

    /// <summary>Cuts the added tokens (longest match first, as HF's trie) out of <paramref name="text"/>.</summary>
    private List<(string Text, bool Added)> Split(string text)
    {
        var result = new List<(string, bool)>();
        int start = 0, i = 0;
        while (i < text.Length)
        {
            string? match = null;
            foreach (var token in _addedByLength)
                if (string.CompareOrdinal(text, i, token, 0, token.Length) == 0) { match = token; break; }
            if (match is null) { i++; continue; }
            if (i > start) result.Add((text[start..i], false));
            result.Add((match, true));
            i += match.Length;
            start = i;
        }
        if (start < text.Length) result.Add((text[start..], false));
        return result;
    }

    /// <summary>
    /// Text of <paramref name="ids"/> as HF's slow decode gives it: special tokens skipped (when asked),
    /// byte pieces joined and read as UTF-8, "▁" as a space, the first piece's leading "▁" removed (the
    /// one encoding put there), no clean-up of tokenization spaces (LLaVA's tokenizers turn it off).
    /// </summary>
    public string Decode(IEnumerable<long> ids, bool skipSpecialTokens = true)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        bool first = true;
        void Flush()
        {
            if (bytes.Count == 0) return;
            text.Append(Encoding.UTF8.GetString(bytes.ToArray()));
            bytes.Clear();
        }
        foreach (long raw in ids)
        {
            int id = checked((int)raw);
            if (skipSpecialTokens && _specialIds.Contains(id)) continue;
            string piece = IdToPiece(id);
            bool isAdded = _added.TryGetValue(piece, out int addedId) && addedId == id;
            if (first && !isAdded && piece.Length > 0 && piece[0] == Space) piece = piece[1..];
            first = false;
            if (!isAdded && ByteOf(piece) is { } b) { bytes.Add(b); continue; }
            Flush();
            text.Append(isAdded ? piece : piece.Replace(Space, ' '));
        }
        Flush();
        return text.ToString();
    }

    /// <summary>The byte of a byte-fallback piece "&lt;0xAB&gt;", else null.</summary>
    private static byte? ByteOf(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
        && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b) ? b : null;
}
