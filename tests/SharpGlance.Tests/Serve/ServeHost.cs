using System.Net.Http.Json;
using System.Text.Json;
using SharpGlance.Cli.Commands;
using SharpGlance.Server;
using SharpGlance.Tests.Preprocessing;

namespace SharpGlance.Tests.Serve;

/// <summary>A <see cref="GlanceServer"/> on a free loopback port, in this process, with a client; disposing stops it.</summary>
public sealed class ServeHost : IAsyncDisposable
{
    public GlanceServer Server { get; }
    public HttpClient Client { get; }

    private ServeHost(GlanceServer server)
    {
        Server = server;
        Client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(3) };
    }

    /// <summary>The embedded default model (it has a second glance).</summary>
    public static Task<ServeHost> DefaultModelAsync(Func<ServeOptions, ServeOptions>? change = null) =>
        StartAsync(new ServeOptions { ModelFolder = DefaultModel.Folder, ModelId = "sharpglance-default", Port = 0 }, change);

    /// <summary>The tiny random-weight captioner (first glance only; fast).</summary>
    public static Task<ServeHost> TinyAsync(Func<ServeOptions, ServeOptions>? change = null) =>
        StartAsync(new ServeOptions { ModelFolder = TinyModels.CaptionerFolder, ModelId = "tiny", Port = 0 }, change);

    /// <summary>The model in <paramref name="folder"/> (any kind glance serve loads).</summary>
    public static Task<ServeHost> FolderAsync(string folder, string id) =>
        StartAsync(new ServeOptions { ModelFolder = folder, ModelId = id, Port = 0 }, null);

    private static async Task<ServeHost> StartAsync(ServeOptions options, Func<ServeOptions, ServeOptions>? change)
    {
        var host = new ServeHost(await GlanceServer.StartAsync(change?.Invoke(options) ?? options, handleSignals: false));
        await host.WaitReadyAsync();
        return host;
    }

    public async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while ((await Client.GetAsync("/readyz")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "the server did not become ready within 2 minutes");
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until <paramref name="depth"/> requests are queued (the server's own count).</summary>
    public async Task WaitQueuedAsync(int depth)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (Server.Batcher.Depth != depth)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the queue holds {Server.Batcher.Depth} requests, not {depth}");
            await Task.Delay(10);
        }
    }

    /// <summary>POSTs an image to /v1/captions as multipart form data, with the options as form fields.</summary>
    public Task<HttpResponseMessage> PostFormAsync(byte[] image, params (string Name, string Value)[] fields) => PostFormAsync(image, CancellationToken.None, fields);

    public Task<HttpResponseMessage> PostFormAsync(byte[] image, CancellationToken cancel, params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent { { new ByteArrayContent(image), "image", "image.png" } };
        foreach (var (name, value) in fields) form.Add(new StringContent(value), name);
        return Client.PostAsync("/v1/captions", form, cancel);
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>())!;

    /// <summary>A small valid PNG (solid colour); <paramref name="shade"/> tells images apart.</summary>
    public static byte[] SmallPng(byte shade = 90) => TestImages.Png(32, 32, Enumerable.Repeat(shade, 32 * 32 * 3).ToArray());

    public static string Sample(int n) => Path.Combine(DefaultModel.SamplesFolder, $"scene{n}.png");

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();   // first: it answers what is queued to this client
        Client.Dispose();
    }
}
