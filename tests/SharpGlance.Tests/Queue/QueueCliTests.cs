using SharpGlance.Cli.Commands;

namespace SharpGlance.Tests.Queue;

/// <summary>Mistakes on the command lines of serve, worker and queue: one error line and exit 2, no broker needed.</summary>
public class QueueCliTests
{
    [Theory]
    [InlineData("serve --host nowhere --port 0", "--host must be an IP address")]
    [InlineData("serve --max-batch 0 --port 0", "--max-batch must be 1 to 256 (got 0)")]
    [InlineData("serve --port 0 --api-key-file /nonexistent/keys.txt", "/nonexistent/keys.txt: cannot read the API key file")]
    [InlineData("serve --port 0 --metrics-need-key", "--metrics-need-key needs an API key")]
    [InlineData("serve --port 0 --client-burst 0", "--client-burst must be 1 to 1000000 (got 0)")]
    [InlineData("serve --port 0 --body-timeout 1", "--body-timeout must be above 1 and at most 3600 seconds (got 1)")]
    [InlineData("queue submit --broker amqp://guest:guest@127.0.0.1:1/ --job a/b x.png", "--job must be 1 to 200 letters")]
    [InlineData("queue submit --broker amqp://guest:guest@127.0.0.1:1/ --job photos x.png", "--broker amqp://127.0.0.1:1/: cannot connect")]
    [InlineData("queue collect --broker not-a-uri --job photos --out r.json", "--broker: not a URI")]
    public void A_bad_option_or_an_unreachable_broker_is_one_line(string commandLine, string message)
    {
        var (code, _, error) = GlanceCli.RunReported(commandLine.Split(' '));
        Assert.Equal(2, code);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_worker_that_cannot_reach_its_broker_says_so_and_exits()
    {
        var (code, _, error) = GlanceCli.RunReported("worker", "--broker", "amqp://guest:guest@127.0.0.1:1/", "--model", TinyModels.CaptionerFolder);
        Assert.Equal(2, code);
        Assert.Contains("cannot connect", error);
    }

    private const string Password = "Sup3r-Secret-42";

    [Theory]
    [InlineData("amqp://glance:" + Password + "@127.0.0.1:1/", "--broker amqp://127.0.0.1:1/: cannot connect")]
    [InlineData("amqps://glance:" + Password + "@127.0.0.1:1/", "--broker amqps://127.0.0.1:1/: cannot connect")]
    [InlineData("http://glance:" + Password + "@127.0.0.1:1/", "the scheme must be amqp:// or amqps://")]
    [InlineData("amqp://glance:" + Password + "@127.0.0.1:notaport/", "--broker: not a URI: \"amqp://***@127.0.0.1:notaport/\"")]
    public void The_broker_password_is_never_printed_whether_the_uri_comes_from_the_command_line_or_a_file(string broker, string message)
    {
        var file = Path.Combine(TempDir.Create("broker"), "broker.txt");
        File.WriteAllText(file, broker + "\n");
        var image = Path.Combine(DefaultModel.SamplesFolder, "scene1.png");
        foreach (var source in new[] { new[] { "--broker", broker }, ["--broker-file", file] })
            foreach (var command in new[] { new[] { "queue", "submit", "--job", "photos", image }, ["queue", "collect", "--job", "photos", "--out", Path.Combine(Path.GetDirectoryName(file)!, "r.json")], ["worker", "--model", TinyModels.CaptionerFolder] })
            {
                var (code, output, error) = GlanceCli.RunReported([.. command, .. source]);
                Assert.Equal(2, code);
                Assert.Contains(message, error);
                Assert.DoesNotContain(Password, output + error);
            }
    }

    [Fact]
    public void The_broker_uri_can_come_from_a_file_named_in_the_environment()
    {
        var file = Path.Combine(TempDir.Create("broker"), "broker.txt");
        File.WriteAllText(file, $"amqp://glance:{Password}@127.0.0.1:1/\n");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "glance.dll"), "queue", "submit", "--job", "photos", Path.Combine(DefaultModel.SamplesFolder, "scene1.png")])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        start.Environment["GLANCE_BROKER_FILE"] = file;
        start.Environment.Remove("GLANCE_BROKER");
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)));
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("--broker amqp://127.0.0.1:1/: cannot connect", error);
        Assert.DoesNotContain(Password, error + output.Result);
    }
}
