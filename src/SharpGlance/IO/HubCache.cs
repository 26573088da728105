using System.Text.RegularExpressions;

namespace SharpGlance.IO;

/// <summary>
/// A Hugging Face model name, <c>org/name</c> with an optional <c>@revision</c> (a branch, a tag or a
/// commit; default <c>main</c>), as transformers and <c>huggingface-cli download</c> take it.
/// </summary>
public sealed partial record HubModelId(string Repo, string Revision = HubModelId.DefaultRevision)
{
    public const string DefaultRevision = "main";

    /// <summary>The cache folder's name for the repository: <c>models--org--name</c>.</summary>
    public string CacheFolderName => "models--" + Repo.Replace("/", "--");

    /// <summary>True when <see cref="Revision"/> is a full commit hash (then the cache keeps no ref for it).</summary>
    public bool IsCommit => CommitHash().IsMatch(Revision);

    public override string ToString() => Revision == DefaultRevision ? Repo : $"{Repo}@{Revision}";

    /// <summary>
    /// Parses <c>org/name[@revision]</c>; null for anything else (a path such as <c>./runs</c>, <c>/models/x</c>
    /// or <c>a/b/c</c> is never a model name). Names follow the hub's rules: letters, digits, <c>-_.</c>.
    /// </summary>
    public static HubModelId? TryParse(string? text)
    {
        if (text is null) return null;
        var m = Name().Match(text);
        if (!m.Success || m.Groups["org"].Value is "." or ".." || m.Groups["name"].Value is "." or "..") return null;
        return new HubModelId($"{m.Groups["org"].Value}/{m.Groups["name"].Value}",
            m.Groups["rev"].Success ? m.Groups["rev"].Value : DefaultRevision);
    }

    [GeneratedRegex(@"^(?<org>[A-Za-z0-9][A-Za-z0-9_.\-]*)/(?<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(@(?<rev>[A-Za-z0-9][A-Za-z0-9_.\-/]*))?$")]
    private static partial Regex Name();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();
}

/// <summary>
/// The Hugging Face hub cache as huggingface_hub lays it out, so that models transformers downloaded are
/// found and models <c>glance download</c> fetches are found by transformers:
/// <code>
/// {HF_HUB_CACHE or HF_HOME/hub or ~/.cache/huggingface/hub}/models--org--name/
///   blobs/{sha256 or git sha1}          the files' bytes, named by their hub ETag
///   snapshots/{commit}/{file}           symlinks into blobs/
///   refs/{revision}                     the commit a branch or tag pointed to when it was fetched
/// </code>
/// </summary>
public static class HubCache
{
    /// <summary>The cache folder from the environment, as huggingface_hub reads it.</summary>
    public static string DefaultRoot =>
        Environment.GetEnvironmentVariable("HF_HUB_CACHE") is { Length: > 0 } hub ? hub
        : Path.Combine(Environment.GetEnvironmentVariable("HF_HOME") is { Length: > 0 } home ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface"), "hub");

    /// <summary>The repository's folder in the cache (it may not exist).</summary>
    public static string RepoFolder(HubModelId id, string? root = null) => Path.Combine(root ?? DefaultRoot, id.CacheFolderName);

    /// <summary>
    /// The snapshot folder of <paramref name="id"/> when the cache holds a model there (config.json and
    /// weights), else null. A commit revision names its snapshot; a branch or tag goes through
    /// <c>refs/</c>; without a ref for <c>main</c>, the newest complete snapshot is taken (a cache that
    /// was copied without its refs).
    /// </summary>
    public static string? TryResolve(HubModelId id, string? root = null)
    {
        var repo = RepoFolder(id, root);
        var snapshots = Path.Combine(repo, "snapshots");
        if (!Directory.Exists(snapshots)) return null;
        string? commit = id.IsCommit ? id.Revision : ReadRef(repo, id.Revision);
        if (commit is not null)
            return Path.Combine(snapshots, commit) is var dir && IsModel(dir) ? dir : null;
        if (id.Revision != HubModelId.DefaultRevision) return null;
        return Directory.EnumerateDirectories(snapshots).Where(IsModel).OrderByDescending(Directory.GetLastWriteTimeUtc).FirstOrDefault();
    }

    /// <summary>The commit refs/<paramref name="revision"/> records, if any.</summary>
    public static string? ReadRef(string repoFolder, string revision)
    {
        var file = Path.Combine(repoFolder, "refs", revision);
        return File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } commit ? commit : null;
    }

    private static bool IsModel(string dir) => File.Exists(Path.Combine(dir, "config.json")) && Checkpoint.HasWeights(dir);

    /// <summary>
    /// What a <c>--model</c>, <c>--vision</c>, <c>--lm</c> or <c>--init</c> value names: an existing
    /// folder (or file) as it is; else a model name <c>org/name[@revision]</c> found in the cache; else
    /// the value unchanged, for the loader to report. A model name that is in neither place is an error
    /// that says how to fetch it.
    /// </summary>
    public static string ResolveFolder(string value, string? root = null)
    {
        if (Directory.Exists(value) || File.Exists(value)) return value;
        if (HubModelId.TryParse(value) is not { } id) return value;
        return TryResolve(id, root) ?? throw new GlanceException(
            $"{value}: not a folder, and the Hugging Face model {id} is not in the cache ({RepoFolder(id, root)}); " +
            $"fetch it with `glance download {id}`");
    }

    /// <summary><see cref="ResolveFolder(string, string?)"/> for an optional value.</summary>
    public static string? ResolveOptional(string? value) => value is null ? null : ResolveFolder(value);
}
