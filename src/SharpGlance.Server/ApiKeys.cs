using System.Security.Cryptography;
using System.Text;

namespace SharpGlance.Server;

/// <summary>
/// The keys a client may present as <c>Authorization: Bearer KEY</c>. Only their SHA-256 digests are kept,
/// and a presented key is hashed and compared with every digest in constant time
/// (<see cref="CryptographicOperations.FixedTimeEquals"/>), so neither the time of an answer nor a key's
/// length tells a guesser how close it came. <see cref="ToString"/> names how many keys there are, never a key.
/// </summary>
public sealed class ApiKeys
{
    private readonly byte[][] _digests;

    private ApiKeys(byte[][] digests) => _digests = digests;

    public static ApiKeys None { get; } = new([]);

    public int Count => _digests.Length;

    /// <summary>Keys as given: blank ones are refused (one line naming where it came from), duplicates kept once.</summary>
    public static ApiKeys Of(IEnumerable<string> keys, string source = "--api-key")
    {
        var digests = new List<byte[]>();
        foreach (var key in keys)
        {
            if (string.IsNullOrWhiteSpace(key)) throw new GlanceException($"{source}: an API key is empty");
            if (key.Any(char.IsWhiteSpace)) throw new GlanceException($"{source}: an API key contains white space");
            var digest = SHA256.HashData(Encoding.UTF8.GetBytes(key));
            if (!digests.Any(d => d.AsSpan().SequenceEqual(digest))) digests.Add(digest);
        }
        return new ApiKeys([.. digests]);
    }

    /// <summary>
    /// A key file: one key a line; blank lines and lines starting with '#' are skipped. Errors name the file,
    /// never a key.
    /// </summary>
    public static IReadOnlyList<string> ReadFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GlanceException($"{path}: cannot read the API key file ({e.Message})");
        }
        var keys = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (keys.Count == 0) throw new GlanceException($"{path}: the API key file holds no key (one a line; '#' starts a comment)");
        return keys;
    }

    /// <summary>The index of the key that matches (the client's identity for its rate limit), or -1. Every digest is compared, whatever matched.</summary>
    public int Match(ReadOnlySpan<char> presented)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        byte[] bytes = Encoding.UTF8.GetBytes(presented.ToArray());
        SHA256.HashData(bytes, digest);
        int found = -1;
        for (int i = 0; i < _digests.Length; i++)
            if (CryptographicOperations.FixedTimeEquals(digest, _digests[i])) found = i;
        return found;
    }

    public override string ToString() => Count == 1 ? "1 API key" : $"{Count} API keys";
}
