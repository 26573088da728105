using System.Security.Cryptography;
using SharpGlance.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>
/// The ViT is frozen in every stage (SPEC §2, §10), so its tapped hidden states are a pure function of
/// (tower weights, preprocessing, image bytes). They are computed once and kept on disk, one small
/// safetensors file per image, under a folder named by the tower/preprocessing key; every later epoch
/// and stage reads them back. This is what makes CPU training practical.
/// </summary>
public sealed class FeatureCache
{
    private readonly string _folder;
    private readonly bool _half;
    private long _hits, _misses;

    /// <param name="root">Cache root (e.g. <c>~/.cache/sharpglance/features</c>).</param>
    /// <param name="towerKey">Identifies the tower weights, tapped layers and preprocessing; see <see cref="KeyOf"/>.</param>
    /// <param name="half">Store float16 (half the disk; the values are rounded once, then read back as float32).</param>
    public FeatureCache(string root, string towerKey, bool half = true)
    {
        _folder = Path.Combine(root, towerKey + (half ? "-f16" : "-f32"));
        _half = half;
        Directory.CreateDirectory(_folder);
    }

    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);
    public string Folder => _folder;

    /// <summary>A short stable key over any strings (config JSON, weight digests, layer lists).</summary>
    public static string KeyOf(params string[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\u0001", parts))))[..16];

    /// <summary>A digest of a file's bytes (images are small; towers are hashed once per run).</summary>
    public static string DigestFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream))[..24];
    }

    private string PathOf(string imageDigest) => Path.Combine(_folder, imageDigest[..2], imageDigest + ".safetensors");

    public bool Contains(string imageDigest) => File.Exists(PathOf(imageDigest));

    /// <summary>Stores the tensors of one image (converted to the cache's precision).</summary>
    public void Store(string imageDigest, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var stored = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(_half ? ScalarType.Float16 : ScalarType.Float32).cpu());
        try { SafeTensorsFile.Save(PathOf(imageDigest), stored); }
        finally { foreach (var v in stored.Values) v.Dispose(); }
        Interlocked.Increment(ref _misses);
    }

    /// <summary>
    /// The cached tensors for <paramref name="imageDigest"/>, or the result of <paramref name="compute"/>
    /// (stored, then read back, so every epoch sees exactly the same values). Returned tensors are float32
    /// on the CPU and belong to the caller.
    /// </summary>
    public Dictionary<string, Tensor> GetOrCompute(string imageDigest, Func<Dictionary<string, Tensor>> compute)
    {
        if (TryLoad(imageDigest) is { } hit)
        {
            Interlocked.Increment(ref _hits);
            return hit;
        }
        var fresh = compute();
        try { Store(imageDigest, fresh); }
        finally { foreach (var v in fresh.Values) v.Dispose(); }
        return TryLoad(imageDigest) ?? throw GlanceException.ForFile(PathOf(imageDigest), "feature cache entry could not be read back");
    }

    private Dictionary<string, Tensor>? TryLoad(string imageDigest)
    {
        string path = PathOf(imageDigest);
        if (!File.Exists(path)) return null;
        try
        {
            using var file = SafeTensorsFile.Open(path);
            return file.Tensors.Keys.ToDictionary(k => k, k => file.Load(k, ScalarType.Float32));
        }
        catch (GlanceException)
        {
            return null;   // a damaged entry (disk full, foreign file) is recomputed, not fatal
        }
    }
}
