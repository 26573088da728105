using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using SharpGlance.Attention;
using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.IO;
using SharpGlance.Preprocessing;
using SharpGlance.Runtime;
using SharpGlance.Tokenization;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance caption [IMAGES...]</c>: captions images (files, folders, globs) with a captioner folder,
/// by default the embedded model on the shipped sample scenes; <c>--refine</c> adds Sharp-Eyed Refinement.
/// </summary>
public static class CaptionCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Captioner folder or Hugging Face name org/name[@revision] in the hub cache (`glance download`; default: the embedded model, trained on the synthetic world)" };
        var vision = new Option<string?>("--vision") { Description = "CLIP folder or hub name to use as the vision tower (overrides the config's mm_vision_tower)" };
        var beams = new Option<int>("--beams") { Description = $"Beam width (1 = greedy; at most {GenerationOptions.MaxBeams})", DefaultValueFactory = _ => 3 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = $"New tokens at most (1 to {GenerationOptions.MaxTokens})", DefaultValueFactory = _ => 77 };
        var lengthPenalty = new Option<double>("--length-penalty") { Description = "Beam score = sum log p / length^lp (paper: 0)", DefaultValueFactory = _ => 0.0 };
        var sample = new Option<bool>("--sample") { Description = "Sample instead of searching (with --temperature, --top-p, --top-k, --seed)" };
        var temperature = new Option<double>("--temperature") { DefaultValueFactory = _ => 1.0 };
        var topP = new Option<double>("--top-p") { DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { DefaultValueFactory = _ => 0 };
        var seed = new Option<long?>("--seed") { Description = "Seed for --sample" };
        var batch = new Option<int>("--batch") { Description = "Images per batch", DefaultValueFactory = _ => 8 };
        var refine = new Option<bool>("--refine") { Description = "Take a second glance (Sharp-Eyed Refinement) after the first caption" };
        var rounds = new Option<int?>("--rounds") { Description = "Second glances, each refining the last (implies --refine; default 1)" };
        var showInitial = new Option<bool>("--show-initial") { Description = "Also print the first glance's caption (and every round)" };
        var question = new Option<string?>("--question") { Description = $"The prompt's question (default \"{PromptTemplate.DefaultQuestion}\")" };
        var json = new Option<bool>("--json") { Description = "One JSON object per image: image, caption, initial, rounds, seconds (its share of its batch's time), model, decoding" };
        var attention = new Option<string?>("--attention") { Description = "Also draw each image's attention maps into DIR/<image name>/ (as `glance attend`; the second glance's with --refine: its first round). Each image is captioned again, one at a time, with attention on" };
        var device = new Option<string>("--device") { Description = "cpu (this build has no CUDA: it is built on TorchSharp-cpu)", DefaultValueFactory = _ => "cpu" };
        var gemm = GemmChoice.Option();
        var precision = PrecisionChoice.Option();
        var images = new Argument<string[]>("images")
        {
            Description = $"Image files, folders or globs (default: the shipped sample scenes); each image at most {RgbImage.DefaultMaxPixels:N0} pixels " +
                          $"and {ClipImageProcessor.MaxAspectRatio}:1 long side to short (a bad image gets one error line, the others are captioned)",
            Arity = ArgumentArity.ZeroOrMore,
        };

        var command = new Command("caption", "Caption images (first glance; --refine adds the second glance).")
        {
            model, vision, beams, maxNew, lengthPenalty, sample, temperature, topP, topK, seed, batch, refine, rounds, showInitial, question, json, attention, device, gemm, precision, images,
        };
        command.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            int roundCount = parseResult.GetValue(rounds) ?? (parseResult.GetValue(refine) ? 1 : 0);
            var generation = new GenerationOptions
            {
                NumBeams = parseResult.GetValue(beams),
                MaxNewTokens = parseResult.GetValue(maxNew),
                LengthPenalty = parseResult.GetValue(lengthPenalty),
                EarlyStopping = EarlyStopping.True,
                DoSample = parseResult.GetValue(sample),
                Temperature = parseResult.GetValue(temperature),
                TopP = parseResult.GetValue(topP),
                TopK = parseResult.GetValue(topK),
                Seed = parseResult.GetValue(seed),
            };
            // Errors appear as they happen, above the progress bar (or between the log lines).
            var errors = CliProgress.Above(parseResult.InvocationConfiguration.Error);
            int failed = 0, done = 0;
            void Fail(string error)
            {
                failed++;
                errors.WriteLine($"glance: error: {error}");
            }
            // Checked before the model loads; an argument with no images is reported and the others go on.
            var given = parseResult.GetValue(images) ?? [];
            var paths = ImagePaths.Expand(given, DefaultModel.SamplesFolder, Fail);
            generation.Validate(int.MaxValue);
            // The shipped samples live in the build folder: show their names, not the long absolute path.
            Func<string, string> shown = given.Length == 0 ? Path.GetFileName : p => p;
            using var captioner = DefaultModel.LoadAnyForInference(parseResult.GetValue(model), parseResult.GetValue(vision), parseResult.GetValue(device)!,
                parseResult.GetValue(gemm), parseResult.GetValue(precision));
            var options = new CaptionRunOptions
            {
                Generation = generation,
                BatchSize = parseResult.GetValue(batch),
                Rounds = roundCount,
                Question = parseResult.GetValue(question),
            };
            bool asJson = parseResult.GetValue(json), both = parseResult.GetValue(showInitial);
            // Recorded on every --json line, so that `glance eval --report` can say how the captions were made.
            string modelName = parseResult.GetValue(model) ?? "the embedded default model";
            string decoding = generation.Describe() + (roundCount == 0 ? "; first glance" : $"; {roundCount} second glance{(roundCount > 1 ? "s" : "")} (refined)");
            var jsonOptions = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            string? attentionDir = parseResult.GetValue(attention);
            if (attentionDir is not null && captioner is not Captioner)
                throw new GlanceException("--attention needs a SharpGlance captioner (a Hugging Face LLaVA has no attention maps here)");
            var attentionOptions = new AttentionOptions { Generation = generation, Refine = roundCount > 0, Question = options.Question };
            using var interrupts = Interrupts.Listen();
            // Captions appear as they are made, above the progress bar (or between the log lines).
            var lines = CliProgress.Above(output);
            CliProgress.Run("caption", progress =>
            {
                foreach (var r in CaptionPipeline.Run(captioner, paths, options, progress))
                {
                    if (interrupts.Requested) break;
                    done++;
                    string image = shown(r.Image);
                    if (!r.Ok)
                    {
                        Fail(r.Error!);
                        continue;
                    }
                    if (attentionDir is not null)
                        AttentionMaps.Attend((Captioner)captioner, r.Image, attentionOptions, Path.Combine(attentionDir, Path.GetFileNameWithoutExtension(r.Image)));
                    if (asJson)
                        lines.WriteLine(JsonSerializer.Serialize(new { image, caption = r.Caption, initial = r.Initial, rounds = r.Rounds, seconds = Math.Round(r.Seconds ?? 0, 3), model = modelName, decoding }, jsonOptions));
                    else if (both && r.Initial is not null)
                    {
                        lines.WriteLine(image);
                        lines.WriteLine($"  initial: {r.Initial}");
                        for (int i = 0; i < r.Rounds.Count; i++) lines.WriteLine($"  refined{(r.Rounds.Count > 1 ? $" ({i + 1})" : "")}: {r.Rounds[i]}");
                    }
                    else
                        lines.WriteLine($"{image}: {r.Caption}");
                }
                return 0;
            });
            if (interrupts.Requested)
                return interrupts.Report(parseResult.InvocationConfiguration.Error, $"stopped after {done} of {paths.Count} images");
            return failed == 0 ? 0 : 2;
        });
        return command;
    }
}

/// <summary>Expands the image arguments: files, folders (their image files, sorted) and * / ? globs.</summary>
public static class ImagePaths
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"];

    /// <summary>
    /// The image files the arguments name. A folder or glob with no images, or one that cannot be read, is
    /// passed to <paramref name="report"/> (one error line) and the others go on; without a reporter it throws.
    /// </summary>
    public static IReadOnlyList<string> Expand(IReadOnlyList<string> args, string defaultFolder, Action<string>? report = null)
    {
        if (args.Count == 0) args = [defaultFolder];
        var result = new List<string>();
        foreach (var arg in args)
        {
            try
            {
                if (Directory.Exists(arg))
                {
                    var found = Directory.EnumerateFiles(arg).Where(IsImage).Order(StringComparer.Ordinal).ToList();
                    if (found.Count == 0) throw GlanceException.ForFile(arg, "the folder holds no images (" + string.Join(", ", Extensions) + ")");
                    result.AddRange(found);
                }
                else if (arg.IndexOfAny(['*', '?']) >= 0)
                {
                    var dir = Path.GetDirectoryName(arg) is { Length: > 0 } d ? d : ".";
                    var pattern = Path.GetFileName(arg);
                    var found = Directory.Exists(dir) ? Directory.EnumerateFiles(dir, pattern).Where(IsImage).Order(StringComparer.Ordinal).ToList() : [];
                    if (found.Count == 0) throw GlanceException.ForFile(arg, "no image matches this pattern");
                    result.AddRange(found);
                }
                else result.Add(arg);   // a missing or bad file becomes that image's error line
            }
            catch (Exception e) when (report is not null && e is GlanceException or IOException or UnauthorizedAccessException)
            {
                report(e is GlanceException ? e.Message : $"{arg}: cannot be read ({e.Message})");
            }
        }
        return result;
    }

    private static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());
}

/// <summary>Where the embedded default model and the sample scenes are (copied beside the executable at build).</summary>
public static class DefaultModel
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "models", "default");
    public static string SamplesFolder => Path.Combine(AppContext.BaseDirectory, "samples");

    /// <summary>The embedded model's tokenizer, else the repository's test copy of the OPT vocabulary
    /// (<c>tests/fixtures/tokenizers/opt</c>) in the first checkout above the current folder or the executable.</summary>
    public static string? TokenizerFolder()
    {
        if (OptTokenizer.Exists(Folder)) return Folder;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Path.Combine(dir.FullName, "tests", "fixtures", "tokenizers", "opt") is var candidate && OptTokenizer.Exists(candidate)) return candidate;
        return null;
    }

    /// <summary>
    /// The captioner <c>--model</c> names (see <see cref="Resolve"/>), with <c>--vision</c>'s tower, loaded for
    /// inference in <c>--precision</c>'s number format (fp32 where none is given: the attention analyses), after
    /// <c>--gemm</c>'s choice of matrix library is applied on the CPU.
    /// </summary>
    public static Captioner LoadForInference(string? model, string? vision, string device, string? gemm = null, string? precision = "fp32")
    {
        var (folder, options) = InferenceOptions(model, vision, device, gemm, precision);
        return Captioner.Load(folder, options);
    }

    /// <summary>As <see cref="LoadForInference"/>, also taking a Hugging Face LLaVA folder (see <see cref="CaptionModels.Load"/>).</summary>
    public static ICaptionModel LoadAnyForInference(string? model, string? vision, string device, string? gemm = null, string? precision = "fp32")
    {
        var (folder, options) = InferenceOptions(model, vision, device, gemm, precision);
        return CaptionModels.Load(folder, options);
    }

    private static (string Folder, CaptionerLoadOptions Options) InferenceOptions(string? model, string? vision, string device, string? gemm, string? precision)
    {
        var folder = Resolve(model);
        var onDevice = Devices.Parse(device);
        if (onDevice.type == TorchSharp.DeviceType.CPU) GemmChoice.Apply(GemmChoice.Parse(gemm));
        return (folder, new CaptionerLoadOptions
        {
            VisionFolder = HubCache.ResolveOptional(vision),
            Device = onDevice,
            DType = Precisions.Resolve(PrecisionChoice.Parse(precision), onDevice),
            TrimVision = true,   // inference only: the tower stops at the highest tapped layer
        });
    }

    /// <summary>
    /// <c>--model</c>'s folder (a Hugging Face name resolved from the cache), or the embedded model's when
    /// none was given (which must be in this build).
    /// </summary>
    public static string Resolve(string? model)
    {
        if (model is not null) return HubCache.ResolveOptional(model)!;
        if (!File.Exists(Path.Combine(Folder, "config.json")))
            throw GlanceException.ForFile(Folder, "the embedded default model is missing from this build; pass --model DIR, or train one with `glance demo --export models/default` and rebuild");
        return Folder;
    }
}
