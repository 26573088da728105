using SharpGlance.Evaluation.Meteor;

namespace SharpGlance.Tests.Evaluation.Meteor;

public class SnowballEnglishStemmerTests
{
    [Theory]
    // Porter2 by hand: Step 2 "ousli"→"ous" (generously); Step 1b "ing" then double-consonant undoubling
    // (running, hopping); Step 1a "sses"→"ss" (caresses), "ies"→"i" after 2+ letters (ponies, cries) but
    // "ie" after one (ties); "agreed": Step 1b turns "eed" in R1 into "ee", then Step 5 drops the final
    // "e" (in R1, not after a short syllable) → "agre"; exceptional forms (skies, dying, news).
    [InlineData("generously", "generous")]
    [InlineData("running", "run")]
    [InlineData("hopping", "hop")]
    [InlineData("caresses", "caress")]
    [InlineData("ponies", "poni")]
    [InlineData("cries", "cri")]
    [InlineData("ties", "tie")]
    [InlineData("agreed", "agre")]
    [InlineData("skies", "sky")]
    [InlineData("dying", "die")]
    [InlineData("news", "news")]
    [InlineData("proceeding", "proceed")]
    [InlineData("knightliness", "knightli")]
    [InlineData("hoped", "hope")]
    [InlineData("saying", "say")]
    [InlineData("'tis", "tis")]
    [InlineData("is", "is")]   // fewer than three characters: untouched
    [InlineData("as", "as")]
    public void Stems_classic_examples(string word, string stem) => Assert.Equal(stem, SnowballEnglishStemmer.Stem(word));

    [Fact]
    public void Matches_meteor_jar_on_reference_vocabulary()
    {
        // 1,850 words (WordNet lemmas, Snowball's tricky cases, random strings over a vowel-heavy
        // alphabet with y/Y/'/é) stemmed by Meteor 1.5's own englishStemmer.
        var lines = File.ReadAllLines(Path.Combine(MeteorTestData.Folder, "meteor15-stems.tsv")).Skip(1).ToList(); // line 1: header
        Assert.True(lines.Count > 1800);
        var wrong = lines.Select(l => l.Split('\t')).Where(p => SnowballEnglishStemmer.Stem(p[0]) != p[1])
            .Select(p => $"{p[0]} → {SnowballEnglishStemmer.Stem(p[0])} (jar: {p[1]})").ToList();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(20)));
    }
}
