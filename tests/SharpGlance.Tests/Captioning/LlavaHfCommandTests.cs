using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpGlance.Tests.Serve;

namespace SharpGlance.Tests.Captioning;

/// <summary>
/// <c>glance caption</c> and <c>glance serve</c> with a Hugging Face LLaVA folder (the tiny-llava-llama
/// fixture), and the one line a checkpoint of an unknown architecture gets.
/// </summary>
public class LlavaHfCommandTests
{
    private static string Folder => Path.Combine(Fixtures.Root, "tiny-llava-llama");
    private static string Photo => Path.Combine(Folder, "e2e.png");

    [Fact]
    public void Caption_answers_the_fixture_question_as_transformers_does()
    {
        var e2e = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "e2e.json")))!;
        var (code, output, error) = GlanceCli.Run("caption", "--model", Folder, "--beams", "1", "--max-new-tokens", "10",
            "--question", e2e["question"]!.GetValue<string>(), "--json", Photo);
        Assert.True(code == 0, error);
        var line = JsonDocument.Parse(output.Trim()).RootElement;
        Assert.Equal(e2e["greedy_text"]!.GetValue<string>(), line.GetProperty("caption").GetString());
    }

    [Fact]
    public void An_unknown_model_type_gets_one_line_naming_it()
    {
        var dir = TempDir.Create("unknown-arch");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "config.json")))!.AsObject();
        config["model_type"] = "qwen2_vl";
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var (code, _, error) = GlanceCli.RunReported("caption", "--model", dir, Photo);
        Assert.NotEqual(0, code);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("model_type 'qwen2_vl'", lines[0]);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public async Task Serve_answers_with_the_caption_glance_caption_gives()
    {
        var (code, output, error) = GlanceCli.Run("caption", "--model", Folder, "--beams", "1", "--max-new-tokens", "10", "--json", Photo);
        Assert.True(code == 0, error);
        string expected = JsonDocument.Parse(output.Trim()).RootElement.GetProperty("caption").GetString()!;

        await using var host = await ServeHost.FolderAsync(Folder, "tiny-llava");
        var raw = new ByteArrayContent(File.ReadAllBytes(Photo));
        raw.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        var response = await host.Client.PostAsync("/v1/captions?beams=1&max_new_tokens=10", raw, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await ServeHost.JsonAsync(response);
        Assert.Equal(expected, answer.GetProperty("caption").GetString());
        Assert.Equal("tiny-llava", answer.GetProperty("model").GetString());

        var models = await ServeHost.JsonAsync(await host.Client.GetAsync("/v1/models", TestContext.Current.CancellationToken));
        Assert.False(models.GetProperty("data")[0].GetProperty("refine").GetBoolean());
        // The second glance is refused in one line: this model has none.
        var refine = new ByteArrayContent(File.ReadAllBytes(Photo));
        refine.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        var refused = await host.Client.PostAsync("/v1/captions?refine=true", refine, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }
}
