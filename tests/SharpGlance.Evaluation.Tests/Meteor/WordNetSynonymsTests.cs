using SharpGlance.Evaluation.Meteor;

namespace SharpGlance.Tests.Evaluation.Meteor;

/// <summary>Needs WordNet 3.0 at /usr/share/wordnet (Debian wordnet-base; scripts/setup.sh installs it).</summary>
public class WordNetSynonymsTests
{
    private static WordNetSynonyms WordNet => WordNetSynonyms.Load(new MeteorOptions().WordNetDir);

    private static bool Share(IReadOnlyList<int> a, IReadOnlyList<int> b) => a.Intersect(b).Any();

    [Fact]
    public void Loads_every_wordnet_word() => Assert.Equal(147306, WordNet.WordCount);

    [Theory]
    [InlineData("dog", "domestic_dog")]
    [InlineData("car", "automobile")]
    [InlineData("small", "little")]
    [InlineData("couch", "sofa")]
    public void Synonyms_share_a_synset(string a, string b) => Assert.True(Share(WordNet.SynSets(a), WordNet.SynSets(b)));

    [Theory]
    [InlineData("car", "dog")]
    [InlineData("horse", "pizza")]
    public void Unrelated_words_share_none(string a, string b) => Assert.False(Share(WordNet.SynSets(a), WordNet.SynSets(b)));

    [Fact]
    public void Base_forms_come_from_exception_lists_then_morphy_rules()
    {
        var wn = WordNet;
        Assert.Equal(wn.SynSets("go"), wn.StemSynSets("went"));   // verb.exc: "went go"
        Assert.Equal(wn.SynSets("dog"), wn.StemSynSets("dogs"));  // noun rule -s
        Assert.Equal("dog", wn.Morph("dogs"));
        Assert.Equal("box", wn.Morph("boxes"));   // "boxe" is no word; -xes → -x is
        Assert.Equal("lady", wn.Morph("ladies")); // -ies → -y
        Assert.Equal("glass", wn.Morph("glass")); // Meteor returns words ending in "ss" as they are
        Assert.Equal("ox", wn.Morph("ox"));       // ... and words of two letters
        Assert.Equal("", wn.Morph("xyzzyq"));     // no rule hits: "", which has no synsets
        Assert.Empty(wn.StemSynSets("xyzzyq"));
    }

    [Fact]
    public void Synset_ids_are_offsets_without_part_of_speech_as_in_meteor()
    {
        // Meteor keeps bare byte offsets, so verb "get" (Princeton offset 01215421) and adjective "low"
        // (also 01215421) count as synonyms. Debian's data.verb puts that synset at 01215439; only the
        // mapping back to Princeton's offsets reproduces Meteor's table.
        var wn = WordNet;
        Assert.True(WordNetSynonyms.Intersects(wn.MatchSet("get"), wn.MatchSet("low")));
        Assert.Contains(1215421, wn.SynSets("get"));
        Assert.DoesNotContain(1215439, wn.SynSets("get"));
    }

    [Fact]
    public void Missing_wordnet_names_the_package()
    {
        var dir = Path.Combine(Path.GetTempPath(), "no-wordnet-" + Guid.NewGuid().ToString("N"));
        var ex = Assert.Throws<GlanceException>(() => WordNetSynonyms.Load(dir));
        Assert.Contains("wordnet-base", ex.Message);
        Assert.StartsWith(Path.GetFullPath(dir), ex.Message);
    }

    [Fact]
    public void A_different_wordnet_is_refused()
    {
        var dir = Directory.CreateTempSubdirectory("fake-wordnet-").FullName;
        try
        {
            foreach (var pos in new[] { "noun", "verb", "adj", "adv" })
                File.WriteAllText(Path.Combine(dir, "index." + pos), "dog n 1 0 1 0 02084071  \n");
            foreach (var exc in new[] { "adj.exc", "adv.exc", "noun.exc", "verb.exc" })
                File.WriteAllText(Path.Combine(dir, exc), "went go\n");
            var ex = Assert.Throws<GlanceException>(() => WordNetSynonyms.Load(dir));
            Assert.Contains("does not reproduce Meteor 1.5", ex.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
