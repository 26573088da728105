using System.Text.Json;

namespace SharpGlance.Tests.Tokenization;

/// <summary><c>glance tokenize</c>, run in-process with its output captured.</summary>
public class TokenizeCommandTests
{
    private static (int Code, string Output) Run(params string[] args)
    {
        var (code, output, _) = GlanceCli.Run(args);
        return (code, output);
    }

    [Fact]
    public void Json_output_lists_ids_and_tokens()
    {
        var (code, output) = Run("tokenize", "--model", Fixtures.OptTokenizer, "--json", "Hello world </s>");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal([2, 31414, 232, 1437, 2], doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(["</s>", "Hello", "Ġworld", "Ġ", "</s>"], doc.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void No_bos_and_image_options()
    {
        var (code, output) = Run("tokenize", "--model", Fixtures.OptTokenizer, "--json", "--no-bos", "--image", "a<image>b");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal([102, -200, 428], doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void Text_output_has_a_summary_line_and_one_row_per_token()
    {
        var (code, output) = Run("tokenize", "--model", Fixtures.OptTokenizer, "Hello world");
        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("3 tokens: [2, 31414, 232]", lines[0]);
        Assert.Equal(4, lines.Length);
        Assert.Contains("Ġworld", lines[3]);
        Assert.Contains("\" world\"", lines[3]);
    }

    [Fact]
    public void Without_model_the_embedded_models_vocabulary_is_used()
    {
        var (code, output) = Run("tokenize", "--json", "Hello world </s>");
        var (_, expected) = Run("tokenize", "--model", Fixtures.OptTokenizer, "--json", "Hello world </s>");
        Assert.Equal(0, code);
        Assert.Equal(expected, output);
        Assert.Contains("31414", output);
    }

    [Fact]
    public void Missing_model_folder_is_a_glance_error()
    {
        var ex = Assert.Throws<GlanceException>(() => Run("tokenize", "--model", "/no/such/folder", "x"));
        Assert.Contains("/no/such/folder", ex.Message);
    }
}
