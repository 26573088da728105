using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using SharpGlance.Data.Pseudo;
using SharpGlance.Llm;

namespace SharpGlance.Tests.Data.Pseudo;

/// <summary>
/// A fake OpenAI-compatible chat endpoint on 127.0.0.1 (started by the test, nothing else reached):
/// it answers each request with whatever <c>reply(userPrompt)</c> gives, wrapped in a chat completion.
/// </summary>
internal sealed class FakeChatServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<string, string> _reply;
    private readonly Task _loop;
    private int _requests;

    public FakeChatServer(Func<string, string> reply)
    {
        _reply = reply;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Url = $"http://127.0.0.1:{port}/v1";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(Serve);
    }

    public string Url { get; }

    public int Requests => Volatile.Read(ref _requests);

    public List<string> Prompts { get; } = [];

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            Interlocked.Increment(ref _requests);
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = JsonNode.Parse(await reader.ReadToEndAsync())!;
            var prompt = body["messages"]!.AsArray().Last()!["content"]!.GetValue<string>();
            lock (Prompts) Prompts.Add(prompt);
            var completion = new JsonObject
            {
                ["id"] = "fake",
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = _reply(prompt) } }),
            };
            var bytes = Encoding.UTF8.GetBytes(completion.ToJsonString());
            context.Response.ContentType = "application/json";
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}

public sealed class LlmPseudoTests : IDisposable
{
    private readonly string _dir = PseudoTestData.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string CatCaption = "A cat is sitting on a red chair.";
    private const string DogCaption = "Three dogs run in front of a white fire hydrant.";

    /// <summary>For the cat: two good variants in a code fence and one far too different. For the dogs: prose, no JSON.</summary>
    private static string Reply(string prompt)
    {
        if (prompt.Contains("cat is sitting", StringComparison.Ordinal))
            return """
                Here you go:
                ```json
                {"variants": [
                  {"caption": "A dog is sitting on a red chair.", "edits": [{"kind": "entity", "from": "cat", "to": "dog"}]},
                  {"caption": "A cat is standing on a blue chair.", "edits": [{"kind": "action", "from": "sitting", "to": "standing"}, {"kind": "Color", "from": "red", "to": "blue"}]},
                  {"caption": "Three horses gallop across an empty green meadow at sunset.", "edits": []}
                ]}
                ```
                """;
        return "Sorry, I cannot help with that.";
    }

    [Fact]
    public void LlmVariantsAreUsedAndFailuresFallBackToRules()
    {
        using var server = new FakeChatServer(Reply);
        var input = PseudoTestData.WriteLlava(_dir, [CatCaption, DogCaption]);
        var output = Path.Combine(_dir, "llm.json");
        var options = new PseudoOptions
        {
            Strategy = PseudoStrategy.Llm,
            Seed = 1,
            Llm = new ChatEndpoint(server.Url, "fake-model") { MaxRetries = 0, Timeout = TimeSpan.FromSeconds(20) },
            LlmParallelism = 2,
        };
        var summary = PseudoCaptionGenerator.Run(input, output, options, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);

        Assert.Equal(2, server.Requests);
        Assert.All(server.Prompts, p => Assert.Contains("Write 3 pseudo-initial captions", p));
        Assert.Contains(server.Prompts, p => p.Contains("\"A cat is sitting on a red chair.\"", StringComparison.Ordinal));

        var entries = (JsonArray)JsonNode.Parse(File.ReadAllText(output))!;
        var cat = entries[0]!["pre_captions"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal("A dog is sitting on a red chair.", cat[0]);
        Assert.Equal("A cat is standing on a blue chair.", cat[1]);
        Assert.DoesNotContain("Three horses gallop across an empty green meadow at sunset.", cat);  // rejected: too different
        var catEdits = entries[0]!["pre_caption_edits"]!.AsArray();
        Assert.Equal("entity:cat→dog", Describe(catEdits[0]![0]!));
        Assert.Equal(["action:sitting→standing", "colour:red→blue"], catEdits[1]!.AsArray().Select(e => Describe(e!)));

        // The malformed reply: all three variants by the rules, and the entry is unaffected otherwise.
        var dogs = entries[1]!["pre_captions"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(3, dogs.Count);
        var dogEdits = entries[1]!["pre_caption_edits"]!.AsArray();
        Assert.All(dogEdits, e => Assert.InRange(e!.AsArray().Count, 0, 3));
        Assert.True(JsonNode.DeepEquals(PseudoTestData.Entry("e1", DogCaption)["conversations"], entries[1]!["conversations"]));

        var llm = summary.Llm!;
        Assert.Equal(2, llm.Requests);
        Assert.Equal(1, llm.FailedRequests);
        Assert.Equal(2, llm.AcceptedVariants);
        Assert.Equal(1, llm.RejectedVariants);
        Assert.Equal(4, llm.FallbackVariants);
        Assert.Contains(llm.Errors, e => e.StartsWith("entry e1: no JSON in the reply", StringComparison.Ordinal));
        Assert.Contains(llm.Errors, e => e.StartsWith("entry e0: variant rejected:", StringComparison.Ordinal));
        Assert.Equal(2, summary.Sources[PseudoVariant.Llm]);
        Assert.Equal(4, summary.Sources[PseudoVariant.Rules]);
    }

    private static string Describe(JsonNode e) => $"{e["kind"]}:{e["from"]}→{e["to"]}";

    [Fact]
    public void UnreachableEndpointFallsBackToRules()
    {
        // A port nobody listens on: connection refused, counted, and the rules make every variant.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var input = PseudoTestData.WriteLlava(_dir, [CatCaption]);
        var options = new PseudoOptions
        {
            Strategy = PseudoStrategy.Llm,
            Llm = new ChatEndpoint($"http://127.0.0.1:{port}/v1", "fake-model") { MaxRetries = 0, Timeout = TimeSpan.FromSeconds(5) },
        };
        var summary = PseudoCaptionGenerator.Run(input, Path.Combine(_dir, "o.json"), options, Lexicon.BuiltIn, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(1, summary.Llm!.FailedRequests);
        Assert.Equal(3, summary.Llm.FallbackVariants);
        Assert.Contains("connection failed", summary.Llm.Errors.Single());
    }

    [Theory]
    [InlineData("""{"variants": ["a", "b"]}""", 2)]
    [InlineData("""[{"text": "a"}, "b", 3]""", 2)]
    [InlineData("""Sure! {"captions": [{"caption": "x", "edits": [{"category": "relation", "from": "on", "to": "under"}]}]} Hope it helps.""", 1)]
    public void RepliesAreParsedLeniently(string reply, int expected)
    {
        var proposals = LlmPseudoPrompt.ParseReply(reply, out var error);
        Assert.Null(error);
        Assert.Equal(expected, proposals!.Count);
    }

    [Theory]
    [InlineData("no json here", "no JSON in the reply")]
    [InlineData("{\"variants\": [1, 2}", "reply is not valid JSON")]
    [InlineData("{\"answer\": \"x\"}", "reply has no \"variants\" list")]
    [InlineData("{\"variants\": [1, 2]}", "reply lists no captions")]
    public void MalformedRepliesSayWhy(string reply, string why)
    {
        Assert.Null(LlmPseudoPrompt.ParseReply(reply, out var error));
        Assert.StartsWith(why, error);
    }

    [Fact]
    public void LlmStrategyNeedsAnEndpoint() =>
        Assert.Contains("--llm-url", Assert.Throws<GlanceException>(() => new PseudoOptions { Strategy = PseudoStrategy.Llm }.Validate()).Message);
}
