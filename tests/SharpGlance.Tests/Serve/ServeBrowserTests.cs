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

    private static ChromeDriver StartBrowser()
    {
        Assert.True(File.Exists(Chromium) && File.Exists(Driver),
            $"the browser test needs Debian's chromium ({Chromium}) and chromium-driver ({Driver}): run `bash scripts/setup.sh --test`");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver)!, Path.GetFileName(Driver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,1000");
        return new ChromeDriver(service, options, TimeSpan.FromMinutes(2));
    }

    private static async Task WaitForText(ChromeDriver driver, string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (driver.FindElement(By.Id(id)).Text.Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"#{id} stayed empty for 2 minutes; status: " + driver.FindElement(By.Id("status")).Text);
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task The_page_shows_the_first_and_second_glance_of_an_uploaded_image()
    {
        await using var host = await ServeHost.DefaultModelAsync();
        var image = ServeHost.Sample(4);
        var expected = await ServeHost.JsonAsync(await host.PostFormAsync(File.ReadAllBytes(image), ("refine", "true")));

        using var driver = StartBrowser();
        try
        {
            driver.Navigate().GoToUrl(host.Server.Address);
            Assert.Equal("SharpGlance", driver.Title);
            driver.FindElement(By.Id("file")).SendKeys(image);
            await WaitForText(driver, "second");
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

    [Fact]
    public async Task With_a_key_the_page_asks_for_it_once_and_keeps_it_for_the_tab()
    {
        const string key = "browser-key-5f2c";
        await using var host = await ServeHost.TinyAsync(o => o with { ApiKeys = SharpGlance.Server.ApiKeys.Of([key]) });
        using var driver = StartBrowser();
        try
        {
            driver.Navigate().GoToUrl(host.Server.Address);
            Assert.True(driver.FindElement(By.Id("keyform")).Displayed, "the page did not ask for the key");
            driver.FindElement(By.Id("key")).SendKeys(key);
            driver.FindElement(By.Id("usekey")).Click();
            Assert.False(driver.FindElement(By.Id("keyform")).Displayed);
            driver.FindElement(By.Id("file")).SendKeys(ServeHost.Sample(2));
            await WaitForText(driver, "first");
            Assert.StartsWith("done in", driver.FindElement(By.Id("status")).Text);
            Assert.Equal(key, driver.ExecuteScript("return sessionStorage.getItem('sharpglance-api-key')"));
            // Reloaded, the tab still has it: no question.
            driver.Navigate().Refresh();
            Assert.False(driver.FindElement(By.Id("keyform")).Displayed);
            // A key the server refuses is forgotten, and the page asks again.
            driver.ExecuteScript("sessionStorage.setItem('sharpglance-api-key', 'not-the-key')");
            driver.FindElement(By.Id("file")).SendKeys(ServeHost.Sample(3));
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (!driver.FindElement(By.Id("keyform")).Displayed)
            {
                Assert.True(DateTime.UtcNow < deadline, "the page did not ask again after a 401; status: " + driver.FindElement(By.Id("status")).Text);
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
            Assert.Contains("not one this server accepts", driver.FindElement(By.Id("status")).Text);
            Assert.Null(driver.ExecuteScript("return sessionStorage.getItem('sharpglance-api-key')"));
        }
        finally { driver.Quit(); }
    }
}
