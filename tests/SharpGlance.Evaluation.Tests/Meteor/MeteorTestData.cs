namespace SharpGlance.Tests.Evaluation.Meteor;

/// <summary>Reference data produced by Meteor 1.5 itself (see each file's header or "source" field).</summary>
internal static class MeteorTestData
{
    public static string Folder => Path.Combine(Fixtures.RepoRoot, "tests", "SharpGlance.Evaluation.Tests", "Meteor", "Data");
}
