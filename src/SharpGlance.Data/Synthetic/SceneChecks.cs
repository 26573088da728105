using System.Globalization;

namespace SharpGlance.Data.Synthetic;

/// <summary>
/// A synthetic world's split as a caption checker: its scene graphs (<c>SPLIT.scenes.json</c>) by image id
/// and the <see cref="SceneErrorAnalyzer"/> of its lexicon (<c>lexicon.json</c> beside them unless named).
/// </summary>
public sealed class SceneChecks
{
    public required string ScenesPath { get; init; }
    public required IReadOnlyDictionary<int, SceneGraph> Scenes { get; init; }
    public required SceneErrorAnalyzer Analyzer { get; init; }

    public static SceneChecks Load(string scenesPath, string? lexiconPath = null)
    {
        lexiconPath ??= Path.Combine(Path.GetDirectoryName(Path.GetFullPath(scenesPath))!, "lexicon.json");
        return new SceneChecks
        {
            ScenesPath = scenesPath,
            Scenes = SceneJson.LoadScenes(scenesPath),
            Analyzer = new SceneErrorAnalyzer(WorldLexicon.Load(lexiconPath)),
        };
    }

    /// <summary>The scene of an image id (the references' ids are the scenes' ids); an id without one is an error naming the file.</summary>
    public SceneGraph SceneOf(string imageId) =>
        int.TryParse(imageId, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && Scenes.TryGetValue(id, out var scene) ? scene
            : throw GlanceException.ForFile(ScenesPath, $"has no scene graph for image {imageId}");

    public CaptionErrors Errors(string imageId, string caption) => Analyzer.Analyze(caption, SceneOf(imageId));
}
