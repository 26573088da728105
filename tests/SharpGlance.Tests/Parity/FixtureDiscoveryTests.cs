using System.Reflection;

namespace SharpGlance.Tests.Parity;

/// <summary>
/// Marks a static method <c>void Check(string folder)</c> as the parity check for one fixture kind
/// (<c>model_type</c> in the fixture's config.json). Each architecture's test file declares its own.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class FixtureKindAttribute(params string[] kinds) : Attribute
{
    public string[] Kinds { get; } = kinds;
}

/// <summary>
/// Runs every fixture folder (the repository's <c>tests/fixtures/hf</c> and those <c>$SHARPGLANCE_FIXTURES</c>
/// adds) through the check its kind names. A kind SharpGlance does
/// not implement is skipped by name; an implemented kind is never skipped. New folders of known kinds
/// are picked up with no code change.
/// </summary>
public class FixtureDiscoveryTests
{
    public static readonly IReadOnlyDictionary<string, MethodInfo> Checks = typeof(FixtureDiscoveryTests).Assembly
        .GetTypes()
        .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
        .SelectMany(m => (m.GetCustomAttribute<FixtureKindAttribute>()?.Kinds ?? []).Select(k => (k, m)))
        .ToDictionary(p => p.k, p => p.m);

    public static TheoryData<string> FixtureFolders()
    {
        var data = new TheoryData<string>();
        foreach (var f in Fixtures.All()) data.Add(Fixtures.Label(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureFolders))]
    public void Fixture_matches_reference(string name)
    {
        var folder = Fixtures.FromLabel(name);
        var kind = Fixtures.KindOf(folder);
        if (!Checks.TryGetValue(kind, out var check))
            Assert.Skip($"fixture '{name}': kind '{kind}' is not implemented by SharpGlance yet");
        try
        {
            check.Invoke(null, [folder]);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
    }

    [Fact]
    public void Fixture_root_has_folders()
    {
        Assert.NotEmpty(Fixtures.All());
    }

    [Fact]
    public void Shipped_fixtures_are_inside_the_repository()
    {
        var shipped = Fixtures.All(extra: null);
        Assert.Contains(shipped, f => Path.GetFileName(f) == "tiny-opt");
        Assert.All(shipped, f => Assert.StartsWith(Fixtures.RepoRoot + Path.DirectorySeparatorChar, f));
        Assert.True(OptTokenizerFiles.All(f => File.Exists(Path.Combine(Fixtures.OptTokenizer, f))), Fixtures.OptTokenizer);
        Assert.StartsWith(Fixtures.RepoRoot + Path.DirectorySeparatorChar, Fixtures.OptTokenizer);
    }

    private static readonly string[] OptTokenizerFiles = ["vocab.json", "merges.txt"];

    [Fact]
    public void Environment_variable_adds_fixture_folders()
    {
        string a = TempDir.Create("fixtures"), b = TempDir.Create("fixtures");
        Directory.CreateDirectory(Path.Combine(a, "extra-opt"));
        File.WriteAllText(Path.Combine(a, "extra-opt", "config.json"), "{\"model_type\": \"opt\"}");
        Directory.CreateDirectory(Path.Combine(b, "not-a-fixture"));   // no config.json: ignored

        var all = Fixtures.All($"{a}{Path.PathSeparator}{b}");

        var shipped = Fixtures.All(extra: null);
        Assert.Equal(shipped, all.Take(shipped.Count));
        Assert.Equal([Path.Combine(a, "extra-opt")], all.Skip(shipped.Count));
        Assert.Equal(Path.Combine(a, "extra-opt"), Fixtures.FromLabel(Fixtures.Label(all[^1])));
        Assert.Equal("opt", Fixtures.KindOf(all[^1]));
    }

    [Fact]
    public void A_missing_added_folder_is_an_error_naming_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), "sharpglance-no-such-fixtures-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<DirectoryNotFoundException>(() => Fixtures.All(missing));
        Assert.Contains(missing, e.Message);
        Assert.Contains("SHARPGLANCE_FIXTURES", e.Message);
    }
}
