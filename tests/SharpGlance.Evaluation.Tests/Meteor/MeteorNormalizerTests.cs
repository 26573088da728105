using SharpGlance.Evaluation.Meteor;

namespace SharpGlance.Tests.Evaluation.Meteor;

public class MeteorNormalizerTests
{
    [Theory]
    // Expected strings are Meteor 1.5's output for the same input (-norm, then lower-case).
    [InlineData("a man riding a horse", "a man riding a horse")]
    [InlineData("  two   dogs\tplaying ", "two dogs playing")]
    [InlineData("it 's a dog", "it ' s a dog")]                 // PTB's "'s" splits again: "' s"
    [InlineData("it's 5 o'clock", "it 's 5 o 'clock")]
    [InlineData("A Man's hat, U.S.-based (1,000 dogs)...", "a man 's hat , us based ( 1,000 dogs ) ...")]
    [InlineData("a well-known dr. who", "a well known dr. who")]   // dash split; "dr." kept before a lower-case word
    [InlineData("The End.", "the end .")]
    [InlineData("“quoted” ‘text’ – here", "\" quoted \" ' text ' - here")]
    [InlineData("a😀b", "a 😀 b")]                            // a surrogate pair stays whole, as in Java
    public void Normalizes_like_meteor(string input, string expected) =>
        Assert.Equal(expected, MeteorNormalizer.NormalizeAndLowercase(input));

    [Fact]
    public void Matches_meteor_jar_on_reference_strings()
    {
        // 400 random strings of punctuation, abbreviations, contractions, numbers, quotes, dashes,
        // Unicode spaces, Greek/Cyrillic/Turkish letters and emoji, normalised by Meteor 1.5.
        var lines = File.ReadAllLines(Path.Combine(MeteorTestData.Folder, "meteor15-normalizer.tsv")).Skip(1).ToList(); // line 1: header
        Assert.Equal(400, lines.Count);
        var wrong = new List<string>();
        foreach (var line in lines)
        {
            int tab = line.IndexOf('\t');
            string input = line[..tab], expected = line[(tab + 1)..];
            var actual = MeteorNormalizer.NormalizeAndLowercase(input);
            if (actual != expected) wrong.Add($"'{input}' → '{actual}' (jar: '{expected}')");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong.Take(10)));
    }
}
