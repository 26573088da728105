using SharpGlance.Attention;
using SharpGlance.Captioning;
using SharpGlance.Generation;
using SharpGlance.Preprocessing;
using SharpGlance.Training;

namespace SharpGlance.Tests.Attention;

public class AttentionMapsTests
{
    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 6 };

    private static RgbImage Image()
    {
        var px = new byte[48 * 56 * 3];
        new Random(9).NextBytes(px);
        return new RgbImage(48, 56, px);
    }

    [Fact]
    public void Both_glances_maps_belong_to_the_captions_decoding_wrote_and_are_distributions()
    {
        using var c = Captioner.Assemble(TinyModels.ClipFolder, TinyModels.OptFolder, new AssembleOptions { Seed = 3 });
        c.AttachDeepLens(TinyModels.DeepLens with { KeepFirstGlance = true }, seed: 4);
        var image = Image();
        var captions = CaptionPipeline.CaptionImages(c, [image], new CaptionRunOptions { Generation = Greedy, Rounds = 1 })[0];

        var maps = AttentionMaps.Read(c, image, new AttentionOptions { Generation = Greedy, Refine = true });

        Assert.Equal(captions.Initial, maps.First.Caption);
        Assert.Equal(captions.Caption, maps.Second!.Caption);
        int patches = c.Vision.Config.NumPatches, layers = c.Lm.Config.NumHiddenLayers, queries = TinyModels.DeepLens.NumQueries;
        Assert.Equal(new VisualLayout(0, patches, 0, 0), maps.First.Layout);
        // keep_first_glance: the MLP connector's tokens, then DeepLens's.
        Assert.Equal(new VisualLayout(0, patches, patches, queries), maps.Second.Layout);
        foreach (var glance in new[] { maps.First, maps.Second })
        {
            Assert.NotEmpty(glance.Tokens);
            Assert.Equal(glance.Caption, string.Concat(glance.Tokens.Select(t => t.Text)).Trim());
            foreach (var t in glance.Tokens)
            {
                Assert.Equal(layers, t.Visual.Length);
                Assert.All(t.Visual, v => Assert.Equal(glance.Layout.Count, v.Length));
                Assert.All(t.VisualShare, s => Assert.InRange(s, 1e-4f, 1f + 1e-5f));   // part of a row that sums to 1
            }
            foreach (var w in glance.Words())
            {
                Assert.Equal(patches, w.Map.Length);
                Assert.InRange(w.Map.Sum(), 0f, w.VisualShare + 1e-4f);
            }
        }
        // Each query's cross-attention is a distribution over every level's patches together.
        var lens = maps.Second.Lens!;
        Assert.Equal(TinyModels.DeepLens.TappedLayers, lens.Levels);
        Assert.All(lens.Cross, q => Assert.Equal(1.0, q.Sum(level => level.Sum()), 4));
        // The rollout onto the levels carries exactly the attention the word gave the queries.
        foreach (var w in maps.Second.Words())
            Assert.Equal(w.Queries!.Sum(), w.Levels!.Sum(l => l.Sum()), 4);
    }
}
