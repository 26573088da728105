using System.Globalization;

namespace SharpGlance.Data;

/// <summary>
/// The English morphology that the synthetic world's caption writer and the pseudo-caption editor share:
/// regular plurals, third-person and -ing verb forms, "a"/"an", number words and case copying. Both work
/// over closed vocabularies whose irregular noun forms they supply themselves (the world's curated list,
/// <see cref="Pseudo.Lexicon.Plural"/>), and the verb forms need the same few rules, so a general
/// pluraliser package would add a dependency without removing this file.
/// </summary>
public static class Inflection
{
    private static readonly string[] NumberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];

    // Words with a vowel letter but a consonant sound ("a unicorn", "a one-way street") and the reverse ("an hour").
    private static readonly string[] ConsonantSoundPrefixes = ["uni", "use", "usu", "ufo", "uk", "eu", "one", "once", "ewe", "ubiq", "uran", "uten"];
    private static readonly string[] VowelSoundPrefixes = ["hour", "honest", "honour", "honor", "heir"];

    /// <summary>Regular plural of one word: bus → buses, baby → babies, cat → cats.</summary>
    public static string RegularPlural(string word)
    {
        if (word.Length == 0) return word;
        if (EndsWithAny(word, "s", "x", "z", "ch", "sh")) return word + "es";
        if (word.Length >= 2 && word[^1] == 'y' && !IsVowel(word[^2])) return word[..^1] + "ies";
        return word + "s";
    }

    /// <summary>Third person singular present: sit → sits, carry → carries, wash → washes, have → has.</summary>
    public static string ThirdPerson(string verb) => verb switch
    {
        "be" => "is",
        "have" => "has",
        "do" => "does",
        "go" => "goes",
        _ when EndsWithAny(verb, "s", "x", "z", "ch", "sh", "o") => verb + "es",
        _ when verb.Length >= 2 && verb[^1] == 'y' && !IsVowel(verb[^2]) => verb[..^1] + "ies",
        _ => verb + "s",
    };

    /// <summary>Present participle: sit → sitting, lie → lying, ride → riding, ski → skiing, see → seeing.</summary>
    public static string Ing(string verb)
    {
        if (verb == "be") return "being";
        if (verb.EndsWith("ie", StringComparison.Ordinal)) return verb[..^2] + "ying";
        if (verb.Length > 2 && verb[^1] == 'e' && verb[^2] is not ('e' or 'y' or 'o')) return verb[..^1] + "ing";
        // One-syllable consonant-vowel-consonant verbs double the last consonant (sit, run, swim, grab);
        // longer verbs are stressed elsewhere in our vocabulary (visit, open), so they do not.
        if (verb.Length >= 3 && VowelGroups(verb) == 1 && !IsVowel(verb[^1]) && verb[^1] is not ('w' or 'x' or 'y')
            && IsVowel(verb[^2]) && !IsVowel(verb[^3]))
            return verb + verb[^1] + "ing";
        return verb + "ing";
    }

    /// <summary>"a" or "an" for the word that follows the article.</summary>
    public static string Article(string nextWord)
    {
        var w = nextWord.ToLowerInvariant();
        if (w.Length == 0) return "a";
        if (char.IsDigit(w[0]))
            // "an 8", "an 80", "an 11", "an 18": said with a vowel sound.
            return w[0] == '8' || w is "11" or "18" ? "an" : "a";
        foreach (var p in VowelSoundPrefixes) if (w.StartsWith(p, StringComparison.Ordinal)) return "an";
        foreach (var p in ConsonantSoundPrefixes) if (w.StartsWith(p, StringComparison.Ordinal)) return "a";
        return IsVowel(w[0]) ? "an" : "a";
    }

    /// <summary>one..ten as words, larger numbers as digits.</summary>
    public static string NumberWord(int n) => n >= 0 && n < NumberWords.Length ? NumberWords[n] : n.ToString(CultureInfo.InvariantCulture);

    /// <summary>The count a determiner states: "a"/"an"/"one" → 1, "two".."ten", digits; null for anything else.</summary>
    public static int? ParseCount(string word)
    {
        var w = word.ToLowerInvariant();
        if (w is "a" or "an") return 1;
        int i = Array.IndexOf(NumberWords, w);
        if (i >= 1) return i;
        if (w.Length is > 0 and <= 3 && w.All(char.IsAsciiDigit) && int.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1)
            return n;
        return null;
    }

    /// <summary>
    /// Gives <paramref name="replacement"/> the case pattern of <paramref name="original"/>: "Cat" → "Dog",
    /// "CAT" → "DOG", "cat" → "dog". Lexicon words are lower case, so only these three patterns matter.
    /// </summary>
    public static string MatchCase(string original, string replacement)
    {
        if (original.Length == 0 || replacement.Length == 0) return replacement;
        int letters = original.Count(char.IsLetter);
        if (letters > 1 && original.Where(char.IsLetter).All(char.IsUpper)) return replacement.ToUpperInvariant();
        if (char.IsUpper(original[0])) return char.ToUpperInvariant(replacement[0]) + replacement[1..];
        return replacement;
    }

    internal static bool IsVowel(char c) => c is 'a' or 'e' or 'i' or 'o' or 'u';

    private static int VowelGroups(string w)
    {
        int groups = 0;
        bool inVowel = false;
        foreach (var c in w)
        {
            bool v = IsVowel(c) || c == 'y' && groups > 0;
            if (v && !inVowel) groups++;
            inVowel = v;
        }
        return groups;
    }

    private static bool EndsWithAny(string w, params string[] endings)
    {
        foreach (var e in endings) if (w.EndsWith(e, StringComparison.Ordinal)) return true;
        return false;
    }
}
