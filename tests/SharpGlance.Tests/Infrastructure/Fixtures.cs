using System.Text.Json.Nodes;

namespace SharpGlance.Tests;

/// <summary>
/// Where the reference fixtures live: <c>$SHARPGLANCE_FIXTURES</c>, else <c>../shared/fixtures/hf</c> beside
/// the checkout. Each folder's <c>config.json</c> names its kind in <c>model_type</c>.
/// </summary>
public static class Fixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("SHARPGLANCE_FIXTURES");
            if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
            return Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures", "hf"));
        }
    }

    public static string SharedRoot => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>The real OPT vocabulary (vocab.json + merges.txt).</summary>
    public static string OptTokenizer => Path.Combine(SharedRoot, "tokenizers", "opt");

    /// <summary>Every fixture folder, sorted by name.</summary>
    public static IReadOnlyList<string> All()
    {
        if (!Directory.Exists(Root)) throw new DirectoryNotFoundException($"fixture folder {Root} not found (set SHARPGLANCE_FIXTURES)");
        return Directory.EnumerateDirectories(Root)
            .Where(d => File.Exists(Path.Combine(d, "config.json")))
            .Order(StringComparer.Ordinal).ToList();
    }

    public static string KindOf(string folder) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))?["model_type"]?.GetValue<string>() ?? "";

    public static IEnumerable<string> OfKind(params string[] kinds) => All().Where(f => kinds.Contains(KindOf(f)));

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SharpGlance.sln"))) return dir.FullName;
        throw new InvalidOperationException($"SharpGlance.sln not found above {AppContext.BaseDirectory}");
    }
}
