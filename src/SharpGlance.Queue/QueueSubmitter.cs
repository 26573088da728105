using System.Text;
using RabbitMQ.Client;

namespace SharpGlance.Queue;

/// <summary><c>glance queue submit</c>: one persistent message per image on <c>glance.work</c>, each confirmed by the broker.</summary>
public static class QueueSubmitter
{
    /// <summary>
    /// Publishes the images of a job; returns when the broker has confirmed every message (written to the
    /// quorum queue's log), so a broker that stops afterwards loses none. With <paramref name="inline"/> the
    /// image's bytes travel in the message (workers need no shared storage); else its full path.
    /// </summary>
    public static async Task<int> SubmitAsync(string broker, string job, IReadOnlyList<string> images, bool inline,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancel = default)
    {
        QueueTopology.CheckJob(job);
        if (images.Count == 0) throw new GlanceException("no images to submit");
        await using var connection = await QueueTopology.ConnectAsync(broker, "glance-submit", cancel);
        await using var channel = await QueueTopology.ConfirmingChannelAsync(connection, cancel);
        await QueueTopology.DeclareAsync(channel, job, cancel);
        const int window = 64;   // publishes in flight at once: one round trip per window, not per image
        for (int start = 0; start < images.Count; start += window)
        {
            var sends = new List<Task>();
            for (int i = start; i < Math.Min(images.Count, start + window); i++)
            {
                var message = inline
                    ? new WorkMessage(job, i, images.Count, images[i], true, await File.ReadAllBytesAsync(images[i], cancel))
                    : new WorkMessage(job, i, images.Count, Path.GetFullPath(images[i]), false, Encoding.UTF8.GetBytes(Path.GetFullPath(images[i])));
                sends.Add(channel.BasicPublishAsync("", QueueTopology.Work, mandatory: true, message.Properties(), message.Body, cancel).AsTask());
            }
            await Task.WhenAll(sends);
            progress?.Report(new ProgressUpdate(Math.Min(images.Count, start + window), images.Count));
        }
        return images.Count;
    }
}
