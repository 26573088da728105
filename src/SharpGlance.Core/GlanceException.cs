namespace SharpGlance;

/// <summary>
/// A problem with user input (a file, a folder, an option) that the CLI and the server report as one
/// line, without a stack trace. The message names the file and says what is wrong with it.
/// </summary>
public class GlanceException : Exception
{
    public GlanceException(string message) : base(message) { }
    public GlanceException(string message, Exception inner) : base(message, inner) { }

    /// <summary>"{path}: {problem}" — the form every file error takes.</summary>
    public static GlanceException ForFile(string path, string problem) => new($"{path}: {problem}");
}
