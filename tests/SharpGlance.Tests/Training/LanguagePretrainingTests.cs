using SharpGlance.Training;

namespace SharpGlance.Tests.Training;

/// <summary>How a text document of the LM pretraining corpus is laid out.</summary>
public class LanguagePretrainingTests
{
    [Fact]
    public void With_drafts_each_caption_is_a_block_after_one_of_its_own_drafts()
    {
        var doc = new TextDocument(0, ["a cat", "a red dog", "two owls"],
            [["a dog", "a cow"], [], ["three owls"]]);
        var blocks = LanguagePretrainingTask.Arrange(doc, new Random(3));
        Assert.Equal(["a cat", "a red dog", "two owls"], blocks.Select(b => b[^1]).Order());
        foreach (var b in blocks)
        {
            int k = doc.Lines.ToList().IndexOf(b[^1]);
            if (doc.Drafts![k].Count == 0) Assert.Single(b);
            else Assert.Contains(Assert.Single(b.Take(b.Count - 1)), doc.Drafts[k]);
        }
    }

    [Fact]
    public void Without_drafts_a_document_is_one_block_of_its_captions_shuffled()
    {
        var doc = new TextDocument(0, ["a", "b", "c", "d"]);
        var lines = Assert.Single(LanguagePretrainingTask.Arrange(doc, new Random(1)));
        Assert.Equal(["a", "b", "c", "d"], lines.Order());
        Assert.Equal(lines, Assert.Single(LanguagePretrainingTask.Arrange(doc, new Random(1))));
    }
}
