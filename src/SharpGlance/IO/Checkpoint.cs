using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.IO;

/// <summary>
/// The tensors of a Hugging Face model folder, found as transformers finds them: a sharded
/// <c>model.safetensors.index.json</c> with its shards, else <c>model.safetensors</c>, else
/// <c>pytorch_model.bin</c>, else <c>pytorch_model.bin.index.json</c> with its shards (<c>torch.save</c>
/// checkpoints, read by <see cref="TorchSaveFile"/> without running their pickles' code), else every
/// <c>*.safetensors</c> file in the folder.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    private readonly List<ITensorFile> _files = new();
    private readonly Dictionary<string, ITensorFile> _byName = new(StringComparer.Ordinal);

    public string Folder { get; }
    public IEnumerable<string> Keys => _byName.Keys;
    public IEnumerable<ITensorFile> Files => _files;

    private Checkpoint(string folder) => Folder = folder;

    /// <summary>The weights transformers saves when safetensors are not asked for.</summary>
    public const string PickleWeights = "pytorch_model.bin", PickleIndex = "pytorch_model.bin.index.json";

    public static bool HasWeights(string folder) =>
        Directory.Exists(folder) && (Directory.EnumerateFiles(folder, "*.safetensors").Any()
            || File.Exists(Path.Combine(folder, PickleWeights)) || File.Exists(Path.Combine(folder, PickleIndex)));

    /// <summary>Opens the weights of <paramref name="pathOrFolder"/> (a folder, or one .safetensors or torch.save file).</summary>
    public static Checkpoint Open(string pathOrFolder)
    {
        if (File.Exists(pathOrFolder))
        {
            var single = new Checkpoint(Path.GetDirectoryName(Path.GetFullPath(pathOrFolder))!);
            single.Add(ITensorFile.Open(pathOrFolder));
            return single;
        }
        if (!Directory.Exists(pathOrFolder)) throw GlanceException.ForFile(pathOrFolder, "no such model folder");

        var ck = new Checkpoint(pathOrFolder);
        try
        {
            var index = Path.Combine(pathOrFolder, "model.safetensors.index.json");
            var single = Path.Combine(pathOrFolder, "model.safetensors");
            var pickle = Path.Combine(pathOrFolder, PickleWeights);
            // safetensors first, as transformers; then its pickles: pytorch_model.bin, else the index of its shards.
            if (!File.Exists(index) && !File.Exists(single) && !File.Exists(pickle)) index = Path.Combine(pathOrFolder, PickleIndex);
            IEnumerable<string> files;
            if (File.Exists(index))
            {
                JsonObject weightMap;
                try
                {
                    weightMap = (JsonNode.Parse(File.ReadAllText(index), documentOptions: ConfigJson.Strict) as JsonObject)?["weight_map"] as JsonObject
                        ?? throw new JsonException("no \"weight_map\" object");
                }
                catch (JsonException e) { throw GlanceException.ForFile(index, $"corrupt shard index: {e.Message}"); }
                var shards = weightMap.Select(kv => ConfigJson.String(kv.Value, index, $"weight_map '{kv.Key}'") ?? "").Distinct().ToList();
                foreach (var s in shards)
                    if (s.Length == 0 || s.Contains('/') || s.Contains('\\') || !File.Exists(Path.Combine(pathOrFolder, s)))
                        throw GlanceException.ForFile(index, $"shard '{s}' named in the index is missing");
                files = shards.Select(s => Path.Combine(pathOrFolder, s));
            }
            else if (File.Exists(single))
            {
                // transformers reads model.safetensors (or the index) and nothing else; other *.safetensors in
                // the folder (reference outputs, adapters) are not weights of this model.
                files = [single];
            }
            else if (File.Exists(pickle))
                files = [pickle];
            else
            {
                files = Directory.EnumerateFiles(pathOrFolder, "*.safetensors").Order(StringComparer.Ordinal).ToList();
                if (!files.Any()) throw GlanceException.ForFile(pathOrFolder, $"no weights in this folder: no *.safetensors and no {PickleWeights}");
            }
            foreach (var f in files) ck.Add(ITensorFile.Open(f));
            return ck;
        }
        catch
        {
            ck.Dispose();
            throw;
        }
    }

    private void Add(ITensorFile file)
    {
        _files.Add(file);
        foreach (var name in file.Tensors.Keys)
        {
            if (_byName.TryGetValue(name, out var other))
                throw GlanceException.ForFile(file.Path, $"tensor '{name}' is also in {Path.GetFileName(other.Path)}");
            _byName[name] = file;
        }
    }

    public bool Contains(string key) => _byName.ContainsKey(key);

    public SafeTensorInfo Info(string key) =>
        _byName.TryGetValue(key, out var f) ? f.Tensors[key] : throw GlanceException.ForFile(Folder, $"no tensor named '{key}'");

    public Tensor Load(string key, ScalarType? dtype = null, Device? device = null) =>
        _byName.TryGetValue(key, out var f) ? f.Load(key, dtype, device) : throw GlanceException.ForFile(Folder, $"no tensor named '{key}'");

    /// <summary>
    /// Copies the tensors under <paramref name="prefix"/> into <paramref name="module"/>'s parameters and
    /// buffers, strictly: every module entry must be present with the same shape, and every checkpoint key
    /// under the prefix must be used, except those starting with one of <paramref name="ignore"/> (after the
    /// prefix). Errors name the keys. Values are converted to each parameter's dtype and device.
    /// </summary>
    public void LoadInto(nn.Module module, string prefix = "", IEnumerable<string>? ignore = null,
        IReadOnlyDictionary<string, string>? aliases = null)
    {
        var ignored = (ignore ?? Array.Empty<string>()).ToArray();
        var targets = module.state_dict();
        var missing = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var (name, _) in targets)
        {
            string key = prefix + name;
            if (!_byName.ContainsKey(key) && aliases is not null && aliases.TryGetValue(name, out var alias)) key = prefix + alias;
            if (!_byName.ContainsKey(key)) { missing.Add(prefix + name); continue; }
            used.Add(key);
        }
        var unexpected = _byName.Keys
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && !used.Contains(k))
            .Where(k => !ignored.Any(i => k.AsSpan(prefix.Length).StartsWith(i, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0) problems.Add($"missing tensor{(missing.Count > 1 ? "s" : "")} {Names(missing)}");
        if (unexpected.Count > 0) problems.Add($"unexpected tensor{(unexpected.Count > 1 ? "s" : "")} {Names(unexpected)}");
        if (problems.Count > 0) throw GlanceException.ForFile(Folder, string.Join("; ", problems) + " (does config.json match the weights?)");

        using var _ = no_grad();
        foreach (var (name, target) in targets)
        {
            string key = _byName.ContainsKey(prefix + name) ? prefix + name : prefix + aliases![name];
            var info = Info(key);
            if (!info.Shape.SequenceEqual(target.shape))
                throw GlanceException.ForFile(Folder, $"tensor '{key}' has shape [{string.Join(", ", info.Shape)}] but the model built from config.json expects [{string.Join(", ", target.shape)}]");
            if (!_byName[key].TryReadInto(key, target))   // fp32 → fp32 on the CPU: no transient copy
            {
                using var value = Load(key, target.dtype, target.device);
                target.copy_(value);
            }
            // NaN weights caption "<s><s><s>…" without complaint; say so at load. (The check's temporaries
            // are freed here: left to the GC, their bool masks added half a bf16 model to the peak RSS.)
            using var scope = NewDisposeScope();
            if (target.is_floating_point() && !target.isfinite().all().item<bool>())
                throw GlanceException.ForFile(_byName[key].Path, $"tensor '{key}' holds NaN or infinite values");
        }
    }

    private static string Names(List<string> keys) =>
        string.Join(", ", keys.Take(8).Select(k => $"'{k}'")) + (keys.Count > 8 ? $" and {keys.Count - 8} more" : "");

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
        _byName.Clear();
    }
}
