using System.Security.Cryptography;
using SharpGlance.Captioning;
using SharpGlance.Preprocessing;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>
/// The frozen tower's tapped hidden states for training images, through the on-disk
/// <see cref="FeatureCache"/>: filled once (batched, with progress), then read back every epoch.
/// </summary>
public sealed class CachedTower
{
    private readonly Captioner _captioner;
    private readonly FeatureCache _cache;
    private readonly Dictionary<string, string> _digests = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<int> _layers;

    public CachedTower(Captioner captioner, string cacheRoot, bool half)
    {
        _captioner = captioner;
        _layers = captioner.TappedLayers;
        // The key covers everything the features depend on: the tower's weights, the layers and the
        // image processing (size, crop, mean/std, aspect mode).
        string towerDigest = DigestModule(captioner.Vision);
        string processing = System.Text.Json.JsonSerializer.Serialize(captioner.ImageProcessor.Config with { Aspect = captioner.Config.Aspect });
        _cache = new FeatureCache(cacheRoot, FeatureCache.KeyOf(towerDigest, string.Join(",", _layers), processing), half);
    }

    public FeatureCache Cache => _cache;

    private string DigestOf(string path)
    {
        lock (_digests)
        {
            if (_digests.TryGetValue(path, out var d)) return d;
            if (!File.Exists(path)) throw GlanceException.ForFile(path, "image not found");
            return _digests[path] = FeatureCache.DigestFile(path);
        }
    }

    /// <summary>Computes and stores the features of every image not yet cached.</summary>
    public void Fill(IEnumerable<string> imagePaths, int batchSize, IProgress<ProgressUpdate>? progress = null)
    {
        var missing = imagePaths.Distinct().Where(p => !_cache.Contains(DigestOf(p))).ToList();
        int done = 0;
        foreach (var chunk in missing.Chunk(Math.Max(1, batchSize)))
        {
            using var scope = NewDisposeScope();
            var images = chunk.Select(p => RgbImage.FromFile(p)).ToList();
            using var pixels = _captioner.Pixels(images);
            using var features = _captioner.Encode(pixels);
            for (int i = 0; i < chunk.Length; i++)
                _cache.Store(DigestOf(chunk[i]), features.Layers.ToDictionary(kv => $"layer_{kv.Key}", kv => kv.Value[i]));
            done += chunk.Length;
            progress?.Report(new ProgressUpdate(done, missing.Count, "encoding images with the frozen tower"));
        }
    }

    /// <summary>The features of a batch of images, stacked: hidden_states index → [B, N+1, Dv].</summary>
    public VisionFeatures Get(IReadOnlyList<string> imagePaths)
    {
        var rows = new List<Dictionary<string, Tensor>>(imagePaths.Count);
        try
        {
            foreach (var path in imagePaths)
                rows.Add(_cache.GetOrCompute(DigestOf(path), () => Compute(path)));
            return new VisionFeatures(_layers.ToDictionary(l => l, l => stack(rows.Select(r => r[$"layer_{l}"]).ToList()).to(_captioner.Device)));
        }
        finally
        {
            foreach (var r in rows) foreach (var t in r.Values) t.Dispose();
        }
    }

    private Dictionary<string, Tensor> Compute(string path)
    {
        // A scope, not the GC, frees the row views (see ClipTrainingTask.Preload: a finalizer may free a
        // temporary while libtorch still reads it).
        using var scope = NewDisposeScope();
        var pixels = _captioner.Pixels([RgbImage.FromFile(path)]);
        using var features = _captioner.Encode(pixels);
        return features.Layers.ToDictionary(kv => $"layer_{kv.Key}", kv => kv.Value[0].cpu().DetachFromDisposeScope());
    }

    private static string DigestModule(nn.Module module)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, t) in module.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var c = t.detach().cpu().contiguous();
            sha.AppendData(c.bytes);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..24];
    }
}
