using SharpGlance.Data.Synthetic;

namespace SharpGlance.Tests.Data;

public class EnglishTests
{
    [Theory]
    [InlineData("cat", "cats")]
    [InlineData("mouse", "mice")]
    [InlineData("old man", "old men")]
    [InlineData("woman", "women")]
    [InlineData("knife", "knives")]
    [InlineData("loaf", "loaves")]
    [InlineData("wolf", "wolves")]
    [InlineData("bus", "buses")]
    [InlineData("cross", "crosses")]
    [InlineData("sandwich", "sandwiches")]
    [InlineData("paintbrush", "paintbrushes")]
    [InlineData("fox", "foxes")]
    [InlineData("strawberry", "strawberries")]
    [InlineData("butterfly", "butterflies")]
    [InlineData("monkey", "monkeys")]
    [InlineData("tomato", "tomatoes")]
    [InlineData("sweet potato", "sweet potatoes")]
    [InlineData("avocado", "avocados")]
    [InlineData("sheep", "sheep")]
    [InlineData("tropical fish", "tropical fish")]
    [InlineData("die", "dice")]
    [InlineData("cactus", "cacti")]
    [InlineData("t-shirt", "t-shirts")]
    [InlineData("superhero", "superheroes")]
    public void Plural(string noun, string plural) => Assert.Equal(plural, English.Plural(noun));

    [Theory]
    [InlineData("cat", "a")]
    [InlineData("owl", "an")]
    [InlineData("egg", "an")]
    [InlineData("ice", "an")]
    [InlineData("orange", "an")]
    [InlineData("umbrella", "an")]
    [InlineData("unicorn", "a")]
    [InlineData("ufo", "a")]
    [InlineData("hourglass", "an")]
    [InlineData("hexagon", "a")]
    [InlineData("large", "a")]
    public void Article(string word, string article) => Assert.Equal(article, English.Article(word));

    private static SceneGroup Group(string name, int count, string? colour = null, string? size = null) =>
        new(0, name, colour is null ? "animal" : "shape", colour is null ? SceneGroup.EmojiKind : SceneGroup.ShapeKind,
            null, colour, size, colour is null ? null : "#d62828", count,
            Enumerable.Range(0, count).Select(i => new SceneInstance(new SceneBox(10 * i, 0, 10, 10), i, false, false)).ToList());

    [Fact]
    public void NounPhrasesAgreeInNumberAndArticle()
    {
        Assert.Equal("a small red circle", CaptionWriter.NounPhrase(Group("circle", 1, "red", "small")));
        Assert.Equal("an orange circle", CaptionWriter.NounPhrase(Group("circle", 1, "orange", "small"), withSize: false));
        Assert.Equal("an owl", CaptionWriter.NounPhrase(Group("owl", 1)));
        Assert.Equal("two mice", CaptionWriter.NounPhrase(Group("mouse", 2)));
        Assert.Equal("a pair of mice", CaptionWriter.NounPhrase(Group("mouse", 2), pairOf: true));
        Assert.Equal("three large blue crosses", CaptionWriter.NounPhrase(Group("cross", 3, "blue", "large")));
        // "a pair of" is only for two.
        Assert.Equal("three cats", CaptionWriter.NounPhrase(Group("cat", 3), pairOf: true));
    }
}
