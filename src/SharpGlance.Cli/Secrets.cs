namespace SharpGlance.Cli;

/// <summary>
/// Secrets (API keys, the broker's URI with its password) from the command line, a file or the environment.
/// A command line is visible to every user of the machine (<c>ps</c>), so each secret can also come from an
/// environment variable or a file (a Docker or Kubernetes secret mounted as a file). Errors name the file or
/// the variable, never the secret.
/// </summary>
public static class Secrets
{
    /// <summary>The first non-blank line of a secret file, trimmed; null when <paramref name="path"/> is null.</summary>
    public static string? ReadFile(string? path, string source)
    {
        if (path is null) return null;
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GlanceException($"{source} {path}: cannot read it ({e.Message})");
        }
        return text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0)
            ?? throw new GlanceException($"{source} {path}: the file is empty");
    }

    /// <summary>The environment variable's value, or null when unset or empty.</summary>
    public static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    /// <summary>
    /// The broker URI: <c>--broker</c>, else <c>--broker-file</c>, else <c>$GLANCE_BROKER</c>, else the file
    /// <c>$GLANCE_BROKER_FILE</c>, else the local default.
    /// </summary>
    public static string Broker(string? uri, string? file) =>
        uri ?? ReadFile(file, "--broker-file") ?? Env("GLANCE_BROKER") ?? ReadFile(Env("GLANCE_BROKER_FILE"), "GLANCE_BROKER_FILE")
        ?? "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary>
    /// An LLM endpoint's key: <c>--…-key</c>, else <c>--…-key-file</c>; else null, and the endpoint falls back to
    /// <c>$SHARPGLANCE_LLM_KEY</c>, <c>$OPENAI_API_KEY</c>, then the file <c>$SHARPGLANCE_LLM_KEY_FILE</c>.
    /// </summary>
    public static string? LlmKey(string? key, string? file, string fileOption) =>
        key ?? ReadFile(file, fileOption)
        ?? ((Env("SHARPGLANCE_LLM_KEY") ?? Env("OPENAI_API_KEY")) is null ? ReadFile(Env("SHARPGLANCE_LLM_KEY_FILE"), "SHARPGLANCE_LLM_KEY_FILE") : null);
}
