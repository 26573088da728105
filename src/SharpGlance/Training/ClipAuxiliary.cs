using SharpGlance.Data.Pseudo;
using SharpGlance.Data.Synthetic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpGlance.Training;

/// <summary>
/// What a synthetic world adds to the tower's contrastive loss, so that the frozen tower tells what is where
/// (CLIP's in-batch negatives of random scenes never force counts or relations into it):
/// <list type="bullet">
/// <item><b>Hard negatives</b> (NegCLIP): each image's caption with one word swapped by the pseudo-caption
/// editor (entity, colour, count, size or relation) joins the batch's texts as a negative of that image.</item>
/// <item><b>A scene-graph loss</b> on one hidden state: per patch, the entity covering it (or background), its
/// colour, count and size; on the CLS token, the relation between two groups with its roles (first = the
/// group whose entity sorts first, <see cref="SceneLabels"/>). Its heads are for training only: the saved
/// CLIP has none of them.</item>
/// </list>
/// </summary>
public sealed record ClipAuxiliaryOptions
{
    public bool HardNegatives { get; init; }
    /// <summary>Weight of the scene-graph loss (0: off). Needs <c>{split}.scenes.json</c> beside the data file.</summary>
    public double SceneLoss { get; init; }
    /// <summary>The hidden state the scene-graph heads read (negatives from the end; −2 is what LLaVA's first glance reads).</summary>
    public int SceneLayer { get; init; } = -2;

    public bool Any => HardNegatives || SceneLoss > 0;

    /// <summary>What a resume must match (empty when off, so runs without them resume as before).</summary>
    public IEnumerable<KeyValuePair<string, string?>> RunSettings()
    {
        if (HardNegatives) yield return new("hard-negatives", "true");
        if (SceneLoss > 0)
        {
            yield return new("scene-loss", SceneLoss.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            yield return new("scene-layer", SceneLayer.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}

/// <summary>The scene-graph heads (training only): linear maps from one hidden state's tokens to the labels.</summary>
public sealed class SceneHeads : nn.Module
{
    public const int Ignore = -100;
    private readonly LayerNorm norm;
    private readonly Linear entity, colour, count, size, relation;
    public SceneVocabulary Vocabulary { get; }

    public SceneHeads(int width, SceneVocabulary vocab, Generator? generator = null) : base(nameof(SceneHeads))
    {
        Vocabulary = vocab;
        norm = nn.LayerNorm(width);
        entity = nn.Linear(width, vocab.Entities.Count + 1);   // + background
        colour = nn.Linear(width, vocab.Colours.Count);
        count = nn.Linear(width, SceneVocabulary.MaxCount);
        size = nn.Linear(width, 2);
        relation = nn.Linear(width, vocab.Predicates.Count + 1);   // + "one group"
        RegisterComponents();
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
            if (name.StartsWith("norm.")) continue;
            else if (name.EndsWith("weight")) p.normal_(0, 0.02, generator);
            else p.zero_();
    }

    /// <summary>
    /// The mean of the five cross-entropies on <paramref name="hidden"/> [B, 1 + g², D] (CLS first), with
    /// the targets of <see cref="Targets"/>.
    /// </summary>
    public Tensor Loss(Tensor hidden, SceneTargets t)
    {
        using var scope = NewDisposeScope();
        var h = norm.forward(hidden);
        var cls = h.select(1, 0);
        var patches = h.narrow(1, 1, hidden.shape[1] - 1).flatten(0, 1);
        Tensor Ce(Tensor logits, Tensor target) => nn.functional.cross_entropy(logits, target, ignore_index: Ignore);
        var loss = Ce(entity.forward(patches), t.Entity.flatten())
                   + Ce(colour.forward(patches), t.Colour.flatten())
                   + Ce(count.forward(patches), t.Count.flatten())
                   + Ce(size.forward(patches), t.Size.flatten())
                   + Ce(relation.forward(cls), t.Relation);
        return (loss / 5.0).MoveToOuterDisposeScope();
    }
}

/// <summary>One batch's targets: per patch [B, g²] (<see cref="SceneHeads.Ignore"/> where a label does not apply), per image [B].</summary>
public sealed record SceneTargets(Tensor Entity, Tensor Colour, Tensor Count, Tensor Size, Tensor Relation) : IDisposable
{
    /// <summary>A patch belongs to the group covering most of it, if that group covers at least a quarter of it.</summary>
    public const float MinCoverage = 0.25f;

    public static SceneTargets Of(IReadOnlyList<SceneLabels> scenes, int grid, int entities, Device device)
    {
        int cells = grid * grid, n = scenes.Count;
        var ent = new long[n * cells]; var col = new long[n * cells]; var cnt = new long[n * cells]; var siz = new long[n * cells];
        var rel = new long[n];
        for (int i = 0; i < n; i++)
        {
            var s = scenes[i];
            for (int c = 0; c < cells; c++)
            {
                GroupLabels? owner = null; float best = MinCoverage;
                foreach (var g in s.Groups)
                    if (g.Coverage[c] >= best) { best = g.Coverage[c]; owner = g; }
                int k = i * cells + c;
                ent[k] = owner?.Entity ?? entities;
                col[k] = owner?.Colour ?? SceneHeads.Ignore;
                cnt[k] = owner?.Count ?? SceneHeads.Ignore;
                siz[k] = owner?.Size ?? SceneHeads.Ignore;
            }
            rel[i] = s.Predicate ?? Relations.All.Count;
        }
        Tensor T(long[] v, long[] shape) => tensor(v, shape, device: device);
        return new SceneTargets(T(ent, [n, cells]), T(col, [n, cells]), T(cnt, [n, cells]), T(siz, [n, cells]), T(rel, [n]));
    }

    public void Dispose()
    {
        Entity.Dispose(); Colour.Dispose(); Count.Dispose(); Size.Dispose(); Relation.Dispose();
    }
}

/// <summary>The hard negatives and scene labels of a training set, prepared once.</summary>
public sealed class ClipAuxiliary
{
    public ClipAuxiliaryOptions Options { get; }
    public CaptionEditor? Editor { get; }
    public SceneHeads? Heads { get; }
    private readonly Dictionary<string, SceneLabels> _labels;
    private readonly int _grid;

    private ClipAuxiliary(ClipAuxiliaryOptions options, CaptionEditor? editor, SceneHeads? heads, Dictionary<string, SceneLabels> labels, int grid)
    {
        Options = options; Editor = editor; Heads = heads; _labels = labels; _grid = grid;
    }

    /// <summary>
    /// Reads what <paramref name="options"/> asks for: the lexicon beside <paramref name="data"/> for the
    /// editor; <c>{split}.scenes.json</c> beside it (split = the data file's name up to its first dot) for
    /// the labels of every image under <paramref name="images"/>.
    /// </summary>
    public static ClipAuxiliary Create(ClipAuxiliaryOptions options, string data, string images, int grid, int width, Device device, long seed)
    {
        var editor = options.HardNegatives ? new CaptionEditor(Lexicon.ForDataset(data)) : null;
        var labels = new Dictionary<string, SceneLabels>(StringComparer.Ordinal);
        SceneHeads? heads = null;
        if (options.SceneLoss > 0)
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(data))!;
            string split = Path.GetFileName(data).Split('.')[0];
            string scenesPath = Path.Combine(dir, $"{split}.scenes.json");
            var scenes = SceneJson.LoadScenes(scenesPath).Values.ToList();
            var vocab = SceneVocabulary.FromScenes(scenes);
            foreach (var s in scenes) labels[Path.GetFullPath(Path.Combine(images, s.FileName))] = SceneLabels.Of(s, vocab, grid);
            heads = new SceneHeads(width, vocab, new Generator((ulong)Seeds.Mix(seed, 0x5ce, 0)));
            heads.to(device);
        }
        return new ClipAuxiliary(options, editor, heads, labels, grid);
    }

    public SceneLabels Labels(string imagePath) =>
        _labels.TryGetValue(Path.GetFullPath(imagePath), out var l) ? l
            : throw GlanceException.ForFile(imagePath, "no scene graph for this image in the split's scenes.json (--scene-loss needs a synthetic world)");

    public SceneTargets Targets(IReadOnlyList<string> imagePaths, Device device) =>
        SceneTargets.Of(imagePaths.Select(Labels).ToList(), _grid, Heads!.Vocabulary.Entities.Count, device);
}
