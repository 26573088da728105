using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace SharpGlance.Tokenization;

/// <summary>
/// The tokenizer of facebook/opt-*: GPT-2 byte-level BPE with RoBERTa/fairseq ids (<c>&lt;s&gt;</c>=0,
/// <c>&lt;pad&gt;</c>=1, <c>&lt;/s&gt;</c>=2, <c>&lt;unk&gt;</c>=3), loaded from <c>vocab.json</c> + <c>merges.txt</c>.
/// Encodes and decodes as HF's GPT2Tokenizer / GPT2TokenizerFast do for OPT (SPEC §6):
/// <list type="bullet">
/// <item>no prefix space; <c>&lt;/s&gt;</c> (id 2) is prepended as BOS unless asked not to;</item>
/// <item>only <c>&lt;/s&gt;</c> and <c>&lt;pad&gt;</c> are special: written in text they come out as their ids
/// (a space before them stays a <c>Ġ</c> token, 1437); <c>&lt;s&gt;</c> and <c>&lt;unk&gt;</c> in text are plain text;</item>
/// <item>decoding skips special tokens and applies HF's <c>clean_up_tokenization</c>; ids outside the
/// vocabulary (the embedding's spare rows 50265..50271, negative ids) are skipped.</item>
/// </list>
/// The BPE itself is Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with <c>ByteLevel = true</c>;
/// only the pre-tokenizer (<see cref="Gpt2PreTokenizer"/>) and the clean-up are ours. One instance may be
/// shared between threads (the BPE word cache is locked).
/// </summary>
public sealed class OptTokenizer
{
    /// <summary>Where <c>&lt;image&gt;</c> stood in a prompt (LLaVA's IMAGE_TOKEN_INDEX): never a vocabulary id.</summary>
    public const int ImageTokenId = -200;

    /// <summary>The placeholder text for the image in a prompt (SPEC §6/§7).</summary>
    public const string ImagePlaceholder = "<image>";

    public const string BosToken = "</s>";
    public const string EosToken = "</s>";
    public const string PadToken = "<pad>";

    private readonly BpeTokenizer _bpe;
    private readonly string[] _idToToken;
    private readonly HashSet<int> _specialIds;

    /// <summary>Number of vocabulary entries (50265 for OPT); the model's embedding may have more rows.</summary>
    public int VocabSize => _idToToken.Length;

    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    /// <summary>OPT's config maps unk to <c>&lt;/s&gt;</c>; byte-level BPE never produces an unknown token.</summary>
    public int UnkId { get; }

    /// <summary>The folder the tokenizer was read from, or null.</summary>
    public string? Folder { get; }

    private OptTokenizer(string? folder, BpeTokenizer bpe, string[] idToToken, int bos, int pad)
    {
        Folder = folder;
        _bpe = bpe;
        _idToToken = idToToken;
        BosId = EosId = UnkId = bos;
        PadId = pad;
        _specialIds = [bos, pad];
    }

    /// <summary>True when <paramref name="dir"/> holds the two tokenizer files.</summary>
    public static bool Exists(string dir) =>
        File.Exists(Path.Combine(dir, "vocab.json")) && File.Exists(Path.Combine(dir, "merges.txt"));

    /// <summary>Writes this tokenizer's <c>vocab.json</c> and <c>merges.txt</c> into a model folder (atomically; nothing when it is their own folder).</summary>
    public void CopyFilesTo(string folder)
    {
        var source = Folder ?? throw new GlanceException("the tokenizer was not read from a folder; cannot copy vocab.json and merges.txt");
        foreach (var name in new[] { "vocab.json", "merges.txt" })
        {
            var from = Path.GetFullPath(Path.Combine(source, name));
            var to = Path.GetFullPath(Path.Combine(folder, name));
            if (from != to) AtomicFile.Write(to, s => { using var f = File.OpenRead(from); f.CopyTo(s); });
        }
    }

    /// <summary>Reads <c>vocab.json</c> and <c>merges.txt</c> from a model (or tokenizer) folder.</summary>
    /// <exception cref="GlanceException">A file is missing or corrupt; the message names it.</exception>
    public static OptTokenizer FromFolder(string dir)
    {
        if (!Directory.Exists(dir)) throw GlanceException.ForFile(dir, "tokenizer folder not found");
        string vocabPath = Path.Combine(dir, "vocab.json"), mergesPath = Path.Combine(dir, "merges.txt");
        if (!File.Exists(vocabPath)) throw GlanceException.ForFile(vocabPath, "file not found (the tokenizer needs vocab.json and merges.txt)");
        if (!File.Exists(mergesPath)) throw GlanceException.ForFile(mergesPath, "file not found (the tokenizer needs vocab.json and merges.txt)");
        return FromFiles(vocabPath, mergesPath, dir);
    }

    /// <summary>Builds the tokenizer from a vocabulary file and a merges file.</summary>
    public static OptTokenizer FromFiles(string vocabPath, string mergesPath, string? folder = null)
    {
        var vocab = ReadVocabulary(vocabPath);
        var merges = ReadMerges(mergesPath);

        var idToToken = new string[vocab.Count];
        foreach (var (token, id) in vocab)
        {
            if (id < 0 || id >= vocab.Count)
                throw GlanceException.ForFile(vocabPath, $"corrupt vocabulary: id {id} of '{token}' is outside 0..{vocab.Count - 1} (ids must be dense)");
            if (idToToken[id] is not null)
                throw GlanceException.ForFile(vocabPath, $"corrupt vocabulary: id {id} is given to both '{idToToken[id]}' and '{token}'");
            idToToken[id] = token;
        }
        // Byte-level BPE starts from one symbol per byte; without all 256 a character would be dropped silently.
        foreach (char c in ByteLevelAlphabet())
            if (!vocab.ContainsKey(c.ToString()))
                throw GlanceException.ForFile(vocabPath, $"not a byte-level BPE vocabulary: the byte symbol '{c}' (U+{(int)c:X4}) is missing");
        if (!vocab.TryGetValue(BosToken, out int bos)) throw GlanceException.ForFile(vocabPath, $"not an OPT vocabulary: '{BosToken}' is missing");
        if (!vocab.TryGetValue(PadToken, out int pad)) throw GlanceException.ForFile(vocabPath, $"not an OPT vocabulary: '{PadToken}' is missing");

        var special = new Dictionary<string, int> { [BosToken] = bos, [PadToken] = pad };
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = new Gpt2PreTokenizer(special.Keys),
                SpecialTokens = special,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // BpeTokenizer checks every merge against the vocabulary (and rejects duplicates).
            throw GlanceException.ForFile(mergesPath, $"does not match {Path.GetFileName(vocabPath)}: {e.Message}");
        }
        return new OptTokenizer(folder, bpe, idToToken, bos, pad);
    }

    private static Dictionary<string, int> ReadVocabulary(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
                ?? throw new JsonException("the file holds null, not an object");
            if (vocab.Count == 0) throw GlanceException.ForFile(path, "empty vocabulary");
            return vocab;
        }
        catch (JsonException e)
        {
            throw GlanceException.ForFile(path, $"not a vocabulary (a JSON object of token → id): {e.Message}");
        }
        catch (IOException e)
        {
            throw GlanceException.ForFile(path, $"cannot read: {e.Message}");
        }
    }

    private static List<string> ReadMerges(string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path, Encoding.UTF8); }
        catch (IOException e) { throw GlanceException.ForFile(path, $"cannot read: {e.Message}"); }
        var merges = new List<string>(lines.Length);
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n];
            // HF skips the "#version" header and empty lines (the one after the final newline).
            if (line.Length == 0 || (n == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            int space = line.IndexOf(' ');
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                throw GlanceException.ForFile(path, $"corrupt merges file: line {n + 1} is not two symbols separated by one space: '{Truncate(line)}'");
            merges.Add(line);
        }
        if (merges.Count == 0) throw GlanceException.ForFile(path, "no merges (an empty or truncated merges.txt)");
        return merges;
    }

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";

    /// <summary>GPT-2's bytes_to_unicode alphabet: the 256 characters standing for the 256 byte values.</summary>
    internal static IEnumerable<char> ByteLevelAlphabet()
    {
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            yield return printable ? (char)b : (char)(256 + extra++);
        }
    }

    // ───────────────────────── encode ─────────────────────────

    /// <summary>Token ids of <paramref name="text"/>, with the BOS <c>&lt;/s&gt;</c> first unless <paramref name="addBos"/> is false.</summary>
    public int[] Encode(string text, bool addBos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = _bpe.EncodeToIds(text, considerPreTokenization: true, considerNormalization: false);
        if (!addBos) return [.. ids];
        var result = new int[ids.Count + 1];
        result[0] = BosId;
        for (int i = 0; i < ids.Count; i++) result[i + 1] = ids[i];
        return result;
    }

    /// <summary>
    /// Ids of a prompt holding <c>&lt;image&gt;</c> placeholders, each replaced by <see cref="ImageTokenId"/>,
    /// as LLaVA's <c>tokenizer_image_token</c> (llava/mm_utils.py) does: the text is split on the
    /// placeholder and each chunk is encoded on its own, so no BPE merge or whitespace rule crosses the
    /// image (a chunk ending in a space keeps it as a <c>Ġ</c> token); the BOS comes once, at the start.
    /// </summary>
    public int[] EncodeWithImage(string prompt, bool addBos = true)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var ids = new List<int>();
        if (addBos) ids.Add(BosId);
        var chunks = prompt.Split(ImagePlaceholder);
        for (int c = 0; c < chunks.Length; c++)
        {
            if (c > 0) ids.Add(ImageTokenId);
            ids.AddRange(Encode(chunks[c], addBos: false));
        }
        return [.. ids];
    }

    /// <summary>The byte-level token strings of <paramref name="text"/> (e.g. "ĠHello"), as HF's <c>tokenize</c>; for debugging.</summary>
    public IReadOnlyList<string> ToTokens(string text, bool addBos = false) => ToTokens(Encode(text, addBos));

    /// <summary>The vocabulary string of each id ("&lt;image&gt;" for <see cref="ImageTokenId"/>, "&lt;id?&gt;" outside the vocabulary).</summary>
    public IReadOnlyList<string> ToTokens(IEnumerable<int> ids) => ids.Select(IdToToken).ToList();

    public string IdToToken(int id) =>
        id == ImageTokenId ? ImagePlaceholder : (uint)id < (uint)_idToToken.Length ? _idToToken[id] : $"<{id}?>";

    /// <summary>The id of a vocabulary string, or null.</summary>
    public int? TokenToId(string token) => _bpe.Vocabulary.TryGetValue(token, out int id) ? id : null;

    public bool IsSpecial(int id) => _specialIds.Contains(id);

    // ───────────────────────── decode ─────────────────────────

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true, bool cleanUpTokenizationSpaces = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        // Ids outside the vocabulary have no text: the model's spare embedding rows (50265..50271) and the
        // image placeholder are skipped rather than thrown on, so decoding never fails mid-generation.
        var known = ids.Where(id => (uint)id < (uint)_idToToken.Length);
        string text = _bpe.Decode(known, considerSpecialTokens: !skipSpecialTokens);
        return cleanUpTokenizationSpaces ? CleanUpTokenization(text) : text;
    }

    public string Decode(ReadOnlySpan<long> ids, bool skipSpecialTokens = true, bool cleanUpTokenizationSpaces = true)
    {
        var list = new List<int>(ids.Length);
        foreach (long id in ids) list.Add(id is >= 0 and < int.MaxValue ? (int)id : -1);
        return Decode(list, skipSpecialTokens, cleanUpTokenizationSpaces);
    }

    /// <summary>HF's <c>clean_up_tokenization</c> (on by default for GPT-2/OPT): the replacements of SPEC §6, in order.</summary>
    public static string CleanUpTokenization(string text) => text
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",")
        .Replace(" ' ", "'").Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s")
        .Replace(" 've", "'ve").Replace(" 're", "'re");
}
