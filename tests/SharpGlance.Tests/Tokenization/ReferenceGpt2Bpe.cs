using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SharpGlance.Tests.Tokenization;

/// <summary>
/// A deliberately plain, independent re-statement of HF's slow GPT2Tokenizer (tokenization_gpt2.py) for
/// OPT, used to derive expected ids: split out the special tokens with a regex, pre-tokenise with GPT-2's
/// regex, map UTF-8 bytes through bytes_to_unicode, then the textbook BPE loop (merge every occurrence of
/// the lowest-ranked adjacent pair until none is in merges.txt). It shares no code with OptTokenizer
/// (which runs Microsoft.ML.Tokenizers' priority-queue BPE behind a hand-written scanner).
/// </summary>
internal sealed class ReferenceGpt2Bpe
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private static readonly Regex Gpt2Regex = new(Gpt2Pattern);
    private static readonly Regex SpecialRegex = new("(</s>|<pad>)");

    private readonly Dictionary<string, int> _encoder;
    private readonly Dictionary<(string, string), int> _ranks = new();
    private readonly Dictionary<byte, char> _byteEncoder = BytesToUnicode();
    private readonly Dictionary<string, string[]> _cache = new();

    public ReferenceGpt2Bpe(string folder)
    {
        _encoder = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(folder, "vocab.json")))!;
        // As HF: merges_handle.read().split("\n")[1:-1]
        var lines = File.ReadAllText(Path.Combine(folder, "merges.txt"), Encoding.UTF8).Split('\n');
        for (int i = 1; i < lines.Length - 1; i++)
        {
            var parts = lines[i].Split(' ');
            _ranks[(parts[0], parts[1])] = i - 1;
        }
    }

    /// <summary>GPT-2's bytes_to_unicode, transcribed.</summary>
    private static Dictionary<byte, char> BytesToUnicode()
    {
        var bs = new List<int>();
        for (int b = '!'; b <= '~'; b++) bs.Add(b);
        for (int b = '¡'; b <= '¬'; b++) bs.Add(b);
        for (int b = '®'; b <= 'ÿ'; b++) bs.Add(b);
        var cs = new List<int>(bs);
        int n = 0;
        for (int b = 0; b < 256; b++)
            if (!bs.Contains(b)) { bs.Add(b); cs.Add(256 + n); n++; }
        return bs.Zip(cs).ToDictionary(p => (byte)p.First, p => (char)p.Second);
    }

    public List<int> Encode(string text, bool addBos = true)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(2);
        foreach (var chunk in SpecialRegex.Split(text))
        {
            if (chunk.Length == 0) continue;
            if (chunk is "</s>" or "<pad>") { ids.Add(_encoder[chunk]); continue; }
            foreach (var word in PreTokenize(chunk))
            {
                var mapped = string.Concat(Encoding.UTF8.GetBytes(word).Select(b => _byteEncoder[b]));
                foreach (var piece in Bpe(mapped)) ids.Add(_encoder[piece]);
            }
        }
        return ids;
    }

    /// <summary>
    /// The GPT-2 regex, run so that it sees code points as Python does: every character outside the BMP
    /// is replaced by a BMP stand-in of its class before matching ('a' letter, '0' digit, '~' other), and
    /// the matches are mapped back onto the original text.
    /// </summary>
    public static List<string> PreTokenize(string text)
    {
        var runes = text.EnumerateRunes().ToList();
        var standIn = new StringBuilder();
        foreach (var r in runes)
        {
            if (r.IsBmp) { standIn.Append((char)r.Value); continue; }
            var cat = Rune.GetUnicodeCategory(r);
            standIn.Append(cat switch
            {
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                    or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => 'a',
                UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => '0',
                _ => '~',
            });
        }
        var result = new List<string>();
        foreach (Match m in Gpt2Regex.Matches(standIn.ToString()))
            result.Add(string.Concat(runes.Skip(m.Index).Take(m.Length).Select(r => r.ToString())));
        return result;
    }

    /// <summary>tokenization_gpt2.py's bpe(), transcribed.</summary>
    public string[] Bpe(string token)
    {
        if (_cache.TryGetValue(token, out var cached)) return cached;
        var word = token.Select(c => c.ToString()).ToList();
        while (word.Count > 1)
        {
            (string, string)? best = null;
            int bestRank = int.MaxValue;
            for (int i = 0; i + 1 < word.Count; i++)
                if (_ranks.TryGetValue((word[i], word[i + 1]), out int r) && r < bestRank) { bestRank = r; best = (word[i], word[i + 1]); }
            if (best is null) break;
            var (first, second) = best.Value;
            var merged = new List<string>();
            int k = 0;
            while (k < word.Count)
            {
                int j = word.IndexOf(first, k);
                if (j < 0) { merged.AddRange(word.Skip(k)); break; }
                merged.AddRange(word.Skip(k).Take(j - k));
                k = j;
                if (word[k] == first && k < word.Count - 1 && word[k + 1] == second) { merged.Add(first + second); k += 2; }
                else { merged.Add(word[k]); k += 1; }
            }
            word = merged;
        }
        var result = word.ToArray();
        _cache[token] = result;
        return result;
    }
}
