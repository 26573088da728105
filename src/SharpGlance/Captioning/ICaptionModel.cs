using SharpGlance.IO;
using SharpGlance.Preprocessing;

namespace SharpGlance.Captioning;

/// <summary>
/// What the caption pipeline and the server need of a captioning model: SharpGlance's
/// <see cref="Captioner"/> (first glance, and the second with DeepLens) or a Hugging Face
/// <see cref="LlavaForConditionalGeneration"/> (first glance only).
/// </summary>
public interface ICaptionModel : IDisposable
{
    /// <summary>True when the model has a second glance (DeepLens) to refine with.</summary>
    bool CanRefine { get; }
    int VocabSize { get; }
    /// <summary>Throws a <see cref="GlanceException"/> when the image processor cannot take <paramref name="image"/>.</summary>
    void CheckImage(RgbImage image);
    /// <summary>Tokens of <paramref name="text"/> without BOS (usage counts of the OpenAI-compatible endpoint).</summary>
    int CountTokens(string text);
    /// <summary>Captions decoded images (one batch); <paramref name="stages"/>, when given, receives each stage's wall time.</summary>
    IReadOnlyList<ImageCaption> CaptionImages(IReadOnlyList<RgbImage> images, CaptionRunOptions options, CaptionStageTimes? stages = null);
}

/// <summary>Loads whichever captioning model a folder holds, by its config.json's <c>model_type</c>.</summary>
public static class CaptionModels
{
    /// <summary>
    /// An HF LLaVA folder (<c>model_type</c> "llava" with <c>text_config</c>/<c>vision_config</c>) loads as
    /// <see cref="LlavaForConditionalGeneration"/> (on <paramref name="options"/>' device and dtype); any other
    /// as a <see cref="Captioner"/>, whose config reader names a <c>model_type</c> it does not know.
    /// </summary>
    public static ICaptionModel Load(string folder, CaptionerLoadOptions? options = null)
    {
        options ??= new();
        var configPath = Path.Combine(folder, "config.json");
        if (File.Exists(configPath) && LlavaConfig.Describes(ConfigJson.ReadObject(configPath)))
        {
            if (options.VisionFolder is not null)
                throw GlanceException.ForFile(folder, "--vision does not apply to a Hugging Face LLaVA folder (its tower is in its own weights)");
            return LlavaForConditionalGeneration.FromPretrained(folder, options.Device, options.DType);
        }
        return Captioner.Load(folder, options);
    }
}
