using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace SharpGlance.Tests.Serve;

/// <summary>
/// The web page at <c>/</c> in a real browser: Debian's chromium, headless, driven by chromium-driver
/// through Selenium. Both are installed by <c>bash scripts/setup.sh --test</c>; without them the test fails
/// and says so (it never skips).
/// </summary>
public class ServeBrowserTests
{
    private const string Chromium = "/usr/bin/chromium", Driver = "/usr/bin/chromedriver";

    [Fact]
    public async Task The_page_shows_the_first_and_second_glance_of_an_uploaded_image()
    {
        Assert.True(File.Exists(Chromium) && File.Exists(Driver),
            $"the browser test needs Debian's chromium ({Chromium}) and chromium-driver ({Driver}): run `bash scripts/setup.sh --test`");
        await using var host = await ServeHost.DefaultModelAsync();
        var image = ServeHost.Sample(4);
        var expected = await ServeHost.JsonAsync(await host.PostFormAsync(File.ReadAllBytes(image), ("refine", "true")));

        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver)!, Path.GetFileName(Driver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,1000");
        using var driver = new ChromeDriver(service, options, TimeSpan.FromMinutes(2));
        try
        {
            driver.Navigate().GoToUrl(host.Server.Address);
            Assert.Equal("SharpGlance", driver.Title);
            driver.FindElement(By.Id("file")).SendKeys(image);
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (driver.FindElement(By.Id("second")).Text.Length == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "no caption appeared within 2 minutes; status: " + driver.FindElement(By.Id("status")).Text);
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
            Assert.Equal(expected.GetProperty("initial_caption").GetString(), driver.FindElement(By.Id("first")).Text);
            Assert.Equal(expected.GetProperty("caption").GetString(), driver.FindElement(By.Id("second")).Text);
            Assert.Contains("first glance", driver.FindElement(By.Id("first-time")).Text);
            Assert.Contains("second glance", driver.FindElement(By.Id("second-time")).Text);
            Assert.StartsWith("done in", driver.FindElement(By.Id("status")).Text);
            if (Environment.GetEnvironmentVariable("SERVE_SCREENSHOT") is { Length: > 0 } shot)
                driver.GetScreenshot().SaveAsFile(shot);
        }
        finally { driver.Quit(); }
    }
}
