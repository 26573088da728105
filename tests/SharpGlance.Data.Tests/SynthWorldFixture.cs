using SharpGlance.Data.Synthetic;

namespace SharpGlance.Tests.Data;

/// <summary>One synthetic world (small vocabulary, 96 px, seed 5) shared by the tests of a class.</summary>
public sealed class SynthWorldFixture : IDisposable
{
    public SyntheticWorld? World { get; } =
        AssetsPresent ? SyntheticWorld.Open(seed: 5, imageSize: 96, vocab: SynthVocab.Small, occlusion: 0.5) : null;

    public static bool AssetsPresent =>
        File.Exists(EmojiCatalog.DefaultFontPath) && File.Exists(Path.Combine(EmojiCatalog.DefaultCldrDir, "annotations", "en.xml"));

    /// <summary>The world, or a skip naming the Debian packages (scripts/setup.sh installs them).</summary>
    public SyntheticWorld Require()
    {
        if (World is null) Assert.Skip("emoji font or CLDR annotations missing: run scripts/setup.sh (fonts-noto-color-emoji unicode-cldr-core)");
        return World;
    }

    public void Dispose() => World?.Dispose();
}
