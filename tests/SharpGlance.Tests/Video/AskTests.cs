using System.Text.Json;
using System.Text.Json.Nodes;
using SharpGlance.Llm;
using SharpGlance.Tests.Evaluation;
using SharpGlance.Video;
using System.Text.RegularExpressions;

namespace SharpGlance.Tests.Video;

/// <summary><c>glance ask</c> against a fake OpenAI-compatible server: what LLoVi's two steps send, and how the answer is read back.</summary>
public class AskTests
{
    private static string User(JsonNode body) => body["messages"]![1]!["content"]!.GetValue<string>();
    private static string SystemOf(JsonNode body) => body["messages"]![0]!["content"]!.GetValue<string>();
    private static bool IsSummary(JsonNode body) => User(body).Contains("summary. When doing summarization", StringComparison.Ordinal);

    private static string WriteCaptions(IEnumerable<CaptionSpan> spans)
    {
        string path = Path.Combine(TempDir.Create("ask"), "captions.json");
        File.WriteAllText(path, CaptionSpans.ToJson(spans.ToList()));
        return path;
    }

    private static readonly CaptionSpan[] Short =
    [
        new(0, 2, "a photo of a whale"),
        new(2, 6, "there is a small teal hexagon above a dolphin"),
        new(6, 8.5, "two large brown diamonds above two small pink stars"),
    ];

    /// <summary>60 one-second captions, each naming its second, too long for a small context.</summary>
    private static readonly CaptionSpan[] Long =
        Enumerable.Range(0, 60).Select(i => new CaptionSpan(i, i + 1, $"frame {i} shows a red circle left of {i % 7 + 1} small dogs")).ToArray();

    private static (int Code, string Output, string Error) Ask(FakeChatServer server, string captions, params string[] more) =>
        GlanceCli.RunReported(["ask", "--captions", captions, "--llm-url", server.Url, "--llm-model", "tiny-llm", .. more]);

    [Fact]
    public void A_short_caption_list_is_answered_directly_with_every_caption_and_its_timestamps()
    {
        using var server = new FakeChatServer((_, _) => FakeReply.Chat("B"));
        var (code, output, error) = Ask(server, WriteCaptions(Short), "--question", "What swims under the hexagon?",
            "--choices", "a whale | a dolphin | a star", "--json");

        Assert.True(code == 0, error);
        var request = Assert.Single(server.Requests);
        Assert.Equal("tiny-llm", request["model"]!.GetValue<string>());
        Assert.Equal(0.0, request["temperature"]!.GetValue<double>());
        Assert.Equal(VideoQuestions.SystemPrompt, SystemOf(request));
        string prompt = User(request);
        Assert.Contains("[0s-2s] a photo of a whale\n[2s-6s] there is a small teal hexagon above a dolphin\n[6s-8.5s] two large brown diamonds above two small pink stars\n", prompt);
        Assert.Contains("The video is 8.5 seconds long.", prompt);
        Assert.Contains("Here is the question: What swims under the hexagon?\nHere are the choices:\nA: a whale\nB: a dolphin\nC: a star\n", prompt);
        Assert.Contains("single-letter answer (A, B, C)", prompt);

        var json = JsonNode.Parse(output)!;
        Assert.Equal("B: a dolphin", json["answer"]!.GetValue<string>());
        Assert.Equal("B", json["choice"]!.GetValue<string>());
        Assert.Equal("direct", json["mode"]!.GetValue<string>());
        var exchange = Assert.Single(json["exchanges"]!.AsArray())!;
        Assert.Equal(prompt, exchange["prompt"]!.GetValue<string>());
        Assert.Equal(VideoQuestions.SystemPrompt, exchange["system"]!.GetValue<string>());
        Assert.Equal("B", exchange["reply"]!.GetValue<string>());
    }

    [Fact]
    public void Without_json_only_the_chosen_option_is_printed()
    {
        using var server = new FakeChatServer((_, _) => FakeReply.Chat("The answer is (C) because the stars come last."));
        var (code, output, error) = Ask(server, WriteCaptions(Short), "--question", "What comes last?", "--choices", "a whale|a dolphin|stars");
        Assert.True(code == 0, error);
        Assert.Equal("C: stars\n", output);
    }

    [Fact]
    public void An_open_question_prints_the_reply()
    {
        using var server = new FakeChatServer((_, _) => FakeReply.Chat("  A whale, then a dolphin from 2 s.\n"));
        var (code, output, error) = Ask(server, WriteCaptions(Short), "--question", "What happens?");
        Assert.True(code == 0, error);
        Assert.Equal("A whale, then a dolphin from 2 s.\n", output);
        Assert.Contains("in one or two sentences", User(Assert.Single(server.Requests)));
    }

    [Fact]
    public void A_long_list_is_summarised_in_parts_that_fit_the_context_then_answered_over_the_summaries()
    {
        const int context = 700, words = 40;
        using var server = new FakeChatServer((body, _) =>
        {
            if (!IsSummary(body)) return FakeReply.Chat("(D)");
            // The part's first caption names its first second: the summary says which part it is.
            var first = Regex.Match(User(body), @"frame (\d+) shows").Groups[1].Value;
            return FakeReply.Chat($"SUMMARY-FROM-{first}");
        });
        var (code, output, error) = Ask(server, WriteCaptions(Long), "--question", "How many dogs at most?",
            "--choices", "1|3|5|7", "--max-context-tokens", $"{context}", "--summary-words", $"{words}", "--json");

        Assert.True(code == 0, error);
        var requests = server.Requests;
        var summaries = requests.Where(IsSummary).ToList();
        Assert.InRange(summaries.Count, 2, 30);
        Assert.Equal(summaries.Count + 1, requests.Count);
        Assert.False(IsSummary(requests[^1]));   // the answer comes last
        // Every caption with its timestamps is in exactly one part, in order, and every part fits the context with its reply.
        var lines = summaries.SelectMany(s => User(s).Split('\n').Where(l => l.StartsWith('[') && l.Contains("frame"))).ToList();
        Assert.Equal(Long.Select(VideoQuestions.FormatLine), lines);
        foreach (var s in summaries)
        {
            Assert.Equal(1.0, s["temperature"]!.GetValue<double>());
            int reply = s["max_tokens"]!.GetValue<int>();
            Assert.True(VideoQuestions.EstimateTokens(SystemOf(s)) + VideoQuestions.EstimateTokens(User(s)) + reply <= context,
                $"a summary prompt of {VideoQuestions.EstimateTokens(User(s))} tokens and {reply} for its reply exceeds {context}");
            Assert.Contains($"of {summaries.Count} of a video", User(s));
        }
        // Each part is asked for its share of the words, and the answer sees every part's summary with its span.
        Assert.Contains($"Please give me a {Math.Max(10, words / summaries.Count)} words summary", User(summaries[0]));
        string answer = User(requests[^1]);
        int last = 0;
        foreach (var s in summaries)
        {
            var from = Regex.Match(User(s), @"frame (\d+) shows").Groups[1].Value;
            int at = answer.IndexOf($"[{from}s-", StringComparison.Ordinal);
            Assert.True(at >= last, $"the summary of the part from {from} s is missing or out of order");
            Assert.Contains($"SUMMARY-FROM-{from}", answer);
            last = at;
        }
        Assert.Equal(0.0, requests[^1]["temperature"]!.GetValue<double>());
        var json = JsonNode.Parse(output)!;
        Assert.Equal("D: 7", json["answer"]!.GetValue<string>());
        Assert.Equal("summary", json["mode"]!.GetValue<string>());
        Assert.Equal(summaries.Count, json["parts"]!.GetValue<int>());
        Assert.Equal(requests.Count, json["exchanges"]!.AsArray().Count);
    }

    [Fact]
    public void Part_summaries_too_long_together_are_summarised_again()
    {
        const int context = 700;
        var many = Enumerable.Range(0, 240).Select(i => new CaptionSpan(i, i + 1, $"frame {i} shows a red circle left of {i % 7 + 1} small dogs")).ToArray();
        int n = 0;
        using var server = new FakeChatServer((body, _) =>
        {
            string user = User(body);
            if (!IsSummary(body)) return FakeReply.Chat("A");
            if (user.StartsWith("You are given summaries of consecutive parts", StringComparison.Ordinal))
                return FakeReply.Chat($"SECOND-{Interlocked.Increment(ref n)}");
            // A wordy LLM: each part's summary is long, so that together they do not fit one prompt.
            return FakeReply.Chat($"FIRST-{Interlocked.Increment(ref n)} " + string.Concat(Enumerable.Repeat("the dogs keep sitting to the right of the circle. ", 8)));
        });
        var (code, output, error) = Ask(server, WriteCaptions(many), "--question", "How many dogs?", "--choices", "7|1",
            "--max-context-tokens", $"{context}", "--summary-words", "40", "--json");

        Assert.True(code == 0, error);
        var requests = server.Requests;
        var first = requests.Where(r => IsSummary(r) && !User(r).StartsWith("You are given summaries", StringComparison.Ordinal)).ToList();
        var second = requests.Where(r => User(r).StartsWith("You are given summaries of consecutive parts", StringComparison.Ordinal) && IsSummary(r)).ToList();
        Assert.NotEmpty(second);
        Assert.True(second.Count < first.Count);
        // Every first-pass summary is read by exactly one second-pass prompt; the answer reads the second pass.
        var replies = JsonNode.Parse(output)!["exchanges"]!.AsArray().Select(x => (Step: x!["step"]!.GetValue<string>(), Reply: x["reply"]!.GetValue<string>())).ToList();
        foreach (var (step, reply) in replies.Where(r => r.Reply.StartsWith("FIRST-", StringComparison.Ordinal)))
            Assert.Single(second, r => User(r).Contains(reply.Trim(), StringComparison.Ordinal));
        Assert.All(replies.Where(r => r.Reply.StartsWith("SECOND-", StringComparison.Ordinal)), r => Assert.Contains(r.Reply, User(requests[^1])));
        Assert.Contains(replies, r => r.Step.StartsWith("summary (pass 2)", StringComparison.Ordinal));
        foreach (var r in requests)
            Assert.True(VideoQuestions.EstimateTokens(SystemOf(r)) + VideoQuestions.EstimateTokens(User(r)) + r["max_tokens"]!.GetValue<int>() <= context);
        Assert.Equal("A: 7", JsonNode.Parse(output)!["answer"]!.GetValue<string>());
    }

    [Fact]
    public void A_list_that_fits_one_prompt_gets_one_summary_then_the_answer()
    {
        using var server = new FakeChatServer((body, _) => FakeReply.Chat(IsSummary(body) ? "Dogs appear throughout; at most seven." : "A"));
        var (code, output, error) = Ask(server, WriteCaptions(Long), "--question", "How many dogs at most?", "--choices", "7|1", "--summary-words", "50");
        Assert.True(code == 0, error);
        Assert.Equal("A: 7\n", output);
        var requests = server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Contains("[59s-60s] frame 59 shows", User(requests[0]));
        Assert.Contains("The descriptions are sequential and non-overlapping which cover the whole video exactly.", User(requests[0]));
        Assert.Contains("You are given a summary of a video. The video is 60 seconds long. Here is the summary:\nDogs appear throughout; at most seven.\n", User(requests[1]));
    }

    [Fact]
    public void A_reply_that_names_no_choice_is_an_error_line_quoting_it()
    {
        using var server = new FakeChatServer((_, _) => FakeReply.Chat("I cannot tell from these descriptions."));
        var (code, output, error) = Ask(server, WriteCaptions(Short), "--question", "Which?", "--choices", "x|y|z");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal("glance: error: the LLM's reply names none of the choices A-C: \"I cannot tell from these descriptions.\"\n", error);
    }

    [Theory]
    [InlineData("B", 1)]
    [InlineData("b) a dolphin", 1)]
    [InlineData("(C)", 2)]
    [InlineData("**A**: a whale", 0)]
    [InlineData("Answer: C", 2)]
    [InlineData("The most correct answer is (B).", 1)]
    [InlineData("Looking at the descriptions, the answer is C.", 2)]
    [InlineData("It must be a dolphin, seen from 2 s to 6 s.", 1)]
    [InlineData("a dolphin or a whale", null)]   // "a" is the article, and two options are quoted
    [InlineData("D", null)]                      // no fourth option
    [InlineData("", null)]
    public void Choices_are_parsed_from_the_reply(string reply, int? expected) =>
        Assert.Equal(expected, VideoQuestions.ParseChoice(reply, ["a whale", "a dolphin", "stars"]));

    [Fact]
    public void Tokens_are_estimated_as_characters_over_four()
    {
        Assert.Equal(0, VideoQuestions.EstimateTokens(""));
        Assert.Equal(1, VideoQuestions.EstimateTokens("abcd"));
        Assert.Equal(2, VideoQuestions.EstimateTokens("abcde"));
    }

    [Fact]
    public void A_context_too_small_for_the_prompts_is_refused_before_any_call()
    {
        using var server = new FakeChatServer((_, _) => FakeReply.Chat("A"));
        var (code, _, error) = Ask(server, WriteCaptions(Long), "--question", "Which?", "--choices", "x|y", "--max-context-tokens", "300");
        Assert.Equal(2, code);
        Assert.StartsWith("glance: error: --max-context-tokens 300 leaves no room", error);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public void An_llm_error_is_one_line_naming_the_endpoint()
    {
        using var server = new FakeChatServer((_, _) => new FakeReply(400, "{\"error\": {\"message\": \"no such model\"}}"));
        var (code, _, error) = Ask(server, WriteCaptions(Short), "--question", "Which?");
        Assert.Equal(2, code);
        Assert.StartsWith($"glance: error: {server.Url} (tiny-llm): the LLM failed at the answer: HTTP 400", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("not json", "not a list of {start, end, caption}")]
    [InlineData("[]", "holds no captions")]
    [InlineData("[{\"start\": 0, \"end\": 1}]", "caption 1 has no \"caption\"")]
    [InlineData("[{\"start\": 3, \"end\": 1, \"caption\": \"x\"}]", "caption 1 has start 3 and end 1")]
    public void A_bad_captions_file_is_one_line_naming_it(string content, string problem)
    {
        string path = Path.Combine(TempDir.Create("ask"), "captions.json");
        File.WriteAllText(path, content);
        using var server = new FakeChatServer((_, _) => FakeReply.Chat("A"));
        var (code, _, error) = Ask(server, path, "--question", "Which?");
        Assert.Equal(2, code);
        Assert.StartsWith($"glance: error: {path}: {problem}", error);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public void Glance_video_output_reads_back()
    {
        string path = WriteCaptions(Short);
        Assert.Equal(Short, CaptionSpans.Read(path));
        Assert.Equal(JsonSerializer.Serialize(Short.ToList()), JsonSerializer.Serialize(CaptionSpans.Read(path)));
    }
}
