using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using SharpGlance.Tests.Preprocessing;

namespace SharpGlance.Tests.Serve;

/// <summary><c>glance serve</c>'s HTTP API on a loopback port: captions, limits, errors, batching, metrics.</summary>
public class ServeApiTests
{
    [Fact]
    public async Task Captions_equal_glance_caption_for_the_same_images_and_options()
    {
        var images = new[] { 1, 3, 5 }.Select(ServeHost.Sample).ToArray();
        var (code, output, _) = GlanceCli.Run(["caption", "--json", "--refine", "--precision", "fp32", .. images]);   // the server here runs fp32 (ServeOptions' default)
        Assert.Equal(0, code);
        var expected = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var (greedyCode, greedyOutput, _) = GlanceCli.Run(["caption", "--json", "--beams", "1", "--max-new-tokens", "12", "--precision", "fp32", .. images]);
        Assert.Equal(0, greedyCode);
        var greedy = greedyOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();

        await using var host = await ServeHost.DefaultModelAsync();
        for (int i = 0; i < images.Length; i++)
        {
            var bytes = File.ReadAllBytes(images[i]);
            // Multipart with the options as form fields: the second glance, the paper's 3 beams.
            var refined = await ServeHost.JsonAsync(await host.PostFormAsync(bytes, ("refine", "true")));
            Assert.Equal(expected[i].GetProperty("caption").GetString(), refined.GetProperty("caption").GetString());
            Assert.Equal(expected[i].GetProperty("initial").GetString(), refined.GetProperty("initial_caption").GetString());
            Assert.Equal("sharpglance-default", refined.GetProperty("model").GetString());
            Assert.True(refined.GetProperty("timings").GetProperty("second_glance_ms").GetDouble() > 0);
            // The raw body with the options in the query: greedy, 12 new tokens, first glance only.
            var raw = new ByteArrayContent(bytes);
            raw.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            var response = await host.Client.PostAsync("/v1/captions?beams=1&max_new_tokens=12", raw, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var first = await ServeHost.JsonAsync(response);
            Assert.Equal(greedy[i].GetProperty("caption").GetString(), first.GetProperty("caption").GetString());
            Assert.Equal(JsonValueKind.Null, first.GetProperty("initial_caption").ValueKind);
        }
    }

    [Fact]
    public async Task A_bad_image_is_400_with_one_clear_message()
    {
        await using var host = await ServeHost.TinyAsync();
        var response = await host.PostFormAsync("this is not an image"u8.ToArray());
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await ServeHost.JsonAsync(response)).GetProperty("error");
        Assert.Equal("image: not a recognised image (PNG, JPEG, WebP, GIF or BMP), or its header is corrupt", error.GetProperty("message").GetString());
        Assert.Equal(400, error.GetProperty("code").GetInt32());

        // Truncated, an empty body, a bad option, a second glance the model lacks: each one line naming the problem.
        var png = ServeHost.SmallPng();
        await AssertError(await host.PostFormAsync(png[..50]), HttpStatusCode.BadRequest, "image: ");
        await AssertError(await host.Client.PostAsync("/v1/captions", new ByteArrayContent([]), TestContext.Current.CancellationToken), HttpStatusCode.BadRequest, "no image");
        await AssertError(await host.PostFormAsync(png, ("beams", "0")), HttpStatusCode.BadRequest, "beams must be 1 to 32, got 0");
        await AssertError(await host.PostFormAsync(png, ("refine", "true")), HttpStatusCode.BadRequest, "refinement needs a captioner with DeepLens");
        Assert.Equal(0, host.Server.Batcher.Images);
    }

    [Fact]
    public async Task An_image_over_the_pixel_limit_is_refused_before_decoding()
    {
        await using var host = await ServeHost.TinyAsync();
        // The header says 30000×30000 (900 megapixels, 3.6 GB decoded); the data is 4×4.
        var bomb = TestImages.Png(4, 4, new byte[4 * 4 * 3], declaredWidth: 30000, declaredHeight: 30000);
        var response = await host.PostFormAsync(bomb);
        await AssertError(response, HttpStatusCode.BadRequest, "image: image is 30000×30000 = 900,000,000 pixels, above the limit of 40,000,000");
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { MaxImageBytes = 4096 });
        var big = new byte[10_000];
        await AssertError(await host.PostFormAsync(big), HttpStatusCode.RequestEntityTooLarge, "above the limit of 4,096");
        await AssertError(await host.Client.PostAsync("/v1/captions", new ByteArrayContent(big), TestContext.Current.CancellationToken), HttpStatusCode.RequestEntityTooLarge, "above the limit of 4,096");
        // In a chat request, as base64: refused before it is decoded.
        var chat = new StringContent("""{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,"""
            + Convert.ToBase64String(big) + "\"}}]}]}",
            System.Text.Encoding.UTF8, "application/json");
        await AssertError(await host.Client.PostAsync("/v1/chat/completions", chat, TestContext.Current.CancellationToken), HttpStatusCode.RequestEntityTooLarge, "above the limit of 4,096");
        // Sent chunked (no Content-Length): refused once the limit is passed.
        var chunked = new StreamContent(new MemoryStream(new byte[1 << 20]));
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/captions") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        var response = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task A_full_queue_is_503_with_retry_after()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { QueueCapacity = 2, MaxBatch = 1 });
        var png = ServeHost.SmallPng();
        Task<HttpResponseMessage> first, second;
        using (host.Server.Batcher.Hold())
        {
            first = host.PostFormAsync(png, ("max_new_tokens", "3"));
            second = host.PostFormAsync(png, ("max_new_tokens", "3"));
            await host.WaitQueuedAsync(2);
            var refused = await host.PostFormAsync(png, ("max_new_tokens", "3"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {refused.Headers.RetryAfter}");
            Assert.Contains("the queue is full", (await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)));
        }
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
    }

    [Fact]
    public async Task Concurrent_requests_are_answered_from_fewer_batched_passes()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { MaxBatch = 4, MaxWaitMs = 50 });
        long before = host.Server.Batcher.Passes;
        var images = Enumerable.Range(0, 6).Select(i => ServeHost.SmallPng((byte)(40 * i))).ToArray();
        // Alone, each image's caption: the reference for the batched ones.
        var alone = new List<string>();
        foreach (var image in images)
            alone.Add((await ServeHost.JsonAsync(await host.PostFormAsync(image, ("max_new_tokens", "6")))).GetProperty("caption").GetString()!);
        long afterAlone = host.Server.Batcher.Passes;
        Assert.Equal(6, afterAlone - before);

        Task<HttpResponseMessage>[] concurrent;
        using (host.Server.Batcher.Hold())
        {
            concurrent = images.Select(image => host.PostFormAsync(image, ("max_new_tokens", "6"))).ToArray();
            await host.WaitQueuedAsync(6);
        }
        var answers = await Task.WhenAll(concurrent.Select(async t => await ServeHost.JsonAsync(await t)));
        // 6 requests, batches of at most 4: two passes, each running the tower once.
        Assert.Equal(2, host.Server.Batcher.Passes - afterAlone);
        Assert.Equal([4, 4, 4, 4, 2, 2], answers.Select(a => a.GetProperty("timings").GetProperty("batch_size").GetInt32()).Order().Reverse());
        Assert.Equal(alone, answers.Select(a => a.GetProperty("caption").GetString()!));
        // The counters are on /metrics too.
        var metrics = await host.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains("glance_batches_total", metrics);
        Assert.Contains("glance_batch_size_bucket", metrics);
    }

    [Fact]
    public async Task Requests_with_other_options_wait_for_their_own_batch()
    {
        await using var host = await ServeHost.TinyAsync(o => o with { MaxBatch = 8 });
        Task<HttpResponseMessage>[] sent;
        using (host.Server.Batcher.Hold())
        {
            sent = [.. Enumerable.Range(0, 4).Select(i => host.PostFormAsync(ServeHost.SmallPng(), ("max_new_tokens", i % 2 == 0 ? "3" : "5")))];
            await host.WaitQueuedAsync(4);
        }
        var answers = await Task.WhenAll(sent.Select(async t => await ServeHost.JsonAsync(await t)));
        Assert.All(answers, a => Assert.Equal(2, a.GetProperty("timings").GetProperty("batch_size").GetInt32()));
        Assert.Equal(2, answers.Select(a => a.GetProperty("timings").GetProperty("batch").GetInt64()).Distinct().Count());
    }

    [Fact]
    public async Task A_client_that_disconnects_leaves_the_queue()
    {
        await using var host = await ServeHost.TinyAsync();
        long images = host.Server.Batcher.Images;
        using (host.Server.Batcher.Hold())
        {
            using var cancel = new CancellationTokenSource();
            var gone = host.PostFormAsync(ServeHost.SmallPng(), cancel.Token, ("max_new_tokens", "3"));
            await host.WaitQueuedAsync(1);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
            await host.WaitQueuedAsync(0);
        }
        var response = await host.PostFormAsync(ServeHost.SmallPng(), ("max_new_tokens", "3"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, host.Server.Batcher.Images - images);
        Assert.Contains("glance_abandoned_total", await host.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Stopping_drains_the_queue_then_refuses()
    {
        var host = await ServeHost.TinyAsync(o => o with { MaxBatch = 2 });
        Task<HttpResponseMessage>[] queued;
        Task stopping;
        using (host.Server.Batcher.Hold())
        {
            queued = [.. Enumerable.Range(0, 5).Select(_ => host.PostFormAsync(ServeHost.SmallPng(), ("max_new_tokens", "3")))];
            await host.WaitQueuedAsync(5);
            stopping = host.DisposeAsync().AsTask();
            await Task.Delay(200, TestContext.Current.CancellationToken);
            Assert.True(host.Server.Batcher.Draining);
        }
        await stopping;
        Assert.All(await Task.WhenAll(queued), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }

    [Fact]
    public async Task Health_readiness_metrics_models_and_the_openapi_document()
    {
        await using var host = await ServeHost.TinyAsync();
        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Contains("\"ready\"", await host.Client.GetStringAsync("/readyz", TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.OK, (await host.PostFormAsync(ServeHost.SmallPng(), ("max_new_tokens", "3"))).StatusCode);
        var metrics = await host.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        foreach (var name in new[] { "glance_requests_total", "glance_request_duration_seconds_bucket", "glance_batch_size_bucket", "glance_batches_total", "glance_queue_depth" })
            Assert.Contains(name, metrics);
        var models = JsonDocument.Parse(await host.Client.GetStringAsync("/v1/models", TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("tiny", models.GetProperty("data")[0].GetProperty("id").GetString());
        var openapi = JsonDocument.Parse(await host.Client.GetStringAsync("/openapi/v1.json", TestContext.Current.CancellationToken)).RootElement.GetProperty("paths");
        foreach (var path in new[] { "/v1/captions", "/v1/chat/completions", "/healthz", "/readyz", "/v1/models" })
            Assert.True(openapi.TryGetProperty(path, out _), $"the OpenAPI document lacks {path}");
        Assert.True(openapi.GetProperty("/v1/captions").GetProperty("post").GetProperty("requestBody").GetProperty("content").TryGetProperty("multipart/form-data", out _));
    }

    private static async Task AssertError(HttpResponseMessage response, HttpStatusCode status, string message)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} {body}");
        var text = JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains(message, text);
        Assert.DoesNotContain('\n', text);
        Assert.DoesNotContain("   at ", text);
    }
}
