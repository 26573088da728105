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
/// Runs every folder under the fixture root through the check its kind names. A kind SharpGlance does
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
        foreach (var f in Fixtures.All()) data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureFolders))]
    public void Fixture_matches_reference(string name)
    {
        var folder = Path.Combine(Fixtures.Root, name);
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
}
