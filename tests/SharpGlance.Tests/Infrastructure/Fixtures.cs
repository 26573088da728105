using System.Text.Json.Nodes;

namespace SharpGlance.Tests;

/// <summary>
/// Where the reference fixtures live: <c>tests/fixtures/hf</c> in the repository, plus any folders listed in
/// <c>$SHARPGLANCE_FIXTURES</c> (separated by <see cref="Path.PathSeparator"/>), which add to it. Each
/// fixture folder's <c>config.json</c> names its kind in <c>model_type</c>.
/// </summary>
public static class Fixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The fixtures shipped in the repository.</summary>
    public static string Root => Path.Combine(RepoRoot, "tests", "fixtures", "hf");

    /// <summary>The shipped root first, then each folder of <c>$SHARPGLANCE_FIXTURES</c>.</summary>
    public static IReadOnlyList<string> Roots(string? extra)
    {
        var roots = new List<string> { Root };
        foreach (var r in (extra ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (!roots.Contains(Path.GetFullPath(r))) roots.Add(Path.GetFullPath(r));
        return roots;
    }

    /// <summary>The real OPT vocabulary (vocab.json + merges.txt).</summary>
    public static string OptTokenizer => Path.Combine(RepoRoot, "tests", "fixtures", "tokenizers", "opt");

    /// <summary>Every fixture folder: the shipped ones, then the added ones, each root sorted by name.</summary>
    public static IReadOnlyList<string> All() => All(Environment.GetEnvironmentVariable("SHARPGLANCE_FIXTURES"));

    public static IReadOnlyList<string> All(string? extra)
    {
        var folders = new List<string>();
        foreach (var root in Roots(extra))
        {
            if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"fixture folder {root} not found (from {(root == Root ? "the repository" : "SHARPGLANCE_FIXTURES")})");
            folders.AddRange(Directory.EnumerateDirectories(root)
                .Where(d => File.Exists(Path.Combine(d, "config.json")))
                .Order(StringComparer.Ordinal));
        }
        return folders;
    }

    /// <summary>A fixture folder's name in test output: relative to the repository root (absolute when elsewhere on another drive).</summary>
    public static string Label(string folder) => Path.GetRelativePath(RepoRoot, folder);

    /// <summary>The folder a <see cref="Label"/> names.</summary>
    public static string FromLabel(string label) => Path.GetFullPath(Path.Combine(RepoRoot, label));

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
