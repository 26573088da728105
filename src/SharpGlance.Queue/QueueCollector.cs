using System.Text.Json;
using RabbitMQ.Client;

namespace SharpGlance.Queue;

/// <summary>What <c>glance queue collect</c> gathered: one result per image, in submit order.</summary>
public sealed record CollectOutcome(IReadOnlyList<ResultMessage> Results, long Total, int Duplicates)
{
    public int Errors => Results.Count(r => r.Error is not null);
    public bool Complete => Results.Count == Total;
}

/// <summary>
/// <c>glance queue collect</c>: reads a job's results until every image has one, keeping the first result of
/// each image (a redelivered message can be captioned twice), and writes them as COCO results JSON
/// (<c>[{"image_id", "caption"}]</c>, the captioned images) and JSONL beside it (one line per image, errors too).
/// The results are acked only after both files are written, so a collect that dies loses nothing.
/// </summary>
public static class QueueCollector
{
    public static async Task<CollectOutcome> CollectAsync(string broker, string job, string output, TimeSpan? idleTimeout = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancel = default)
    {
        QueueTopology.CheckJob(job);
        await using var connection = await QueueTopology.ConnectAsync(broker, "glance-collect", cancel);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancel);
        await QueueTopology.DeclareAsync(channel, job, cancel);
        var byIndex = new SortedDictionary<long, ResultMessage>();
        long total = -1;
        int duplicates = 0;
        ulong lastTag = 0;
        var lastNew = DateTime.UtcNow;
        while (total < 0 || byIndex.Count < total)
        {
            var got = await channel.BasicGetAsync(QueueTopology.Results(job), autoAck: false, cancel);
            if (got is null)
            {
                if (idleTimeout is { } idle && DateTime.UtcNow - lastNew > idle) break;
                await Task.Delay(200, cancel);
                continue;
            }
            lastTag = got.DeliveryTag;
            if (ResultMessage.Parse(got.Body.Span) is not { } result || result.Job != job) continue;
            total = result.Total;
            if (!byIndex.TryAdd(result.Index, result)) { duplicates++; continue; }
            lastNew = DateTime.UtcNow;
            progress?.Report(new ProgressUpdate(byIndex.Count, total));
        }
        var results = byIndex.Values.ToList();
        Write(output, results);
        if (lastTag > 0) await channel.BasicAckAsync(lastTag, multiple: true, cancel);
        return new CollectOutcome(results, Math.Max(total, 0), duplicates);
    }

    private static void Write(string output, IReadOnlyList<ResultMessage> results)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(output))!;
        Directory.CreateDirectory(dir);
        var coco = results.Where(r => r.Caption is not null).Select(r => new Dictionary<string, object> { ["image_id"] = ImageId(r.Image), ["caption"] = r.Caption! });
        WriteAtomically(output, JsonSerializer.Serialize(coco, ResultMessage.Json));
        var lines = results.Select(r => JsonSerializer.Serialize(new { image = r.Image, image_id = ImageId(r.Image), caption = r.Caption, initial = r.Initial, error = r.Error }, ResultMessage.Json));
        WriteAtomically(Path.ChangeExtension(output, ".jsonl"), string.Join("\n", lines) + (results.Count > 0 ? "\n" : ""));
    }

    /// <summary>The image's id as <c>glance eval</c> matches it: the file stem, a number when it is all digits (COCO's 000000139.jpg is 139).</summary>
    public static object ImageId(string image)
    {
        var stem = Path.GetFileNameWithoutExtension(image);
        return stem.Length is > 0 and < 19 && stem.All(char.IsAsciiDigit) ? long.Parse(stem, System.Globalization.CultureInfo.InvariantCulture) : stem;
    }

    private static void WriteAtomically(string path, string text)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }
}
