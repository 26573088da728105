using System.Text;
using RabbitMQ.Client;

namespace SharpGlance.Queue;

/// <summary>
/// The queues bulk captioning uses, all durable quorum queues (replicated, and the only kind with a
/// delivery limit): <c>glance.work</c> holds one message per image; a message delivered
/// <see cref="Attempts"/> times without an ack (a worker died on it, or failed it) is dead-lettered to
/// <c>glance.dead</c>; each job's results go to <c>glance.results.JOB</c>.
/// </summary>
public static class QueueTopology
{
    public const string Work = "glance.work", Dead = "glance.dead";
    /// <summary>Deliveries of one message at most before it goes to <see cref="Dead"/>.</summary>
    public const int Attempts = 3;

    public static string Results(string job) => "glance.results." + job;

    /// <summary>A job name is part of a queue name: letters, digits, '-', '_' and '.', 1 to 200 of them.</summary>
    public static string CheckJob(string job)
    {
        if (job.Length is 0 or > 200 || !job.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new GlanceException($"--job must be 1 to 200 letters, digits, '-', '_' or '.' (got \"{job}\")");
        return job;
    }

    private static Dictionary<string, object?> Quorum() => new() { ["x-queue-type"] = "quorum" };

    public static async Task DeclareAsync(IChannel channel, string? job = null, CancellationToken cancel = default)
    {
        await channel.QueueDeclareAsync(Dead, durable: true, exclusive: false, autoDelete: false, arguments: Quorum(), cancellationToken: cancel);
        var work = Quorum();
        // delivery-limit counts the deliveries that were not acked: a message is dead-lettered once it has
        // been returned more than this many times.
        work["x-delivery-limit"] = Attempts - 1;
        work["x-dead-letter-exchange"] = "";
        work["x-dead-letter-routing-key"] = Dead;
        await channel.QueueDeclareAsync(Work, durable: true, exclusive: false, autoDelete: false, arguments: work, cancellationToken: cancel);
        if (job is not null) await DeclareResultsAsync(channel, job, cancel);
    }

    public static Task DeclareResultsAsync(IChannel channel, string job, CancellationToken cancel = default) =>
        channel.QueueDeclareAsync(Results(job), durable: true, exclusive: false, autoDelete: false, arguments: Quorum(), cancellationToken: cancel);

    /// <summary>
    /// Opens a connection to <c>amqp://</c> or <c>amqps://</c> (TLS, port 5671 by default, the server's
    /// certificate checked against the host name). Every error is one line that shows the URI without its
    /// user and password (<see cref="Redact"/>).
    /// </summary>
    public static async Task<IConnection> ConnectAsync(string broker, string name, CancellationToken cancel = default)
    {
        if (!Uri.TryCreate(broker, UriKind.Absolute, out var uri))
            throw new GlanceException($"--broker: not a URI: \"{Redact(broker)}\" (amqp://user:password@host:5672/vhost)");
        if (uri.Scheme is not ("amqp" or "amqps"))
            throw new GlanceException($"--broker {Redact(broker)}: the scheme must be amqp:// or amqps:// (TLS), not {uri.Scheme}://");
        var factory = new ConnectionFactory { ClientProvidedName = name, AutomaticRecoveryEnabled = false };
        try { factory.Uri = uri; }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
        {
            throw new GlanceException($"--broker {Redact(broker)}: {e.Message.Replace(uri.UserInfo, "***", StringComparison.Ordinal)}");
        }
        try { return await factory.CreateConnectionAsync(cancel); }
        catch (RabbitMQ.Client.Exceptions.BrokerUnreachableException e)
        {
            throw new GlanceException($"--broker {uri.Scheme}://{uri.Host}:{factory.Port}{uri.AbsolutePath}: cannot connect ({(e.InnerException ?? e).Message})", e);
        }
    }

    /// <summary>The broker URI with its user and password replaced by <c>***</c>, for error lines and logs.</summary>
    public static string Redact(string broker)
    {
        int scheme = broker.IndexOf("://", StringComparison.Ordinal);
        int start = scheme < 0 ? 0 : scheme + 3;
        int at = broker.LastIndexOf('@');
        return at < start ? broker : broker[..start] + "***" + broker[at..];
    }

    /// <summary>A channel whose publishes complete only when the broker has confirmed them (and throw when it refuses).</summary>
    public static Task<IChannel> ConfirmingChannelAsync(IConnection connection, CancellationToken cancel = default) =>
        connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancel);

    /// <summary>A header as the broker returns it (strings arrive as UTF-8 bytes).</summary>
    public static string? Header(IReadOnlyBasicProperties properties, string name) =>
        properties.Headers?.TryGetValue(name, out var value) == true ? value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            null => null,
            _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
        } : null;
}
