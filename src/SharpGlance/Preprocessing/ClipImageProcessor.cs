using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Preprocessing;

/// <summary>How a non-square image reaches the square crop (SPEC §3 step 2).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AspectMode>))]
public enum AspectMode
{
    /// <summary>No padding: resize the shortest edge, then centre-crop (cuts the long sides). LLaVA's
    /// default, used by the paper's projector pretraining.</summary>
    [JsonStringEnumMemberName("square")] Square,
    /// <summary>LLaVA-1.5's <c>expand2square</c> first: the whole image survives, letterboxed with the mean
    /// colour. The paper's finetuning and evaluation.</summary>
    [JsonStringEnumMemberName("pad")] Pad,
}

/// <summary>
/// Settings of the CLIP image processor LLaVA-1.5 uses (HF <c>CLIPImageProcessor</c> of
/// openai/clip-vit-large-patch14-336 by default). Readable from an HF <c>preprocessor_config.json</c>.
/// </summary>
public sealed record ImageProcessorConfig
{
    /// <summary>The shortest edge after resizing (HF <c>size.shortest_edge</c>).</summary>
    [JsonPropertyName("shortest_edge")] public int ShortestEdge { get; init; } = 336;
    /// <summary>Side of the square centre crop (HF <c>crop_size</c>); the model's input size.</summary>
    [JsonPropertyName("crop_size")] public int CropSize { get; init; } = 336;
    [JsonPropertyName("image_mean")] public double[] Mean { get; init; } = [0.48145466, 0.4578275, 0.40821073];
    [JsonPropertyName("image_std")] public double[] Std { get; init; } = [0.26862954, 0.26130258, 0.27577711];
    [JsonPropertyName("rescale_factor")] public double RescaleFactor { get; init; } = 1.0 / 255;
    [JsonPropertyName("resample")] public PilFilter Resample { get; init; } = PilFilter.Bicubic;
    /// <summary>The default aspect mode; each call may override it.</summary>
    [JsonPropertyName("image_aspect_ratio")] public AspectMode Aspect { get; init; } = AspectMode.Pad;

    /// <summary>CLIP ViT-L/14 at 336 px, as LLaVA-1.5 and the paper use it.</summary>
    public static ImageProcessorConfig ClipVitL336 { get; } = new();

    /// <summary>
    /// expand2square's fill: <c>tuple(int(x * 255) for x in image_processor.image_mean)</c> in LLaVA's
    /// train/eval code, i.e. (122, 116, 104) for CLIP's mean.
    /// </summary>
    public (byte R, byte G, byte B) PadColor => ((byte)(int)(Mean[0] * 255), (byte)(int)(Mean[1] * 255), (byte)(int)(Mean[2] * 255));

    public void Validate()
    {
        if (ShortestEdge <= 0) throw new GlanceException($"image processor: shortest_edge must be positive, got {ShortestEdge}");
        if (CropSize <= 0) throw new GlanceException($"image processor: crop_size must be positive, got {CropSize}");
        // HF pads with zeros when the crop is larger than the resized image; LLaVA never does that.
        if (CropSize > ShortestEdge) throw new GlanceException($"image processor: crop_size {CropSize} is larger than shortest_edge {ShortestEdge}");
        if (Mean is not { Length: 3 } || Mean.Any(m => !double.IsFinite(m) || m < 0 || m > 1))
            throw new GlanceException("image processor: image_mean must be 3 values in [0, 1]");
        if (Std is not { Length: 3 } || Std.Any(s => !double.IsFinite(s) || s <= 0))
            throw new GlanceException("image processor: image_std must be 3 positive values");
        if (!double.IsFinite(RescaleFactor) || RescaleFactor <= 0) throw new GlanceException($"image processor: rescale_factor must be positive, got {RescaleFactor}");
        if (Resample is PilFilter.Nearest || !Enum.IsDefined(Resample))
            throw new GlanceException($"image processor: resample {(int)Resample} is not supported (1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)");
    }

    /// <summary>The folder's <c>preprocessor_config.json</c> when it has one, else the CLIP ViT-L/336 defaults.</summary>
    public static ImageProcessorConfig FromFolder(string folder, AspectMode? aspect = null)
    {
        var path = Path.Combine(folder, "preprocessor_config.json");
        var config = File.Exists(path) ? FromHfPreprocessorConfig(path) : ClipVitL336;
        return aspect is { } a ? config with { Aspect = a } : config;
    }

    /// <summary>
    /// Reads an HF <c>preprocessor_config.json</c> of a CLIP image processor, old form (<c>"size": 336</c>,
    /// <c>"crop_size": 336</c>) or new (<c>{"shortest_edge": 336}</c>, <c>{"height": 336, "width": 336}</c>).
    /// Steps SharpGlance always performs (<c>do_resize</c>, <c>do_center_crop</c>, …) must not be switched off.
    /// </summary>
    public static ImageProcessorConfig FromHfPreprocessorConfig(string path)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path), documentOptions: ConfigJson.Strict) as JsonObject ?? throw new JsonException("not a JSON object");
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            throw GlanceException.ForFile(path, $"not a valid preprocessor config: {e.Message}");
        }
        try
        {
            foreach (var flag in new[] { "do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_convert_rgb" })
                switch (json[flag]?.GetValueKind())
                {
                    case null or JsonValueKind.True: break;
                    case JsonValueKind.False: throw GlanceException.ForFile(path, $"{flag} is false; SharpGlance's CLIP processor always performs that step");
                    case var kind: throw GlanceException.ForFile(path, $"{flag} must be true or false, not {kind.Value.ToString().ToLowerInvariant()}");
                }

            var d = ClipVitL336;
            var config = new ImageProcessorConfig
            {
                ShortestEdge = json["size"] switch
                {
                    null => d.ShortestEdge,
                    JsonObject o when o["shortest_edge"] is { } s => s.GetValue<int>(),
                    JsonObject => throw GlanceException.ForFile(path, "size: only {\"shortest_edge\": N} is supported (CLIP resizes the shortest edge)"),
                    var n => n.GetValue<int>(),
                },
                CropSize = json["crop_size"] switch
                {
                    null => d.CropSize,
                    JsonObject o => o["height"]?.GetValue<int>() is int h && o["width"]?.GetValue<int>() is int w && h == w ? h
                        : throw GlanceException.ForFile(path, "crop_size: only square crops {\"height\": N, \"width\": N} are supported"),
                    var n => n.GetValue<int>(),
                },
                Mean = json["image_mean"]?.AsArray().Select(x => x!.GetValue<double>()).ToArray() ?? d.Mean,
                Std = json["image_std"]?.AsArray().Select(x => x!.GetValue<double>()).ToArray() ?? d.Std,
                RescaleFactor = json["rescale_factor"]?.GetValue<double>() ?? d.RescaleFactor,
                Resample = json["resample"] is { } r ? (PilFilter)r.GetValue<int>() : d.Resample,
                Aspect = json["image_aspect_ratio"]?.GetValue<string>() switch
                {
                    null => d.Aspect,
                    "pad" => AspectMode.Pad,
                    "square" => AspectMode.Square,
                    var other => throw GlanceException.ForFile(path, $"image_aspect_ratio '{other}' is not supported (pad or square)"),
                },
            };
            config.Validate();
            return config;
        }
        catch (GlanceException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw GlanceException.ForFile(path, e.Message);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw GlanceException.ForFile(path, $"not a valid preprocessor config: {e.Message}");
        }
    }

    /// <summary>
    /// Writes these settings as an HF <c>preprocessor_config.json</c> in CLIPImageProcessor's own layout, so
    /// transformers reads it too; <see cref="FromHfPreprocessorConfig"/> reads it back to an equal config.
    /// </summary>
    public void WriteHfPreprocessorConfig(string path) => ConfigJson.Write(path, new JsonObject
    {
        ["image_processor_type"] = "CLIPImageProcessor",
        ["do_resize"] = true, ["size"] = new JsonObject { ["shortest_edge"] = ShortestEdge },
        ["resample"] = (int)Resample,
        ["do_center_crop"] = true, ["crop_size"] = new JsonObject { ["height"] = CropSize, ["width"] = CropSize },
        ["do_rescale"] = true, ["rescale_factor"] = RescaleFactor,
        ["do_normalize"] = true,
        ["image_mean"] = new JsonArray(Mean.Select(x => (JsonNode)x).ToArray()),
        ["image_std"] = new JsonArray(Std.Select(x => (JsonNode)x).ToArray()),
        ["do_convert_rgb"] = true,
        ["image_aspect_ratio"] = Aspect == AspectMode.Pad ? "pad" : "square",
    });
}

/// <summary>
/// LLaVA-1.5's image preprocessing (SPEC §3): optional expand2square, shortest-edge resize with
/// Pillow-exact resampling, centre crop, rescale and normalise to float32 CHW.
/// </summary>
public sealed class ClipImageProcessor
{
    public ImageProcessorConfig Config { get; }

    public ClipImageProcessor(ImageProcessorConfig? config = null)
    {
        Config = config ?? ImageProcessorConfig.ClipVitL336;
        Config.Validate();
    }

    /// <summary>Side of the output square.</summary>
    public int Size => Config.CropSize;

    /// <summary>
    /// Images more elongated than this (long side / short side) are refused: a 1×100000 strip would be
    /// resized to 336×33,600,000. Panoramas stay well inside it.
    /// </summary>
    public const int MaxAspectRatio = 50;

    /// <summary>
    /// Refuses an image this processor cannot take within the limits (SPEC §3's resize would blow up):
    /// aspect ratio above <see cref="MaxAspectRatio"/>:1, or a padded square or resized image above
    /// <see cref="RgbImage.DefaultMaxPixels"/> pixels. Cheap, from the size alone, so a caller checks each
    /// image before batching; the message names <see cref="RgbImage.Source"/> when known.
    /// </summary>
    public void CheckSize(RgbImage image, AspectMode? aspect = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, h = image.Height;
        long longSide = Math.Max(w, h), shortSide = Math.Min(w, h), edge = Config.ShortestEdge;
        bool pad = (aspect ?? Config.Aspect) == AspectMode.Pad;
        string? problem = null;
        if (longSide > MaxAspectRatio * shortSide)
            problem = $"image is {w}×{h}, more elongated than the limit of {MaxAspectRatio}:1";
        else if (pad && longSide * longSide > RgbImage.DefaultMaxPixels)
            problem = $"a {w}×{h} image padded to a {longSide}×{longSide} square exceeds the limit of {RgbImage.DefaultMaxPixels:N0} pixels";
        else if ((pad ? edge : edge * longSide / shortSide) * edge > RgbImage.DefaultMaxPixels)
            problem = $"a {w}×{h} image resized to a shortest edge of {edge} exceeds the limit of {RgbImage.DefaultMaxPixels:N0} pixels";
        if (problem is not null)
            throw image.Source is { } source ? GlanceException.ForFile(source, problem) : new GlanceException(problem);
    }

    /// <summary>
    /// LLaVA's <c>expand2square</c>: the image pasted on a square canvas of side max(w, h) filled with
    /// <paramref name="fill"/>, at offset ((side − w) // 2, (side − h) // 2). A square image is returned as is.
    /// </summary>
    public static RgbImage ExpandToSquare(RgbImage image, (byte R, byte G, byte B) fill, long maxPixels = RgbImage.DefaultMaxPixels)
    {
        if (image.Width == image.Height) return image;
        int side = Math.Max(image.Width, image.Height);
        // A 100000×1 strip would become a 10-gigapixel canvas: refuse it like a decompression bomb.
        if ((long)side * side > maxPixels)
            throw new GlanceException($"a {image.Width}×{image.Height} image padded to a {side}×{side} square exceeds the limit of {maxPixels:N0} pixels");
        var canvas = RgbImage.Filled(side, side, fill.R, fill.G, fill.B);
        int left = (side - image.Width) / 2, top = (side - image.Height) / 2;
        for (int y = 0; y < image.Height; y++)
            image.Pixels.AsSpan(y * image.Width * 3, image.Width * 3).CopyTo(canvas.Pixels.AsSpan(((top + y) * side + left) * 3));
        return canvas;
    }

    /// <summary>
    /// HF <c>get_resize_output_image_size(default_to_square=False)</c>: the shortest edge becomes
    /// <paramref name="shortestEdge"/>, the long one <c>int(shortestEdge · long / short)</c> (truncated).
    /// </summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int shortestEdge)
    {
        int shortSide = Math.Min(width, height), longSide = Math.Max(width, height);
        int newLong = (int)((double)shortestEdge * longSide / shortSide);
        return width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge);
    }

    /// <summary>The 8-bit image the network will see, before normalisation: steps 2–3 of SPEC §3.</summary>
    public RgbImage PrepareImage(RgbImage image, AspectMode? aspect = null)
    {
        CheckSize(image, aspect);
        if ((aspect ?? Config.Aspect) == AspectMode.Pad) image = ExpandToSquare(image, Config.PadColor);
        var (w, h) = ResizedSize(image.Width, image.Height, Config.ShortestEdge);
        var resized = PilResample.Resize(image, w, h, Config.Resample);
        int crop = Config.CropSize;
        // HF center_crop: top = (h − crop) // 2, left = (w − crop) // 2.
        return resized.Width == crop && resized.Height == crop ? resized
            : resized.Crop((resized.Width - crop) / 2, (resized.Height - crop) / 2, crop, crop);
    }

    /// <summary>One image as float32 CHW, <c>3·Size·Size</c> values: <c>(v · rescale − mean) / std</c>.</summary>
    public float[] Preprocess(RgbImage image, AspectMode? aspect = null)
    {
        var prepared = PrepareImage(image, aspect);
        var output = new float[3 * Size * Size];
        Normalize(prepared, output);
        return output;
    }

    /// <summary>A batch as a float32 tensor <c>[B, 3, Size, Size]</c> on the CPU.</summary>
    public Tensor PreprocessBatch(IReadOnlyList<RgbImage> images, AspectMode? aspect = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("the batch holds no images", nameof(images));
        int plane = 3 * Size * Size;
        var data = new float[(long)images.Count * plane];
        Parallel.For(0, images.Count, i =>
            Normalize(PrepareImage(images[i], aspect), data.AsSpan(i * plane, plane)));
        return torch.tensor(data, [images.Count, 3, Size, Size], ScalarType.Float32);
    }

    /// <summary>
    /// HF's rescale then normalize, in its precisions: <c>float32(float64(v) · factor)</c>, then
    /// <c>(x − mean) / std</c> in float32 with mean and std rounded to float32.
    /// </summary>
    private void Normalize(RgbImage image, Span<float> chw)
    {
        int n = image.Width * image.Height;
        var pixels = image.Pixels;
        // 256 possible inputs per channel: a table keeps the exact float arithmetic and costs nothing.
        Span<float> table = stackalloc float[256];
        for (int c = 0; c < 3; c++)
        {
            float mean = (float)Config.Mean[c], std = (float)Config.Std[c];
            for (int v = 0; v < 256; v++) table[v] = ((float)(v * Config.RescaleFactor) - mean) / std;
            var dst = chw.Slice(c * n, n);
            for (int i = 0; i < n; i++) dst[i] = table[pixels[i * 3 + c]];
        }
    }
}
