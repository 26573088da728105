using System.Text.Json;
using SharpGlance.Cli;

namespace SharpGlance.Tests.Cli;

/// <summary>A mistyped option is an error naming the nearest valid one, for every command — never a file name or text.</summary>
public class UnknownOptionTests
{
    [Theory]
    [InlineData("caption --beam 1 img.png", "--beam", "--beams")]
    [InlineData("eval --refs a.json --result b.json", "--result", "--results")]
    [InlineData("synth --out x --sizes 96", "--sizes", "--size")]
    [InlineData("train --stage lm --eval-evry 5", "--eval-evry", "--eval-every")]
    [InlineData("pseudo --in a --max-edit 2", "--max-edit", "--max-edits")]
    [InlineData("tokenize --no-boss hello", "--no-boss", "--no-bos")]
    [InlineData("bench --iteration 3", "--iteration", "--iterations")]
    [InlineData("demo --quik", "--quik", "--quick")]
    [InlineData("info --hepl", "--hepl", "--help")]
    [InlineData("serve --max-batches 4", "--max-batches", "--max-batch")]
    [InlineData("worker --batchs 2", "--batchs", "--batch")]
    public void Mistyped_option_is_an_error_naming_the_nearest_option(string commandLine, string typo, string nearest)
    {
        var args = commandLine.Split(' ');
        var e = Assert.Throws<GlanceException>(() => GlanceCli.Run(args));
        Assert.StartsWith($"{args[0]}: unknown option '{typo}'; did you mean {nearest}?", e.Message);
    }

    [Fact]
    public void Option_values_and_numbers_are_not_options()
    {
        // "--beams -1" and "--question -x" give values (the caption action would reject -1 later); only parsing is checked.
        var parse = Program.Parse("caption", "--question", "-what", "--beams", "-1", "a.png");
        Assert.Empty(parse.Errors);
    }

    [Fact]
    public void After_double_dash_a_dash_is_text()
    {
        Assert.Throws<GlanceException>(() => GlanceCli.Run("tokenize", "--model", Fixtures.OptTokenizer, "--json", "-x"));

        var (code, output, _) = GlanceCli.Run("tokenize", "--model", Fixtures.OptTokenizer, "--json", "--", "-x");

        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(["</s>", "-", "x"], doc.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()));
    }

    [Theory]
    [InlineData("--beam", "--beams", 1)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    [InlineData("same", "same", 0)]
    public void Edit_distance(string a, string b, int expected)
    {
        Assert.Equal(expected, UnknownOptions.EditDistance(a, b));
        Assert.Equal(expected, UnknownOptions.EditDistance(b, a));
    }
}
