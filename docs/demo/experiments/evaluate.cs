#:project ../../../src/SharpGlance/SharpGlance.csproj
#:property PublishAot=false
// Experiment harness (docs/demo/README.md, runs O onward): evaluates captioners on a world's test split —
// the first glance, the second glance, the error breakdown and what the second glance did to the first.
//   dotnet run docs/demo/experiments/evaluate.cs -- WORLD NAME=MODEL[:refine] ...  [--images N]
// NAME=MODEL scores the model's first glance; NAME=MODEL:refine also its refined caption (one round);
// NAME=MODEL:notext refines with the initial caption given to DeepLens only, not written in the LM's prompt.
// NAME=MODEL:refine@FIRST refines FIRST's greedy captions with MODEL (run R: the first glance from stage 1's
// weights, the refinement from the SeR model's — the refine path as a separate adapter of the LM).
using System.Text.Json;
using SharpGlance.Demo;
using SharpGlance.Generation;

var world = args[0];
var split = WorldSplit.Load(world);
int limit = args.SkipWhile(a => a != "--images").Skip(1).Select(int.Parse).FirstOrDefault(split.Ids.Count);
if (limit < split.Ids.Count)
    split = new WorldSplit { World = split.World, References = split.References, Scenes = split.Scenes, Analyzer = split.Analyzer,
        Ids = split.Ids.Take(limit).ToList(), Files = split.Files };
var generation = GenerationOptions.Paper with { NumBeams = 1, MaxNewTokens = 40 };
var rows = new List<object>();
foreach (var spec in args.Skip(1).TakeWhile(a => a != "--images"))
{
    var (name, rest) = (spec[..spec.IndexOf('=')], spec[(spec.IndexOf('=') + 1)..]);
    string? firstModel = null;
    if (rest.Contains(":refine@", StringComparison.Ordinal))
        (rest, firstModel) = (rest[..(rest.IndexOf(":refine@", StringComparison.Ordinal) + ":refine".Length)], rest[(rest.IndexOf(":refine@", StringComparison.Ordinal) + ":refine@".Length)..]);
    bool notext = rest.EndsWith(":notext", StringComparison.Ordinal);
    bool refine = notext || rest.EndsWith(":refine", StringComparison.Ordinal);
    var model = refine ? rest[..rest.LastIndexOf(':')] : rest;
    var clock = System.Diagnostics.Stopwatch.StartNew();
    var captions = firstModel is not null ? RefineWith(split, model, DemoEvaluation.Caption(split, firstModel, 0, generation).First, generation)
        : notext ? RefineWith(split, model, null, generation, captionInPrompt: false) : DemoEvaluation.Caption(split, model, refine ? 1 : 0, generation);
    void Report(string row, IReadOnlyDictionary<string, string> c)
    {
        var r = DemoEvaluation.Score(split, row, model, c);
        Console.WriteLine($"{row,-28} CIDEr {100 * r.Metrics["CIDEr"],6:0.0}  B@4 {100 * r.Metrics["Bleu_4"],5:0.0}  errors " +
            string.Join(" ", r.Errors.Select(kv => $"{kv.Key} {kv.Value}")) + $"  with errors {r.CaptionsWithErrors}/{r.Images} ({100.0 * r.CaptionsWithErrors / r.Images:0.0}%)");
        rows.Add(new { row, model, cider = 100 * r.Metrics["CIDEr"], bleu4 = 100 * r.Metrics["Bleu_4"], errors = r.Errors, with_errors = r.CaptionsWithErrors, images = r.Images });
    }
    Report(name + (refine ? " first" : ""), captions.First);
    if (refine)
    {
        Report(name + " refined", captions.Rounds[0]);
        var change = DemoEvaluation.Compare(split, captions.First, captions.Rounds[0]);
        Console.WriteLine($"{"",-28} changed {change.Changed}, right first glances {change.RightBefore} → kept right {change.KeptRight} ({100 * change.KeptRightShare:0.0}%), " +
            $"fixed {change.Fixed}, broken {change.Broken}, errors {change.ErrorsBefore} → {change.ErrorsAfter}");
        rows.Add(new { row = name + " change", change });
    }
    Console.Error.WriteLine($"  ({clock.Elapsed.TotalSeconds:0} s)");
}
Console.WriteLine(JsonSerializer.Serialize(rows));

// The model's second glance of every test image: refining its own first glance, or the given initial captions
// (another model's); with captionInPrompt false the caption reaches DeepLens only.
static GlanceCaptions RefineWith(WorldSplit split, string model, IReadOnlyDictionary<string, string>? initial, GenerationOptions generation, bool captionInPrompt = true)
{
    using var c = SharpGlance.Captioning.Captioner.Load(model);
    var first = new Dictionary<string, string>();
    var refined = new Dictionary<string, string>();
    foreach (var chunk in split.Ids.Chunk(32))
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var pixels = c.Pixels(chunk.Select(id => SharpGlance.Preprocessing.RgbImage.FromFile(split.Files[id])).ToList());
        using var features = c.Encode(pixels);
        var start = initial is null ? SharpGlance.Captioning.FirstGlance.Caption(c, features, generation) : chunk.Select(id => initial[id]).ToList();
        var second = SharpGlance.Captioning.Refinement.Refine(c, features, start, generation, captionInPrompt);
        for (int i = 0; i < chunk.Length; i++) { first[chunk[i]] = start[i]; refined[chunk[i]] = second[i]; }
    }
    return new GlanceCaptions(first, [refined]);
}
