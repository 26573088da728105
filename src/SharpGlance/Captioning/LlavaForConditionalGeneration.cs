using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Language;
using SharpGlance.Nn;
using SharpGlance.Preprocessing;
using SharpGlance.Runtime;
using SharpGlance.Tokenization;
using SharpGlance.Vision;
using TorchSharp;
using Linear = SharpGlance.Nn.Linear;
using static TorchSharp.torch;

namespace SharpGlance.Captioning;

// Field names are Hugging Face checkpoint keys (linear_1, linear_2): snake_case is deliberate.
#pragma warning disable IDE1006, CA1707

// LLaVA-1.5 in the Hugging Face layout (transformers 4.36 `modeling_llava.py`, LlavaForConditionalGeneration):
// the public checkpoints llava-hf/llava-1.5-7b-hf, bczhou/tiny-llava-v1-hf and their fine-tunes. One
// config.json with vision_config and text_config; keys vision_tower.vision_model.*, multi_modal_projector.*
// and language_model.*. Reading order: config → projector → the model (load, image features, the merge of
// the <image> token with the features, forward, generation, captioning).

/// <summary>HF <c>LlavaConfig</c> (transformers 4.36) with its defaults for absent fields.</summary>
public sealed record LlavaConfig
{
    public const string ModelTypeName = "llava";

    [JsonPropertyName("model_type")] public string ModelType { get; init; } = ModelTypeName;
    [JsonPropertyName("ignore_index")] public int IgnoreIndex { get; init; } = -100;
    [JsonPropertyName("image_token_index")] public int ImageTokenIndex { get; init; } = 32000;
    [JsonPropertyName("projector_hidden_act")] public string ProjectorHiddenAct { get; init; } = "gelu";
    /// <summary>"default" drops the CLS token of the selected layer; "full" keeps it.</summary>
    [JsonPropertyName("vision_feature_select_strategy")] public string VisionFeatureSelectStrategy { get; init; } = "default";
    /// <summary>Index into the tower's hidden_states (negative from the end; −2 = the penultimate block's output).</summary>
    [JsonPropertyName("vision_feature_layer")] public int VisionFeatureLayer { get; init; } = -2;
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }

    [JsonIgnore] public ClipVisionConfig Vision { get; init; } = ClipVisionConfig.VitL14_336;
    [JsonIgnore] public LlamaConfig Text { get; init; } = new();

    /// <summary>Throws a <see cref="GlanceException"/> naming the first bad field.</summary>
    public LlavaConfig Validate(string source = "LLaVA config")
    {
        if (VisionFeatureSelectStrategy is not ("default" or "full"))
            throw GlanceException.ForFile(source, $"vision_feature_select_strategy '{VisionFeatureSelectStrategy}' is not one of default, full");
        int n = Vision.NumHiddenLayers;
        if (VisionFeatureLayer < -(n + 1) || VisionFeatureLayer > n)
            throw GlanceException.ForFile(source, $"vision_feature_layer {VisionFeatureLayer} does not exist in a {n}-layer tower (hidden_states 0..{n} or -{n + 1}..-1)");
        if (!Activations.IsKnown(ProjectorHiddenAct))
            throw GlanceException.ForFile(source, $"projector_hidden_act '{ProjectorHiddenAct}' is not one of {string.Join(", ", Activations.Known)}");
        if (ImageTokenIndex < 0 || ImageTokenIndex >= Text.VocabSize)
            throw GlanceException.ForFile(source, $"image_token_index {ImageTokenIndex} is outside the language model's vocabulary of {Text.VocabSize}");
        return this;
    }

    /// <summary>The hidden_states index ≥ 0 of <see cref="VisionFeatureLayer"/>.</summary>
    [JsonIgnore] public int FeatureLayerIndex => VisionFeatureLayer < 0 ? Vision.NumHiddenLayers + 1 + VisionFeatureLayer : VisionFeatureLayer;

    /// <summary>Visual tokens per image: the patches, plus CLS with "full".</summary>
    [JsonIgnore] public int ImageTokens => Vision.NumPatches + (VisionFeatureSelectStrategy == "full" ? 1 : 0);

    /// <summary>True when <paramref name="root"/> is an HF LLaVA config (model_type "llava" with a text_config or vision_config).</summary>
    public static bool Describes(JsonObject root) =>
        ConfigJson.ModelType(root) == ModelTypeName && (root["text_config"] is JsonObject || root["vision_config"] is JsonObject);

    public static LlavaConfig FromJson(JsonObject root, string source)
    {
        var type = ConfigJson.ModelType(root);
        if (type != ModelTypeName) throw GlanceException.ForFile(source, $"model_type is '{type}', expected '{ModelTypeName}'");
        // LlavaConfig: an absent vision_config is CLIP ViT-L/14-336, an absent text_config a default Llama.
        var vision = root["vision_config"] is JsonObject ? ClipVisionConfig.FromJson(root, source) : ClipVisionConfig.VitL14_336;
        var textNode = root["text_config"] as JsonObject ?? new JsonObject();
        var textType = textNode["model_type"]?.GetValue<string>() ?? "llama";
        if (textType != "llama")
            throw GlanceException.ForFile(source, $"text_config.model_type '{textType}' is not a language model SharpGlance knows (llama)");
        var text = ConfigJson.Bind<LlamaConfig>(textNode, source).Validate(source);
        return (ConfigJson.Bind<LlavaConfig>(root, source) with { Vision = vision, Text = text }).Validate(source);
    }

    public static LlavaConfig FromFile(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        return FromJson(ConfigJson.ReadObject(path), path);
    }
}

/// <summary>HF <c>LlavaMultiModalProjector</c>: linear_1 → act → linear_2, each visual token on its own.</summary>
public sealed class LlavaMultiModalProjector : nn.Module<Tensor, Tensor>
{
    public Linear linear_1, linear_2;
    private readonly Func<Tensor, Tensor> _act;

    public LlavaMultiModalProjector(long visionWidth, long textWidth, string act, Device? device, ScalarType dtype) : base(nameof(LlavaMultiModalProjector))
    {
        _act = Activations.Resolve(act);
        linear_1 = Layers.Linear(visionWidth, textWidth, true, device, dtype);
        linear_2 = Layers.Linear(textWidth, textWidth, true, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return linear_2.forward(_act(linear_1.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// HF <c>LlavaForConditionalGeneration</c>: the CLIP tower (<c>vision_tower.vision_model.*</c>), the
/// projector (<c>multi_modal_projector.*</c>) and a Llama (<c>language_model.*</c>), with the folder's
/// Llama tokenizer and CLIP image processor. The <c>&lt;image&gt;</c> token of a prompt is replaced by the
/// image's visual tokens where it stands (<see cref="Merge"/>), and the Llama decodes through
/// <see cref="TextGenerator"/> as OPT does.
/// </summary>
public sealed class LlavaForConditionalGeneration : ICaptionModel
{
    public const string VisionPrefix = "vision_tower.vision_model.";
    public const string ProjectorPrefix = "multi_modal_projector.";
    public const string LanguagePrefix = "language_model.";
    /// <summary>The llava-hf processor's prompt; {0} is the question.</summary>
    public const string PromptFormat = "USER: <image>\n{0} ASSISTANT:";
    public const string ImageToken = "<image>";

    public LlavaConfig Config { get; }
    public ClipVisionModel vision_tower { get; }
    public LlavaMultiModalProjector multi_modal_projector { get; }
    public LlamaForCausalLM language_model { get; }
    public LlamaTokenizer Tokenizer { get; }
    public ClipImageProcessor ImageProcessor { get; }
    public Device Device { get; }

    public LlavaForConditionalGeneration(LlavaConfig config, ClipVisionModel vision, LlavaMultiModalProjector projector, LlamaForCausalLM lm,
        LlamaTokenizer tokenizer, ClipImageProcessor processor, Device device)
    {
        Config = config; vision_tower = vision; multi_modal_projector = projector; language_model = lm;
        Tokenizer = tokenizer; ImageProcessor = processor; Device = device;
        if (tokenizer.VocabSize > lm.Config.VocabSize)
            throw new GlanceException($"the tokenizer has {tokenizer.VocabSize} entries but the language model's vocab_size is {lm.Config.VocabSize}");
    }

    /// <summary>
    /// Loads an HF LLaVA folder: config.json, safetensors (one file or shards with their index),
    /// tokenizer.model with its json files, preprocessor_config.json. The tower is built only up to the
    /// layer the features are read from (the blocks after it, and post_layernorm, are never read).
    /// </summary>
    public static LlavaForConditionalGeneration FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        device ??= CPU;
        if (!Directory.Exists(folder)) throw GlanceException.ForFile(folder, "no such model folder");
        var config = LlavaConfig.FromFile(folder);
        var tokenizer = LlamaTokenizer.FromFolder(folder);
        // The HF processor resizes the short side and centre-crops (no expand2square). Without a
        // preprocessor_config.json: CLIP's processing at the tower's input size.
        var processorConfig = ImageProcessorConfig.FromFolder(folder, AspectMode.Square);
        if (!File.Exists(Path.Combine(folder, "preprocessor_config.json")))
            processorConfig = processorConfig with { ShortestEdge = config.Vision.ImageSize, CropSize = config.Vision.ImageSize };
        var processor = new ClipImageProcessor(processorConfig);
        using var ck = Checkpoint.Open(folder);
        ClipVisionModel? vision = null;
        LlavaMultiModalProjector? projector = null;
        LlamaForCausalLM? lm = null;
        try
        {
            vision = ClipVisionModel.Load(config.Vision, ck, VisionPrefix, device, dtype, buildLayers: Math.Max(config.FeatureLayerIndex, 0));
            projector = new LlavaMultiModalProjector(config.Vision.HiddenSize, config.Text.HiddenSize, config.ProjectorHiddenAct, device, dtype);
            ck.LoadInto(projector, ProjectorPrefix);
            projector.eval();
            lm = LlamaForCausalLM.Load(config.Text, ck, LanguagePrefix, device, dtype);
            var model = new LlavaForConditionalGeneration(config, vision, projector, lm, tokenizer, processor, device);
            MemoryHygiene.AfterLoad();
            return model;
        }
        catch
        {
            vision?.Dispose(); projector?.Dispose(); lm?.Dispose();
            throw;
        }
    }

    // ---- the image's tokens ----------------------------------------------------------------------

    /// <summary>
    /// HF's image features [N_img, tokens, text hidden]: hidden_states[vision_feature_layer] of the tower,
    /// CLS dropped ("default") or kept ("full"), through the projector.
    /// </summary>
    public Tensor ImageFeatures(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var output = vision_tower.Forward(pixelValues.to(Device), [Config.FeatureLayerIndex]);
        var selected = output.HiddenStates[Config.FeatureLayerIndex];
        if (Config.VisionFeatureSelectStrategy == "default") selected = selected[.., 1..];
        return multi_modal_projector.forward(selected).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// transformers 4.36's <c>_merge_input_ids_with_image_features</c>: each <c>&lt;image&gt;</c> in
    /// <paramref name="inputIds"/> [B, T] becomes the next image's visual tokens, in place; rows are padded
    /// to the longest merged row on the left when the batch is left-padded (no row ends in pad_token_id),
    /// else on the right. Returns the embeddings [B, M, H] and the mask [B, M] (positions follow from the
    /// mask, as HF's <c>(mask.cumsum(-1) − 1).masked_fill(mask == 0, 1)</c>, inside the Llama).
    /// Where HF tells image slots by embeddings that are exactly zero, this tracks the slots themselves
    /// (the same unless a text token's embedding is all zeros).
    /// </summary>
    public (Tensor Embeds, Tensor Mask) Merge(Tensor inputIds, Tensor attentionMask, Tensor imageFeatures)
    {
        if (inputIds.dim() != 2) throw new GlanceException($"LLaVA: input_ids has shape [{string.Join(", ", inputIds.shape)}], expected [B, T]");
        if (!attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new GlanceException($"LLaVA: attention_mask has shape [{string.Join(", ", attentionMask.shape)}], expected [{string.Join(", ", inputIds.shape)}]");
        long b = inputIds.shape[0], t = inputIds.shape[1];
        long nImages = imageFeatures.shape[0], n = imageFeatures.shape[1], h = imageFeatures.shape[2];
        var ids = inputIds.cpu().to_type(ScalarType.Int64).data<long>().ToArray();
        var mask = attentionMask.cpu().to_type(ScalarType.Int64).data<long>().ToArray();
        long imageId = Config.ImageTokenIndex;
        long pad = Config.PadTokenId ?? Config.Text.PadTokenId ?? -1;

        bool leftPadding = true;
        for (long i = 0; i < b; i++) if (ids[i * t + t - 1] == pad) leftPadding = false;
        var perRow = new long[b];
        for (long i = 0; i < b; i++) for (long j = 0; j < t; j++) if (ids[i * t + j] == imageId) perRow[i]++;
        long total = perRow.Sum();
        if (total != nImages)
            throw new GlanceException($"LLaVA: the prompts hold {total} {ImageToken} token{(total == 1 ? "" : "s")} but {nImages} image{(nImages == 1 ? " was" : "s were")} given");
        long m = perRow.Max() * (n - 1) + t;

        // Where each text token goes (HF: cumsum(image ? n : 1) − 1, shifted right by the row's shortfall
        // when left-padded), and the slots left for images: the unwritten ones after that shortfall.
        var textSrc = new List<long>();
        var textDst = new List<long>();
        var imageDst = new List<long>();
        var merged = new long[b * m];
        for (long i = 0; i < b; i++)
        {
            var written = new bool[m];
            long pos = -1;
            var newPos = new long[t];
            for (long j = 0; j < t; j++) { pos += ids[i * t + j] == imageId ? n : 1; newPos[j] = pos; }
            long shortfall = m - 1 - newPos[t - 1];
            for (long j = 0; j < t; j++)
            {
                if (leftPadding) newPos[j] += shortfall;
                if (ids[i * t + j] == imageId) continue;
                textSrc.Add(i * t + j);
                textDst.Add(i * m + newPos[j]);
                written[newPos[j]] = true;
                merged[i * m + newPos[j]] = mask[i * t + j];
            }
            long unwritten = 0;
            for (long k = 0; k < m; k++)
            {
                if (written[k]) continue;
                if (unwritten++ >= shortfall) { imageDst.Add(i * m + k); merged[i * m + k] = 1; }
            }
        }
        if (imageDst.Count != nImages * n)
            throw new GlanceException($"LLaVA: {imageDst.Count} image slots for {nImages * n} visual tokens; the batch is neither left- nor right-padded consistently");

        using var scope = NewDisposeScope();
        var dtype = language_model.DType;
        var textEmbeds = language_model.Embed(inputIds.to(Device)).view(b * t, -1);
        var embeds = zeros([b * m, h], dtype, Device);
        embeds.index_copy_(0, tensor(textDst.ToArray(), device: Device), textEmbeds.index_select(0, tensor(textSrc.ToArray(), device: Device)));
        embeds.index_copy_(0, tensor(imageDst.ToArray(), device: Device), imageFeatures.to(dtype, Device).reshape(-1, h));
        var mergedMask = tensor(merged, [b, m], device: Device);
        return (embeds.view(b, m, h).MoveToOuterDisposeScope(), mergedMask.MoveToOuterDisposeScope());
    }

    // ---- forward and generation ------------------------------------------------------------------

    /// <summary>The logits [B, M, V] of the merged sequence (HF's forward with input_ids, pixel_values, attention_mask).</summary>
    public Tensor Logits(Tensor inputIds, Tensor attentionMask, Tensor pixelValues)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var features = ImageFeatures(pixelValues);
        var (embeds, mask) = Merge(inputIds, attentionMask, features);
        using var output = language_model.forward(new OptInputs { InputsEmbeds = embeds, AttentionMask = mask });
        return output.Logits.alias().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HF <c>generate</c> from prompts with their images: the new tokens of each row (see <see cref="TextGenerator"/>).
    /// The decoding steps attend with the merged prompt's mask followed by ones, as transformers 4.36's
    /// LLaVA does (it rebuilds that mask each step from the text mask); not reproduced is its extra rule
    /// that masks cache positions whose first-layer keys sum to exactly zero, which only an all-zero
    /// padding embedding can trigger here (it is meant for caches preallocated with zeros).
    /// </summary>
    public GenerationResult Generate(Tensor inputIds, Tensor attentionMask, Tensor pixelValues, GenerationOptions options)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var features = ImageFeatures(pixelValues);
        var (embeds, mask) = Merge(inputIds, attentionMask, features);
        features.Dispose();
        return TextGenerator.Run(language_model, embeds, mask, options);
    }

    /// <summary>Decoding settings with this model's EOS and pad ids (generation_config's: pad = config's pad_token_id, else EOS).</summary>
    public GenerationOptions WithModelTokens(GenerationOptions options) => options with
    {
        EosTokenId = Tokenizer.EosId,
        PadTokenId = Config.PadTokenId ?? Config.Text.PadTokenId ?? Tokenizer.EosId,
    };

    /// <summary>The llava-hf processor's prompt for <paramref name="question"/>.</summary>
    public static string Prompt(string question) => string.Format(System.Globalization.CultureInfo.InvariantCulture, PromptFormat, question);

    /// <summary>
    /// Prompt ids [B, T] and mask, left-padded with the pad id (the processor's <c>padding_side="left"</c>
    /// for generation), each row BOS + the tokenized prompt.
    /// </summary>
    public (Tensor Ids, Tensor Mask) PromptIds(IReadOnlyList<string> prompts)
    {
        var rows = prompts.Select(p => Tokenizer.Encode(p)).ToList();
        int t = rows.Max(r => r.Length);
        long pad = Config.PadTokenId ?? Config.Text.PadTokenId ?? Tokenizer.PadId ?? Tokenizer.EosId;
        var ids = new long[rows.Count * t];
        var mask = new long[rows.Count * t];
        for (int i = 0; i < rows.Count; i++)
        {
            int offset = t - rows[i].Length;
            for (int j = 0; j < t; j++)
            {
                bool real = j >= offset;
                ids[i * t + j] = real ? rows[i][j - offset] : pad;
                mask[i * t + j] = real ? 1 : 0;
            }
        }
        return (tensor(ids, [rows.Count, t]), tensor(mask, [rows.Count, t]));
    }

    /// <summary>
    /// Answers <paramref name="question"/> about each image (one prompt per image, batched): the decoded
    /// new tokens, special tokens skipped, trimmed.
    /// </summary>
    public IReadOnlyList<string> Caption(IReadOnlyList<RgbImage> images, string question, GenerationOptions options)
    {
        if (images.Count == 0) return [];
        using var scope = NewDisposeScope();
        var pixels = ImageProcessor.PreprocessBatch(images, AspectMode.Square);
        var (ids, mask) = PromptIds(Enumerable.Repeat(Prompt(question), images.Count).ToList());
        var o = WithModelTokens(options);
        var result = Generate(ids, mask, pixels, o);
        return Enumerable.Range(0, result.Sequences.Length)
            .Select(i => Tokenizer.Decode(result.Tokens(i, o.EosTokenId)).Trim()).ToList();
    }

    // ---- as a captioning model (caption, serve) -------------------------------------------------

    /// <summary>The question asked for a caption when none is given (LLaVA-1.5's COCO captioning prompt).</summary>
    public const string CaptionQuestion = "Provide a one-sentence caption for the provided image.";

    bool ICaptionModel.CanRefine => false;
    int ICaptionModel.VocabSize => language_model.Config.VocabSize;
    void ICaptionModel.CheckImage(RgbImage image) => ImageProcessor.CheckSize(image, AspectMode.Square);
    int ICaptionModel.CountTokens(string text) => Tokenizer.Encode(text, addBos: false).Length;

    IReadOnlyList<ImageCaption> ICaptionModel.CaptionImages(IReadOnlyList<RgbImage> images, CaptionRunOptions options, CaptionStageTimes? stages)
    {
        if (options.Rounds > 0) throw new GlanceException("refinement needs a captioner with DeepLens (a Hugging Face LLaVA has only the first glance)");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var captions = Caption(images, options.Question ?? CaptionQuestion, options.Generation);
        if (stages is not null) stages.FirstGlance = clock.Elapsed;
        return captions.Select(c => new ImageCaption("", c, null, [], null)).ToList();
    }

    public void Dispose()
    {
        vision_tower.Dispose(); multi_modal_projector.Dispose(); language_model.Dispose();
    }
}
