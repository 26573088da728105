namespace SharpGlance.Tests.Queue;

/// <summary>Mistakes on the command lines of serve, worker and queue: one error line and exit 2, no broker needed.</summary>
public class QueueCliTests
{
    [Theory]
    [InlineData("serve --host nowhere --port 0", "--host must be an IP address")]
    [InlineData("serve --max-batch 0 --port 0", "--max-batch must be 1 to 256 (got 0)")]
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
}
