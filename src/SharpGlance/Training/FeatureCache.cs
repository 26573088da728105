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

    /// <summary>
    /// The cached tensors for <paramref name="imageDigest"/>, or the result of <paramref name="compute"/>
    /// (stored for next time). Returned tensors are float32 on the CPU and belong to the caller.
    /// </summary>
    public Dictionary<string, Tensor> GetOrCompute(string imageDigest, Func<Dictionary<string, Tensor>> compute)
    {
        string path = Path.Combine(_folder, imageDigest[..2], imageDigest + ".safetensors");
        if (File.Exists(path))
        {
            try
            {
                using var file = SafeTensorsFile.Open(path);
                var result = file.Tensors.Keys.ToDictionary(k => k, k => file.Load(k, ScalarType.Float32));
                Interlocked.Increment(ref _hits);
                return result;
            }
            catch (GlanceException)
            {
                // A damaged entry (disk full, foreign file) is recomputed, not fatal.
            }
        }
        Interlocked.Increment(ref _misses);
        var fresh = compute();
        var stored = fresh.ToDictionary(kv => kv.Key, kv => _half ? kv.Value.to_type(ScalarType.Float16) : kv.Value.to_type(ScalarType.Float32));
        try
        {
            SafeTensorsFile.Save(path, stored);
            // Hand back exactly what a later hit will read, so the first epoch equals the others.
            foreach (var (k, v) in fresh) v.Dispose();
            return stored.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32).cpu());
        }
        finally
        {
            foreach (var v in stored.Values) v.Dispose();
        }
    }
}
