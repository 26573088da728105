using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpGlance.Evaluation.Judges;
using SharpGlance.Llm;
using SkiaSharp;

namespace SharpGlance.Tests.Evaluation;

/// <summary>
/// The LLM judges against a fake OpenAI-compatible endpoint on 127.0.0.1 that answers well, answers garbage,
/// rate-limits (429 + Retry-After), fails (500) and hangs (timeout). The run must finish, score what it can
/// and count the rest. Back-off, Retry-After and timeouts are shortened so the whole class takes ~1 s.
/// </summary>
public class JudgeTests
{
    private static ChatEndpoint Endpoint(string url) => new(url, "judge-model", "test-key")
    {
        Timeout = TimeSpan.FromMilliseconds(300),
        MaxRetries = 2,
        InitialBackoff = TimeSpan.FromMilliseconds(5),
        MaxRetryAfter = TimeSpan.FromMilliseconds(20),
    };

    /// <summary>The prompt text of a request (plain or multimodal content).</summary>
    private static string PromptOf(JsonNode body)
    {
        var content = body["messages"]![0]!["content"]!;
        return content is JsonArray parts ? parts[0]!["text"]!.GetValue<string>() : content.GetValue<string>();
    }

    private static string Marker(JsonNode body) => Regex.Match(PromptOf(body), @"cand-\w+").Value + "/" + body["seed"];

    private static FakeReply ClairScript(JsonNode body, int n) => Regex.Match(PromptOf(body), @"cand-\w+").Value switch
    {
        "cand-good" => FakeReply.Chat("{\"score\": 85, \"reason\": \"Both describe a dog on a beach.\"}"),
        "cand-fenced" => FakeReply.Chat("```json\n{\"score\": \"55\", \"reason\": \"close\"}\n```"),
        "cand-fallback" => FakeReply.Chat("Score: 0.7. Reason: mostly the same scene"),    // clair.py's fallback: 0.7 → 70
        "cand-malformed" => FakeReply.Chat("I cannot decide."),                               // no number at all
        "cand-notjson" => new FakeReply(200, "<html>oops</html>"),                           // not a chat completion
        "cand-ratelimit" => n == 1 ? new FakeReply(429, "{}", default, ("Retry-After", "1")) : FakeReply.Chat("{\"score\": 60, \"reason\": \"ok\"}"),
        "cand-flaky" => n <= 2 ? new FakeReply(500, "{\"error\": \"boom\"}") : FakeReply.Chat("{\"score\": 40, \"reason\": \"meh\"}"),
        "cand-slow" => new FakeReply(200, "{}", TimeSpan.FromSeconds(3)),                     // longer than the 300 ms timeout
        _ => new FakeReply(400, "{\"error\": \"unexpected\"}"),
    };

    [Fact]
    public async Task Clair_run_completes_and_counts_every_failure()
    {
        using var server = new FakeChatServer(ClairScript, Marker);
        using var client = new ChatClient(Endpoint(server.Url));
        string[] names = ["good", "fenced", "fallback", "malformed", "notjson", "ratelimit", "flaky", "slow"];
        var samples = names.Select(n => new JudgeSample(n, "cand-" + n, ["a dog on a beach", "a dog runs on sand"])).ToList();

        var report = await JudgeRunner.RunAsync(new ClairJudge(), client, "judge-model", samples,
            new JudgeOptions { Seeds = 2, Samples = 0, Concurrency = 4 }, cancel: TestContext.Current.CancellationToken);

        // Scored: good 85, fenced 55, fallback 70, ratelimit 60, flaky 40 — for each of the two seeds.
        Assert.Equal(10, report.Scored);
        Assert.Equal(4, report.Malformed);    // malformed, notjson × 2 seeds (each asked 3 times)
        Assert.Equal(2, report.Failed);       // slow × 2 seeds: timed out on every retry
        Assert.Equal([0, 1], report.Seeds);
        double perSeed = (85 + 55 + 70 + 60 + 40) / 5.0;
        Assert.Equal([perSeed, perSeed], report.SeedMeans);
        Assert.Equal(perSeed, report.Mean, 12);
        Assert.Equal(0.0, report.Std, 12);
        Assert.Equal(2, report.Errors["HTTP 429"]);
        Assert.Equal(4, report.Errors["HTTP 500"]);
        Assert.Equal(6, report.Errors["timeout"]);            // 3 attempts × 2 seeds
        Assert.Equal(12, report.Errors["malformed reply"]);   // 2 samples × 2 seeds × 3 asks
        var good = report.Verdicts.First(v => v.ImageId == "good");
        Assert.Equal("Both describe a dog on a beach.", good.Reason);
        Assert.Equal("mostly the same scene", report.Verdicts.First(v => v.ImageId == "fallback").Reason);
        Assert.StartsWith("timed out", report.Verdicts.First(v => v.ImageId == "slow").Error);

        // The request follows clair.py: the paper's prompt, temperature 0, the seed, max_tokens 1024, a bearer key.
        var request = server.Requests.First(r => PromptOf(r).Contains("cand-good"));
        Assert.Equal("judge-model", request["model"]!.GetValue<string>());
        Assert.Equal(0.0, request["temperature"]!.GetValue<double>());
        Assert.Equal(1024, request["max_tokens"]!.GetValue<int>());
        Assert.Contains("Candidate set:\n- cand-good\n\nReference set:\n- a dog on a beach\n- a dog runs on sand\n\nOn a precise scale from 0 to 100", PromptOf(request));
    }

    [Fact]
    public async Task Mllm_judge_sends_the_image_and_reads_the_bracketed_grade()
    {
        var dir = Directory.CreateTempSubdirectory("glance-judge-").FullName;
        try
        {
            var image = Path.Combine(dir, "img.png");
            using (var bitmap = new SKBitmap(8, 8))
            {
                bitmap.Erase(SKColors.Red);
                using var data = SKImage.FromBitmap(bitmap).Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(image, data.ToArray());
            }
            using var server = new FakeChatServer((body, _) => FakeReply.Chat(
                PromptOf(body).Contains("cand-a") ? "{\"Analysis\": \"Accurate and concise.\", \"Judgement\": \"[[4]]\"}"
                : "The answer is fine. Judgement: [[2]]"));
            using var client = new ChatClient(Endpoint(server.Url));
            var samples = new List<JudgeSample> { new("a", "cand-a", ["ref"], image), new("b", "cand-b", ["ref"], null) };
            var report = await JudgeRunner.RunAsync(new MllmJudge(MllmJudge.DefaultInstruction), client, "judge-model", samples,
                new JudgeOptions { Seeds = 3, FirstSeed = 10, Samples = 0 }, cancel: TestContext.Current.CancellationToken);

            Assert.Equal(6, report.Scored);
            Assert.Equal([10, 11, 12], report.Seeds);
            Assert.Equal(3.0, report.Mean, 12);   // (4 + 2) / 2 per seed
            Assert.True(report.ImagesSent);
            Assert.Equal("Accurate and concise.", report.Verdicts.First(v => v.ImageId == "a").Reason);

            // With the image: a multimodal message, the "No COT" setting, the data URI, top_p 0.9, temperature 0.9.
            var withImage = server.Requests.First(r => PromptOf(r).Contains("cand-a"));
            var parts = (JsonArray)withImage["messages"]![0]!["content"]!;
            Assert.Equal("image_url", parts[1]!["type"]!.GetValue<string>());
            Assert.StartsWith("data:image/png;base64,", parts[1]!["image_url"]!["url"]!.GetValue<string>());
            Assert.Equal(0.9, withImage["top_p"]!.GetValue<double>());
            Assert.Equal(0.9, withImage["temperature"]!.GetValue<double>());
            Assert.Contains("Please examine the provided image attentively.", PromptOf(withImage));
            Assert.Contains("[The Start of User Instruction]\nProvide a one-sentence caption for the provided image.\n[The End of User Instruction]", PromptOf(withImage));
            Assert.Contains("[The Start of Assistant\u2019s Answer]\ncand-a\n[The End of Assistant\u2019s Answer]", PromptOf(withImage));
            // Without one: plain text and the blind-judge setting.
            var blind = server.Requests.First(r => PromptOf(r).Contains("cand-b"));
            Assert.IsAssignableFrom<JsonValue>(blind["messages"]![0]!["content"]);
            Assert.Contains("As a blind judge", PromptOf(blind));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Seeds_give_mean_and_population_std_of_per_seed_means()
    {
        // Seed 0 always answers 80, seed 1 always 60: per-seed means 80 and 60 → 70 ± 10 (numpy's std, ddof 0).
        using var server = new FakeChatServer((body, _) => FakeReply.Chat($"{{\"score\": {(body["seed"]!.GetValue<int>() == 0 ? 80 : 60)}}}"));
        using var client = new ChatClient(Endpoint(server.Url));
        var samples = Enumerable.Range(0, 5).Select(i => new JudgeSample($"{i}", $"cand-{i}", ["r"])).ToList();
        var report = await JudgeRunner.RunAsync(new ClairJudge(), client, "m", samples, new JudgeOptions { Seeds = 2, Samples = 0 }, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(70.0, report.Mean, 12);
        Assert.Equal(10.0, report.Std, 12);
    }

    [Fact]
    public void Samples_are_a_fixed_random_subset_in_evaluation_order()
    {
        var samples = Enumerable.Range(0, 50).Select(i => new JudgeSample($"{i}", "c", ["r"])).ToList();
        var a = JudgeRunner.Choose(samples, new JudgeOptions { Samples = 10, SampleSeed = 3 });
        var b = JudgeRunner.Choose(samples, new JudgeOptions { Samples = 10, SampleSeed = 3 });
        Assert.Equal(10, a.Count);
        Assert.Equal(a.Select(s => s.ImageId), b.Select(s => s.ImageId));
        Assert.Equal(a.Select(s => int.Parse(s.ImageId)).Order(), a.Select(s => int.Parse(s.ImageId)));
        Assert.NotEqual(Enumerable.Range(0, 10).Select(i => $"{i}"), a.Select(s => s.ImageId));
        Assert.Equal(50, JudgeRunner.Choose(samples, new JudgeOptions { Samples = 0 }).Count);
    }

    [Theory]
    [InlineData("{\"score\": 72, \"reason\": \"r\"}", 72.0, "r")]
    [InlineData("Sure! {\"reason\": \"similar\", \"score\": 64.5} Hope this helps.", 64.5, "similar")]
    [InlineData("{\"score\": \"90\"}", 90.0, "Unknown")]
    [InlineData("The score is 0.35 because", 35.0, "Unknown")]
    [InlineData("score 88\nreason: both mention a dog", 88.0, "both mention a dog")]
    public void Clair_parses_robustly(string reply, double score, string reason)
    {
        Assert.True(new ClairJudge().TryParse(reply, out var s, out var r));
        Assert.Equal(score, s, 12);
        Assert.Equal(reason, r);
    }

    [Theory]
    [InlineData("no numbers here")]
    [InlineData("{\"score\": 250}")]
    public void Clair_refuses_replies_without_a_usable_score(string reply) =>
        Assert.False(new ClairJudge().TryParse(reply, out _, out _));

    [Theory]
    [InlineData("{\"Analysis\": \"good\", \"Judgement\": \"[[5]]\"}", 5.0)]
    [InlineData("```json\n{\"Analysis\": \"Scores run [[1]] to [[5]]\", \"Judgement\": \"[[3]]\"}\n```", 3.0)]
    [InlineData("Analysis: ok. Judgement: [[2]]", 2.0)]
    [InlineData("{\"Analysis\": \"x\", \"Judgement\": 4}", 4.0)]
    public void Mllm_parses_the_grade(string reply, double score)
    {
        Assert.True(new MllmJudge(MllmJudge.DefaultInstruction).TryParse(reply, out var s, out _));
        Assert.Equal(score, s);
    }

    [Theory]
    [InlineData("I would rate it highly.")]
    [InlineData("[[7]]")]
    public void Mllm_refuses_replies_without_a_grade(string reply) =>
        Assert.False(new MllmJudge(MllmJudge.DefaultInstruction).TryParse(reply, out _, out _));

    [Fact]
    public void Unknown_judge_names_are_errors() =>
        Assert.Contains("unknown judge 'gpt5'", Assert.Throws<GlanceException>(() => CaptionJudge.Create("gpt5")).Message);
}
