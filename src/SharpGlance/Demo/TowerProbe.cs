using SharpGlance.Data;
using SharpGlance.Data.Pseudo;
using SharpGlance.Preprocessing;
using SharpGlance.Tokenization;
using SharpGlance.Training;
using SharpGlance.Vision;
using static TorchSharp.torch;

namespace SharpGlance.Demo;

/// <summary>One kind of word the probe swaps: how often CLIP preferred the true caption over the swapped one.</summary>
public sealed record ForcedChoice(string Kind, int Right, int Total)
{
    public double Accuracy => Total == 0 ? double.NaN : (double)Right / Total;
}

/// <summary>What the frozen tower's pooled embedding tells apart, and image→text recall among the split's captions.</summary>
public sealed record TowerProbeResult(IReadOnlyList<ForcedChoice> Choices, double RecallAt1, int Images)
{
    public string Format() =>
        string.Join("\n", Choices.Select(c => $"{c.Kind,-9} {100 * c.Accuracy,5:0.0}%  ({c.Right}/{c.Total})"))
        + $"\nimage→text R@1 among the {Images} captions: {100 * RecallAt1:0.0}%";
}

/// <summary>
/// Probes a contrastive CLIP the way the paper's "visual blindness" premise needs: for each image, its
/// true caption against the same caption with one word of a kind swapped (entity, colour, count, size,
/// relation; the swap keeps the grammar, made by the pseudo-caption editor), decided by which text the
/// pooled image embedding is nearer to. Chance is 50%. A kind near chance is not in the pooled
/// embedding: a first glance that reads it must find it in the patch tokens, and a second glance has
/// something to add. Also image→text R@1 over the split's first captions.
/// </summary>
public static class TowerProbe
{
    public static TowerProbeResult Run(string clipFolder, string tokenizerFolder, string world, string split = "test", int maxImages = 500,
        long seed = 0, IProgress<ProgressUpdate>? progress = null)
    {
        using var _ = no_grad();
        using var clip = ClipModel.FromPretrained(clipFolder);
        var tokenizer = OptTokenizer.FromFolder(tokenizerFolder);
        var processor = SyntheticClip.Processor(clip.Config.VisionConfig.ImageSize);
        string data = Path.Combine(world, $"{split}.llava.json");
        var images = ClipTrainingTask.Group(LlavaDataset.Load(data, Path.Combine(world, "images"))).Take(maxImages).ToList();
        var editor = new CaptionEditor(Lexicon.ForDataset(data));
        int textLength = clip.Config.TextConfig.MaxPositionEmbeddings;
        var device = clip.logit_scale.device;

        var kinds = new[] { Lexicon.EntityKind, Lexicon.ColourKind, CaptionEditor.CountKind, Lexicon.SizeKind, Lexicon.RelationKind };
        var right = kinds.ToDictionary(k => k, _ => 0);
        var total = kinds.ToDictionary(k => k, _ => 0);
        var imageEmbeds = new List<Tensor>();
        var textEmbeds = new List<Tensor>();
        Tensor Normalised(Tensor t) => t / t.norm(-1, true, 2);
        int done = 0;
        foreach (var chunk in images.Chunk(64))
        {
            using var scope = NewDisposeScope();
            using var pixels = processor.PreprocessBatch(chunk.Select(e => RgbImage.FromFile(e.ImagePath)).ToList());
            var image = Normalised(clip.GetImageFeatures(pixels.to(device)));
            var truths = chunk.Select(e => e.Captions[0]).ToList();
            var (ids, mask) = SyntheticClip.Texts(tokenizer, truths, textLength, device);
            var truth = Normalised(clip.GetTextFeatures(ids, mask));
            imageEmbeds.Add(image.cpu().DetachFromDisposeScope());
            textEmbeds.Add(truth.cpu().DetachFromDisposeScope());
            foreach (var kind in kinds)
            {
                // One swap of this kind per image that has a word of it, drawn with a per-image seed.
                var swaps = chunk.Select((e, i) => (Row: i, Edit: editor.Edit(truths[i], 1, new Random(Seeds.Mix(seed, e.Index, kind.Length)), kind)))
                    .Where(x => x.Edit.Edits.Count == 1).ToList();
                if (swaps.Count == 0) continue;
                var (sid, smask) = SyntheticClip.Texts(tokenizer, swaps.Select(x => x.Edit.Text).ToList(), textLength, device);
                var swapped = Normalised(clip.GetTextFeatures(sid, smask));
                var rows = tensor(swaps.Select(x => (long)x.Row).ToArray(), device: device);
                var img = image.index_select(0, rows);
                var better = (img * truth.index_select(0, rows)).sum(1).gt((img * swapped).sum(1));
                right[kind] += (int)better.sum().item<long>();
                total[kind] += swaps.Count;
            }
            done += chunk.Length;
            progress?.Report(new ProgressUpdate(done, images.Count, "probing the tower"));
        }
        using var allImages = cat(imageEmbeds, 0);
        using var allTexts = cat(textEmbeds, 0);
        using var best = matmul(allImages, allTexts.t()).argmax(1);
        using var hits = best.eq(arange(images.Count, ScalarType.Int64)).sum();
        double recall = hits.item<long>() / (double)Math.Max(1, images.Count);
        foreach (var t in imageEmbeds.Concat(textEmbeds)) t.Dispose();
        return new TowerProbeResult(kinds.Select(k => new ForcedChoice(k, right[k], total[k])).ToList(), recall, images.Count);
    }
}
