using System.Text.RegularExpressions;

namespace SharpGlance.Tests;

/// <summary>
/// The layering docs/design.md §13 draws, checked on the sources: no namespace in two projects, and no cycle
/// among the folders of src/SharpGlance (a folder uses another when its code names <c>SharpGlance.Other</c>).
/// </summary>
public sealed partial class LayeringTests
{
    private static readonly string Src = Path.Combine(Fixtures.RepoRoot, "src");

    private static IEnumerable<string> Sources(string dir) =>
        Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"));

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    [GeneratedRegex(@"\bSharpGlance\.([A-Z]\w*)\b")]
    private static partial Regex FolderReference();

    [Fact]
    public void No_namespace_lives_in_two_projects()
    {
        var projects = Directory.GetDirectories(Src).Where(d => Directory.EnumerateFiles(d, "*.csproj").Any()).ToList();
        Assert.True(projects.Count >= 4, $"only {projects.Count} projects found under {Src}");
        var owners = new Dictionary<string, SortedSet<string>>();
        foreach (var project in projects)
            foreach (var file in Sources(project))
                foreach (Match m in Namespace().Matches(File.ReadAllText(file)))
                {
                    if (!owners.TryGetValue(m.Groups[1].Value, out var set)) owners[m.Groups[1].Value] = set = [];
                    set.Add(Path.GetFileName(project));
                }
        Assert.Contains("SharpGlance.Core", owners["SharpGlance"]);
        var shared = owners.Where(o => o.Value.Count > 1).Select(o => $"{o.Key}: {string.Join(", ", o.Value)}").ToList();
        Assert.True(shared.Count == 0, "namespaces in more than one project: " + string.Join("; ", shared));
    }

    [Fact]
    public void The_folders_of_the_model_library_have_no_cycle()
    {
        var uses = FolderGraph(Path.Combine(Src, "SharpGlance"));
        Assert.Contains("Runtime", uses["Nn"]);             // the graph is read at all
        Assert.Empty(uses["Runtime"]);                      // the kernel plan measures with its own folder's code
        var cycle = FindCycle(uses);
        Assert.True(cycle is null, "folder cycle: " + string.Join(" → ", cycle ?? []));
    }

    [Fact]
    public void A_cycle_is_found_when_there_is_one()
    {
        var uses = new Dictionary<string, SortedSet<string>>
        {
            ["Runtime"] = ["Benchmarking"], ["Benchmarking"] = ["Captioning"], ["Captioning"] = ["Runtime"], ["Nn"] = ["Runtime"],
        };
        Assert.Equal(["Benchmarking", "Captioning", "Runtime", "Benchmarking"], FindCycle(uses));
        uses["Captioning"] = [];
        Assert.Null(FindCycle(uses));
    }

    private static Dictionary<string, SortedSet<string>> FolderGraph(string library)
    {
        var folders = Directory.GetDirectories(library).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).ToHashSet()!;
        var uses = folders.ToDictionary(f => f!, _ => new SortedSet<string>(StringComparer.Ordinal));
        foreach (var folder in folders)
            foreach (var file in Sources(Path.Combine(library, folder!)))
                foreach (Match m in FolderReference().Matches(File.ReadAllText(file)))
                    if (m.Groups[1].Value != folder && folders.Contains(m.Groups[1].Value)) uses[folder!].Add(m.Groups[1].Value);
        return uses;
    }

    /// <summary>A path that comes back to its start, or null; depth-first from each folder in name order.</summary>
    private static List<string>? FindCycle(Dictionary<string, SortedSet<string>> uses)
    {
        var done = new HashSet<string>();
        var path = new List<string>();
        List<string>? Visit(string folder)
        {
            int at = path.IndexOf(folder);
            if (at >= 0) return [.. path[at..], folder];
            if (!done.Add(folder)) return null;
            path.Add(folder);
            foreach (var next in uses.GetValueOrDefault(folder) ?? [])
                if (Visit(next) is { } cycle) return cycle;
            path.RemoveAt(path.Count - 1);
            return null;
        }
        foreach (var folder in uses.Keys.Order(StringComparer.Ordinal))
            if (Visit(folder) is { } cycle) return cycle;
        return null;
    }
}
