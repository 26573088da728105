using SkiaSharp;

namespace SharpGlance.Runtime;

/// <summary>
/// Typefaces for the PNGs we draw (loss curves, charts). SkiaSharp's NoDependencies build has no
/// fontconfig, so <c>SKTypeface.Default</c> draws nothing: load Debian's DejaVu files directly
/// (fonts-dejavu-core, installed by scripts/setup.sh).
/// </summary>
public static class Fonts
{
    private static readonly string[] SansFiles =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    ];

    private static readonly Lazy<SKTypeface> _sans = new(() =>
        SansFiles.Where(File.Exists).Select(SKTypeface.FromFile).FirstOrDefault(t => t is not null)
        ?? SKFontManager.Default.MatchFamily("sans-serif")
        ?? SKTypeface.Default);

    public static SKTypeface Sans => _sans.Value;
}
