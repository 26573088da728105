using System.Net;
using System.Text.RegularExpressions;
using SharpGlance.Cli.Commands;

namespace SharpGlance.Tests.Serve;

/// <summary><c>glance serve</c> as its own process: SIGTERM answers every queued request, then exits 0.</summary>
public partial class ServeProcessTests
{
    [Fact]
    public async Task Sigterm_drains_the_queue_then_exits()
    {
        using var process = GlanceProcess.Start("serve", "--port", "0", "--model", DefaultModel.Folder, "--max-batch", "2", "--max-wait-ms", "0");
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        try
        {
            var line = await process.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken) ?? "";
            var url = AddressPattern().Match(line);
            Assert.True(url.Success, $"no address in the first line: \"{line}\"; stderr: {(process.HasExited ? await stderr : "")}");
            using var client = new HttpClient { BaseAddress = new Uri(url.Value), Timeout = TimeSpan.FromMinutes(3) };
            while ((await client.GetAsync("/readyz", TestContext.Current.CancellationToken)).StatusCode != HttpStatusCode.OK) await Task.Delay(50, TestContext.Current.CancellationToken);

            var bytes = File.ReadAllBytes(ServeHost.Sample(6));
            var sent = Enumerable.Range(0, 6).Select(_ =>
                client.PostAsync("/v1/captions?refine=true", new MultipartFormDataContent { { new ByteArrayContent(bytes), "image", "scene6.png" } })).ToArray();
            // Once requests wait behind a running pass, stop the server.
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (QueueDepth(await client.GetStringAsync("/metrics", TestContext.Current.CancellationToken)) < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "the requests never queued");
                await Task.Delay(20, TestContext.Current.CancellationToken);
            }
            GlanceProcess.Terminate(process.Id);
            var answers = await Task.WhenAll(sent);
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "the server did not exit within a minute of SIGTERM");
            Assert.Equal(0, process.ExitCode);
            Assert.DoesNotContain("Exception", await stderr);
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }

    private static int QueueDepth(string metrics) =>
        DepthPattern().Match(metrics) is { Success: true } m ? int.Parse(m.Groups[1].Value) : 0;

    [GeneratedRegex(@"http://[^\s/]+/")]
    private static partial Regex AddressPattern();

    [GeneratedRegex(@"^glance_queue_depth\{[^}]*\} (\d+)", RegexOptions.Multiline)]
    private static partial Regex DepthPattern();
}
