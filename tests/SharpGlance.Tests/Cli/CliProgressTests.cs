using SharpGlance.Cli;

namespace SharpGlance.Tests.Cli;

/// <summary>The ETA that progress log lines carry.</summary>
public class CliProgressTests
{
    [Theory]
    [InlineData(10, 2, 12, "ETA 0:00:50")]       // 5 s each, 10 to go
    [InlineData(3600, 1, 3, "ETA 2:00:00")]      // hours are not wrapped at 24 or dropped
    [InlineData(5, 0, 10, "")]                   // nothing done yet: no rate to go by
    [InlineData(5, 10, 10, "")]                  // all done
    public void Eta_extrapolates_the_rate_so_far(double elapsedSeconds, double done, double total, string expected)
    {
        Assert.Equal(expected, CliProgress.Eta(TimeSpan.FromSeconds(elapsedSeconds), done, total));
    }
}
