using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SharpGlance.Tests.Serve;

/// <summary>
/// HTTP/1.1 over a bare socket to a loopback server, for requests HttpClient will not send: a body shorter
/// than its Content-Length, a Content-Length of 2 GB over 100 bytes, headers or a body trickled a byte at a time. Every request says
/// <c>Connection: close</c>, so the answer ends when the server closes.
/// </summary>
public static class RawHttp
{
    public sealed record Answer(int Status, string Headers, string Body);

    /// <summary>The request head: request line, Host, Connection: close, the given headers and a blank line.</summary>
    public static byte[] Head(string method, string target, Uri server, params string[] headers) =>
        Encoding.ASCII.GetBytes($"{method} {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n"
            + string.Concat(headers.Select(h => h + "\r\n")) + "\r\n");

    /// <summary>Sends <paramref name="request"/> and reads the answer until the server closes, 60 s at most.</summary>
    public static async Task<Answer> SendAsync(Uri server, byte[] request)
    {
        using var socket = await ConnectAsync(server);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        // Reading from the start: a server may answer (413, 401) before the body is all sent, then close.
        var received = new MemoryStream();
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[16384];
            int n;
            try { while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancel.Token)) > 0) received.Write(buffer, 0, n); }
            catch (SocketException) { }   // reset after the answer: what came is kept
        });
        try { await socket.SendAsync(request); }
        catch (SocketException) { }   // the server stopped reading and closed: its answer, if any, is read above
        await reading;
        return Parse(received.ToArray());
    }

    public static async Task<Socket> ConnectAsync(Uri server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port));
        return socket;
    }

    /// <summary>Status, headers and body (chunked transfer decoded); status 0 when nothing came back.</summary>
    public static Answer Parse(byte[] bytes)
    {
        int end = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        var head = Encoding.ASCII.GetString(bytes, 0, end < 0 ? bytes.Length : end);
        if (end < 0 || !head.StartsWith("HTTP/1.1 ", StringComparison.Ordinal)) return new Answer(0, head, "");
        var body = bytes.AsSpan(end + 4);
        int status = int.Parse(head.AsSpan(9, 3), provider: System.Globalization.CultureInfo.InvariantCulture);
        bool chunked = head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);
        return new Answer(status, head, Encoding.UTF8.GetString(chunked ? Dechunk(body) : body));
    }

    private static byte[] Dechunk(ReadOnlySpan<byte> chunked)
    {
        var body = new MemoryStream();
        while (true)
        {
            int line = chunked.IndexOf("\r\n"u8);
            if (line < 0) break;
            int size = Convert.ToInt32(Encoding.ASCII.GetString(chunked[..line]).Split(';')[0].Trim(), 16);
            if (size == 0) break;
            var data = chunked[(line + 2)..];
            body.Write(data[..Math.Min(size, data.Length)]);
            if (data.Length < size + 2) break;
            chunked = data[(size + 2)..];
        }
        return body.ToArray();
    }
}
