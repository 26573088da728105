using SharpGlance.Captioning;
using SharpGlance.Data.Synthetic;
using SharpGlance.Evaluation;
using SharpGlance.Generation;
using SharpGlance.Preprocessing;
using static TorchSharp.torch;

namespace SharpGlance.Demo;

/// <summary>A split of the synthetic world as the evaluation reads it: references, scene graphs, image files.</summary>
public sealed class WorldSplit
{
    public required string World { get; init; }
    public required ReferenceSet References { get; init; }
    public required IReadOnlyDictionary<int, SceneGraph> Scenes { get; init; }
    public required SceneErrorAnalyzer Analyzer { get; init; }
    public required IReadOnlyList<string> Ids { get; init; }
    public required IReadOnlyDictionary<string, string> Files { get; init; }

    public static WorldSplit Load(string world, string split = "test")
    {
        var references = CaptionFiles.LoadReferences(Path.Combine(world, $"{split}.coco.json"));
        var ids = references.Captions.Keys.ToList();
        return new WorldSplit
        {
            World = world, References = references, Ids = ids,
            Scenes = SceneJson.LoadScenes(Path.Combine(world, $"{split}.scenes.json")),
            Analyzer = new SceneErrorAnalyzer(WorldLexicon.Load(Path.Combine(world, "lexicon.json"))),
            Files = ids.ToDictionary(id => id, id => Path.Combine(world, "images", references.ImageFiles[id])),
        };
    }

    public CaptionErrors Errors(string id, string caption) => Analyzer.Analyze(caption, Scenes[int.Parse(id)]);
}

/// <summary>One model's captions of a split: the first glance and each second glance, by image id.</summary>
public sealed record GlanceCaptions(IReadOnlyDictionary<string, string> First, IReadOnlyList<IReadOnlyDictionary<string, string>> Rounds);

/// <summary>What the second glance did to the first: how many right first glances it kept right, fixed or broke.</summary>
public sealed record GlanceChange(int Images, int Changed, int RightBefore, int KeptRight, int Fixed, int Broken, int ErrorsBefore, int ErrorsAfter)
{
    /// <summary>Of the first glances without an error, the share the second glance left without an error.</summary>
    public double KeptRightShare => RightBefore == 0 ? double.NaN : (double)KeptRight / RightBefore;
}

/// <summary>
/// The demo's evaluation: captions a split with a model (both glances), scores a set of captions with
/// coco-caption's metrics and the scene-graph error breakdown, and compares the two glances per image.
/// </summary>
public static class DemoEvaluation
{
    public static GlanceCaptions Caption(WorldSplit split, string modelFolder, int rounds, GenerationOptions generation, int batch = 32)
    {
        using var c = Captioner.Load(modelFolder);
        var first = new Dictionary<string, string>();
        var all = Enumerable.Range(0, rounds).Select(_ => new Dictionary<string, string>()).ToList();
        foreach (var chunk in split.Ids.Chunk(batch))
        {
            using var scope = NewDisposeScope();
            var results = CaptionPipeline.CaptionImages(c, chunk.Select(id => RgbImage.FromFile(split.Files[id])).ToList(),
                new CaptionRunOptions { Generation = generation, Rounds = rounds });
            for (int i = 0; i < chunk.Length; i++)
            {
                first[chunk[i]] = results[i].Initial ?? results[i].Caption!;
                for (int r = 0; r < rounds; r++) all[r][chunk[i]] = results[i].Rounds[r];
            }
        }
        return new GlanceCaptions(first, all);
    }

    public static DemoRow Score(WorldSplit split, string name, string description, IReadOnlyDictionary<string, string> captions)
    {
        var metrics = CocoEvaluator.Evaluate(split.References.Captions, captions).Corpus;
        var errors = split.Analyzer.Analyze(captions.Select(kv => (kv.Value, split.Scenes[int.Parse(kv.Key)])));
        return new DemoRow(name, description, metrics.ToDictionary(kv => kv.Key, kv => kv.Value),
            ErrorBreakdown.Kinds.ToDictionary(kind => kind, errors.Errors), errors.CaptionsWithAny, captions.Count);
    }

    public static GlanceChange Compare(WorldSplit split, IReadOnlyDictionary<string, string> first, IReadOnlyDictionary<string, string> second)
    {
        int changed = 0, rightBefore = 0, keptRight = 0, fixedCount = 0, broken = 0, before = 0, after = 0;
        foreach (var (id, a) in first)
        {
            var b = second[id];
            int ea = split.Errors(id, a).Total, eb = split.Errors(id, b).Total;
            before += ea; after += eb;
            if (a != b) changed++;
            if (ea == 0) { rightBefore++; if (eb == 0) keptRight++; else broken++; }
            else if (eb == 0) fixedCount++;
        }
        return new GlanceChange(first.Count, changed, rightBefore, keptRight, fixedCount, broken, before, after);
    }
}
