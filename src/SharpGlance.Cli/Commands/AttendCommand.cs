using System.CommandLine;
using SharpGlance.Attention;
using SharpGlance.Generation;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance attend IMAGE --out DIR [--refine]</c>: captions one image and draws where the model looked for
/// each word (<see cref="AttentionMaps"/>, <see cref="AttentionSheet"/>).
/// </summary>
public static class AttendCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "The image file" };
        var outDir = new Option<string>("--out") { Description = "Folder for the maps: first.png (contact sheet), first/NN-word.png, with --refine second.png, second/, deeplens.png; attention.json", Required = true };
        var refine = new Option<bool>("--refine") { Description = "Also the second glance: DeepLens's cross-attention per level and the LM's attention through DeepLens" };
        var model = new Option<string?>("--model") { Description = "Captioner folder or hub name (default: the embedded model)" };
        var vision = new Option<string?>("--vision") { Description = "CLIP folder or hub name to use as the vision tower" };
        var beams = new Option<int>("--beams") { Description = "Beam width (1 = greedy)", DefaultValueFactory = _ => 3 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "New tokens at most", DefaultValueFactory = _ => 77 };
        var question = new Option<string?>("--question") { Description = "The prompt's question" };
        var device = new Option<string>("--device") { Description = "cpu", DefaultValueFactory = _ => "cpu" };
        var command = new Command("attend", "Caption an image and draw each word's attention over it (both glances with --refine).")
        {
            image, outDir, refine, model, vision, beams, maxNew, question, device,
        };
        command.SetAction(parse =>
        {
            var options = new AttentionOptions
            {
                Generation = GenerationOptions.Paper with { NumBeams = parse.GetValue(beams), MaxNewTokens = parse.GetValue(maxNew) },   // glance caption's decoding
                Refine = parse.GetValue(refine),
                Question = parse.GetValue(question),
            };
            options.Generation.Validate(int.MaxValue);
            using var captioner = DefaultModel.LoadForInference(parse.GetValue(model), parse.GetValue(vision), parse.GetValue(device)!);
            var (maps, files) = AttentionMaps.Attend(captioner, parse.GetValue(image)!, options, parse.GetValue(outDir)!);
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"first glance:  {maps.First.Caption}");
            if (maps.Second is { } second) output.WriteLine($"second glance: {second.Caption}");
            output.WriteLine($"wrote {files.Count} files to {parse.GetValue(outDir)}");
            return 0;
        });
        return command;
    }
}
