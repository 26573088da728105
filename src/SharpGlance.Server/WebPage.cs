using System.Net;
using System.Text.Json;

namespace SharpGlance.Server;

/// <summary>The page at <c>/</c>: <c>index.html</c> (embedded, self-contained) with the model's id, whether it can refine and whether the API needs a key filled in.</summary>
internal static class WebPage
{
    private static readonly Lazy<string> Template = new(() =>
    {
        using var stream = typeof(WebPage).Assembly.GetManifestResourceStream("SharpGlance.Server.index.html")
            ?? throw new InvalidOperationException("index.html is not embedded in the server assembly");
        return new StreamReader(stream).ReadToEnd();
    });

    public static string Html(string modelId, bool canRefine, bool needsKey) => Template.Value
        .Replace("{{MODEL}}", WebUtility.HtmlEncode(modelId), StringComparison.Ordinal)
        .Replace("{{CONFIG}}", JsonSerializer.Serialize(new { model = modelId, refine = canRefine, auth = needsKey }).Replace("<", "\\u003c", StringComparison.Ordinal), StringComparison.Ordinal);
}
