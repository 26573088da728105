namespace SharpGlance.Tests;

/// <summary>A fresh folder under the system temp dir for one test.</summary>
public static class TempDir
{
    public static string Create(string? prefix = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "sharpglance-tests", $"{prefix ?? "t"}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
