using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SharpGlance.Tests.Queue;

/// <summary>
/// A RabbitMQ broker of the tests' own: Debian's rabbitmq-server as a child process, its node name, ports
/// (chosen free at run time, on 127.0.0.1), database, logs and Erlang cookie in a temp folder, removed on
/// dispose. <see cref="RestartAsync"/> stops it and starts it again on the same data. A missing
/// rabbitmq-server fails the test with the command that installs it.
/// </summary>
public sealed class RabbitBroker : IAsyncLifetime
{
    private const string Server = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private readonly string _dir = TempDir.Create("rabbit");
    private readonly int _port = FreePort(), _distPort = FreePort();
    private readonly bool _epmdWasRunning = Process.GetProcessesByName("epmd").Length > 0;
    private Process? _process;

    public string Uri => $"amqp://guest:guest@127.0.0.1:{_port}/";

    public async ValueTask InitializeAsync()
    {
        Assert.True(File.Exists(Server), $"the queue tests need Debian's rabbitmq-server ({Server}): run `bash scripts/setup.sh --test`");
        File.WriteAllText(Path.Combine(_dir, "enabled_plugins"), "[].");
        await StartAsync();
    }

    private async Task StartAsync()
    {
        var start = new ProcessStartInfo(Server) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        foreach (var (k, v) in new Dictionary<string, string>
        {
            ["HOME"] = _dir,   // the Erlang cookie
            ["RABBITMQ_NODENAME"] = $"glance-test-{_port}@localhost",
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODE_PORT"] = _port.ToString(),
            ["RABBITMQ_DIST_PORT"] = _distPort.ToString(),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(_dir, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(_dir, "log"),
            ["RABBITMQ_LOGS"] = Path.Combine(_dir, "log", "broker.log"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(_dir, "rabbitmq"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_dir, "enabled_plugins"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(_dir, "broker.pid"),
        })
            start.Environment[k] = v;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (!await Accepts())
        {
            Assert.False(_process.HasExited, $"rabbitmq-server exited with {(_process.HasExited ? _process.ExitCode : 0)}; its log is in {_dir}/log");
            Assert.True(DateTime.UtcNow < deadline, "rabbitmq-server did not accept connections within 2 minutes");
            await Task.Delay(200);
        }
    }

    private async Task<bool> Accepts()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, _port);
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>SIGTERM (the broker's clean stop), waited for.</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        var pidFile = Path.Combine(_dir, "broker.pid");
        int pid = File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int p) ? p : _process.Id;
        GlanceProcess.Terminate(pid);
        using var wait = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try { await _process.WaitForExitAsync(wait.Token); }
        catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        while (await Accepts()) await Task.Delay(100);
    }

    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        // epmd, Erlang's name server, outlives the node; stop it only if this broker started it.
        if (!_epmdWasRunning)
            foreach (var epmd in Process.GetProcessesByName("epmd")) { epmd.Kill(); epmd.Dispose(); }
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
