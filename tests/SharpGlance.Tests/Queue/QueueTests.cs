using System.Text.Json;
using RabbitMQ.Client;
using SharpGlance.Captioning;
using SharpGlance.Preprocessing;
using SharpGlance.Queue;
using SharpGlance.Tests.Preprocessing;

namespace SharpGlance.Tests.Queue;

/// <summary>
/// Bulk captioning against a broker of the tests' own (<see cref="RabbitBroker"/>): workers killed with
/// SIGKILL, a broker restarted mid-job, a poison message — and every image captioned exactly once.
/// </summary>
public class QueueTests(RabbitBroker broker) : IClassFixture<RabbitBroker>
{
    /// <summary><paramref name="count"/> distinct small PNGs named 0000.png, 0001.png, …</summary>
    private static List<string> Images(int count)
    {
        var dir = TempDir.Create("queue-images");
        return Enumerable.Range(0, count).Select(i =>
        {
            var path = Path.Combine(dir, $"{i:D4}.png");
            File.WriteAllBytes(path, TestImages.Png(24, 24, TestImages.RandomBytes(24 * 24 * 3, i)));
            return path;
        }).ToList();
    }

    private static void Submit(string uri, string job, IEnumerable<string> images, bool inline = false)
    {
        var (code, output, error) = GlanceCli.RunReported(["queue", "submit", "--broker", uri, "--job", job, .. inline ? new[] { "--inline" } : [], .. images]);
        Assert.True(code == 0, error);
        Assert.Contains("submitted", output);
    }

    /// <summary>Runs <c>glance queue collect</c>; returns its exit code and the JSONL lines.</summary>
    private static (int Code, List<JsonElement> Lines, string Error) Collect(string uri, string job, double timeout)
    {
        var output = Path.Combine(TempDir.Create("collect"), "results.json");
        var (code, _, error) = GlanceCli.RunReported("queue", "collect", "--broker", uri, "--job", job, "--out", output, "--timeout", timeout.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var lines = File.Exists(Path.ChangeExtension(output, ".jsonl"))
            ? File.ReadAllLines(Path.ChangeExtension(output, ".jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList() : [];
        if (File.Exists(output)) Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(File.ReadAllText(output)).RootElement.ValueKind);
        return (code, lines, error);
    }

    private async Task<uint> CountAsync(string queue)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(broker.Uri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    private async Task WaitForResultsAsync(string job, int atLeast)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (await CountAsync(QueueTopology.Results(job)) < atLeast)
        {
            Assert.True(DateTime.UtcNow < deadline, $"fewer than {atLeast} results of {job} within 3 minutes");
            await Task.Delay(100);
        }
    }

    private static void AssertEachImageOnce(IReadOnlyList<string> images, List<JsonElement> lines)
    {
        Assert.Equal(images.Order(), lines.Select(l => l.GetProperty("image").GetString()!).Order());
        Assert.All(lines, l => Assert.False(string.IsNullOrEmpty(l.GetProperty("caption").GetString())));
    }

    [Fact]
    public async Task Two_workers_one_killed_with_sigkill_mid_job_caption_every_image_exactly_once()
    {
        var images = Images(40);
        Submit(broker.Uri, "killed", images);
        string[] worker = ["worker", "--broker", broker.Uri, "--model", TinyModels.CaptionerFolder, "--batch", "2", "--max-new-tokens", "24"];
        using var doomed = GlanceProcess.Start(worker);
        using var survivor = GlanceProcess.Start(worker);
        try
        {
            await WaitForResultsAsync("killed", 4);
            doomed.Kill();   // SIGKILL: its unacked batch goes back to the queue
            await doomed.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.True(await CountAsync(QueueTopology.Results("killed")) < images.Count, "the job was done before a worker was killed");
            var (code, lines, error) = Collect(broker.Uri, "killed", timeout: 120);
            Assert.True(code == 0, error);
            AssertEachImageOnce(images, lines);
        }
        finally
        {
            if (!survivor.HasExited) GlanceProcess.Terminate(survivor.Id);
            Assert.True(survivor.WaitForExit(TimeSpan.FromMinutes(1)), "the worker did not stop on SIGTERM");
            Assert.Equal(143, survivor.ExitCode);
        }
    }

    [Fact]
    public async Task A_broker_restart_mid_job_loses_nothing()
    {
        var images = Images(30);
        Submit(broker.Uri, "restart", images, inline: true);
        using var captioner = Captioner.Load(TinyModels.CaptionerFolder, new CaptionerLoadOptions { TrimVision = true });
        using var stop = new CancellationTokenSource();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var worker = new QueueWorker(captioner, new WorkerOptions
        {
            Broker = broker.Uri, BatchSize = 2,
            Caption = new CaptionRunOptions { Generation = SharpGlance.Generation.GenerationOptions.Paper with { MaxNewTokens = 24 } },
        }, log.Enqueue);
        var running = Task.Run(() => worker.RunAsync(stop.Token), TestContext.Current.CancellationToken);
        try
        {
            await WaitForResultsAsync("restart", 4);
            await broker.RestartAsync();
            var (code, lines, error) = Collect(broker.Uri, "restart", timeout: 120);
            Assert.True(code == 0, error + string.Join("\n", log));
            AssertEachImageOnce(images, lines);
            Assert.Contains(log, l => l.Contains("reconnecting"));
        }
        finally
        {
            await stop.CancelAsync();
            await running;
        }
    }

    [Fact]
    public async Task A_poison_message_ends_in_the_dead_letter_queue_and_a_bad_image_in_an_error_result()
    {
        var dir = TempDir.Create("poison");
        var good = Images(2);
        var bad = Path.Combine(dir, "bad.png");
        File.WriteAllText(bad, "not an image");
        // An image the worker's captioning fails on every time (the failure is injected; the broker's
        // delivery limit and dead-lettering are real).
        var poison = Path.Combine(dir, "poison.png");
        File.WriteAllBytes(poison, TestImages.Png(40, 40, new byte[40 * 40 * 3]));
        Submit(broker.Uri, "poison", [.. good, bad, poison], inline: true);
        // A message that is not a work message at all goes to the dead-letter queue at once.
        await using (var connection = await new ConnectionFactory { Uri = new Uri(broker.Uri) }.CreateConnectionAsync(TestContext.Current.CancellationToken))
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken))
            await channel.BasicPublishAsync("", QueueTopology.Work, "garbage"u8.ToArray(), cancellationToken: TestContext.Current.CancellationToken);

        using var captioner = Captioner.Load(TinyModels.CaptionerFolder, new CaptionerLoadOptions { TrimVision = true });
        using var stop = new CancellationTokenSource();
        int poisonAttempts = 0;
        var worker = new QueueWorker(captioner, new WorkerOptions
        {
            Broker = broker.Uri, BatchSize = 4,
            Caption = new CaptionRunOptions { Generation = SharpGlance.Generation.GenerationOptions.Paper with { MaxNewTokens = 8 } },
        });
        worker.CaptionBatch = batch =>
        {
            if (batch.Any(i => i.Width == 40)) { Interlocked.Increment(ref poisonAttempts); throw new InvalidOperationException("poisoned"); }
            return CaptionPipeline.CaptionImages(captioner, batch, new CaptionRunOptions { Generation = SharpGlance.Generation.GenerationOptions.Paper with { MaxNewTokens = 8 } });
        };
        var running = Task.Run(() => worker.RunAsync(stop.Token), TestContext.Current.CancellationToken);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (await CountAsync(QueueTopology.Dead) < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "the poison message did not reach the dead-letter queue");
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
            var (code, lines, error) = Collect(broker.Uri, "poison", timeout: 3);
            Assert.Equal(2, code);
            Assert.Contains("1 images have no result yet", error);
            Assert.Equal(3, lines.Count);
            Assert.Contains("not a recognised image", lines.Single(l => l.GetProperty("image").GetString() == bad).GetProperty("error").GetString());
            Assert.All(lines.Where(l => good.Contains(l.GetProperty("image").GetString()!)), l => Assert.NotNull(l.GetProperty("caption").GetString()));
        }
        finally
        {
            await stop.CancelAsync();
            await running;
        }
        // Alone in its batch on every delivery (after the first, shared one): dead-lettered after the limit.
        Assert.InRange(poisonAttempts, QueueTopology.Attempts, QueueTopology.Attempts + 1);
        await using var c = await new ConnectionFactory { Uri = new Uri(broker.Uri) }.CreateConnectionAsync(TestContext.Current.CancellationToken);
        await using var ch = await c.CreateChannelAsync(cancellationToken: TestContext.Current.CancellationToken);
        var dead = new List<string?>();
        while (await ch.BasicGetAsync(QueueTopology.Dead, autoAck: true, TestContext.Current.CancellationToken) is { } m) dead.Add(QueueTopology.Header(m.BasicProperties, "glance-image"));
        Assert.Equal([null, "poison.png"], dead.Select(d => d is null ? null : Path.GetFileName(d)).Order());
    }

    [Fact]
    public void A_wrong_password_is_refused_and_never_printed()
    {
        const string wrong = "Wr0ng-Passw0rd-77";
        var uri = broker.Uri.Replace("guest:guest@", $"guest:{wrong}@", StringComparison.Ordinal);
        Assert.Contains(wrong, uri);
        var (code, output, error) = GlanceCli.RunReported("queue", "submit", "--broker", uri, "--job", "refused", Images(1)[0]);
        Assert.Equal(2, code);
        Assert.Contains("cannot connect", error);
        Assert.Contains("ACCESS_REFUSED", error);
        Assert.DoesNotContain(wrong, output + error);
    }
}
