using System.Text.RegularExpressions;
using SharpGlance.Data.Synthetic;
using SharpGlance.Demo;

namespace SharpGlance.Tests.Demo;

/// <summary>The demo report's wording (issue #15): counts in the singular where they are one, and each example's class following its error counts.</summary>
public partial class DemoReportTests
{
    private static CaptionErrors Errors(int entity, int relation = 0) => new(entity, 0, 0, 0, relation, []);

    private static DemoResult Result()
    {
        var kinds = ErrorBreakdown.Kinds.ToDictionary(k => k, _ => 1L);
        var row = new DemoRow("Single pass", "stage 1", new Dictionary<string, double> { ["CIDEr"] = 1.0 }, kinds, 1, 3);
        DemoExample Example(string id, CaptionErrors before, CaptionErrors after) =>
            new(id, "/nonexistent.png", ["a cat"], $"initial {id}", $"refined {id}", before, after);
        // Ordered as the demo orders them (by the change in errors), with a regression among the first few.
        DemoExample[] examples =
        [
            Example("fixed", Errors(2), Errors(1)),
            Example("same", Errors(1), Errors(0, relation: 1)),
            Example("worse", Errors(1), Errors(2, relation: 1)),
            Example("one", Errors(0), Errors(1)),
        ];
        return new DemoResult(new DemoOptions { Out = "out", Tokenizer = "tok" }, [row], examples, new Dictionary<string, double> { ["world"] = 1 }, new Dictionary<string, string>(), "")
        {
            SecondGlance = new GlanceChange(Images: 3, Changed: 3, RightBefore: 1, KeptRight: 0, Fixed: 1, Broken: 1, ErrorsBefore: 4, ErrorsAfter: 5),
        };
    }

    [Fact]
    public void Each_example_is_marked_by_its_error_counts_and_one_error_is_singular()
    {
        string html = DemoReport.Html(Result());

        var marks = RefinedLine().Matches(html).ToDictionary(m => m.Groups["id"].Value, m => (m.Groups["class"].Value, m.Groups["errors"].Value));
        Assert.Equal(("fix", "1 error, fix"), marks["fixed"]);
        Assert.Equal(("changed", "1 error, changed"), marks["same"]);
        Assert.Equal(("regression", "3 errors, regression"), marks["worse"]);
        Assert.Equal(("regression", "1 error, regression"), marks["one"]);
        Assert.Contains("<b>initial</b> (0 errors): initial one", html);
        Assert.Contains("<b>initial</b> (2 errors): initial fixed", html);
        Assert.DoesNotContain("(1 errors)", html);
        Assert.DoesNotContain("class=\"good\"", html);
    }

    [Fact]
    public void The_markdown_says_one_caption_in_the_singular()
    {
        string md = DemoReport.Markdown(Result());
        Assert.Contains("it corrected 1 caption completely", md);
    }

    [Fact]
    public void The_page_says_what_the_second_glance_did_and_shows_the_validation_curves()
    {
        var result = Result() with { Validation = new Dictionary<string, IReadOnlyList<ValidationPoint>> { ["stage1"] = [new(400, 52.9), new(800, 98.3)] } };
        string html = DemoReport.Html(result);
        Assert.Contains("<p>The second glance (SeR ①+②, one round) changed 3 of 3 captions.", html);
        Assert.Contains("<p>Validation CIDEr of stage1 by step: 400: 52.9, 800: 98.3.</p>", html);
    }

    [GeneratedRegex("""<p class="(?<class>\w+)"><b>refined</b> \((?<errors>[^)]*)\): refined (?<id>\w+)</p>""")]
    private static partial Regex RefinedLine();
}
