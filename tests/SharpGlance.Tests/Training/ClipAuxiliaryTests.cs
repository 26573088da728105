using SharpGlance.Demo;
using SharpGlance.IO;
using SharpGlance.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpGlance.Tests.Training;

/// <summary>
/// The tower issue's tools on a small synthetic world: the CLIP stage with hard negatives and the
/// scene-graph loss, and the layer probe on patch tokens.
/// </summary>
public class ClipAuxiliaryTests
{
    private static readonly Lazy<string> World = new(() =>
    {
        var dir = TempDir.Create("aux-world");
        var (code, _, error) = GlanceCli.Run("synth", "--out", dir, "--train", "800", "--test", "150", "--seed", "3");
        Assert.True(code == 0, error);
        return dir;
    });

    private static string RequireWorld()
    {
        if (!SharpGlance.Tests.Data.SynthWorldFixture.AssetsPresent) Assert.Skip("emoji font or CLDR annotations missing: run scripts/setup.sh");
        return World.Value;
    }

    [Fact]
    public void Clip_stage_trains_with_hard_negatives_and_the_scene_loss_and_saves_a_plain_clip()
    {
        var world = RequireWorld();
        var output = TempDir.Create("aux-clip");
        var (code, _, error) = GlanceCli.Run("train", "--stage", "clip", "--data", Path.Combine(world, "train.llava.json"),
            "--images", Path.Combine(world, "images"), "--out", output, "--tokenizer", Fixtures.OptTokenizer,
            "--tower-width", "32", "--tower-layers", "3", "--patch-size", "8", "--hard-negatives", "--scene-loss", "1",
            "--batch", "16", "--max-steps", "3", "--checkpoint-every", "3");
        Assert.True(code == 0, error);

        // The saved CLIP is a plain HF CLIP: its tower has the asked grid and no training-only heads.
        var config = ClipConfig.FromFile(output);
        Assert.Equal(12, config.VisionConfig.GridSize);
        Assert.Equal(3, config.VisionConfig.NumHiddenLayers);
        using (var ck = Checkpoint.Open(output))
        {
            Assert.DoesNotContain(ck.Keys, k => k.Contains("scene_heads"));
            Assert.Contains("vision_model.encoder.layers.2.mlp.fc1.weight", ck.Keys);
        }
        // The checkpoint holds the heads (a resume continues them) and the settings a resume must match.
        using (var ck = Checkpoint.Open(Path.Combine(output, "checkpoint", "trainable.safetensors")))
            Assert.Contains("scene_heads.entity.weight", ck.Keys);
        var state = File.ReadAllText(Path.Combine(output, "checkpoint", "trainer_state.json"));
        Assert.Contains("hard-negatives", state);
        Assert.Contains("scene-loss", state);
    }

    [Fact]
    public void Scene_loss_on_a_world_without_scene_graphs_names_the_file()
    {
        var world = RequireWorld();
        var data = TempDir.Create("aux-noscene");
        File.Copy(Path.Combine(world, "train.llava.json"), Path.Combine(data, "mine.llava.json"));
        var (code, _, error) = GlanceCli.RunReported("train", "--stage", "clip", "--data", Path.Combine(data, "mine.llava.json"),
            "--images", Path.Combine(world, "images"), "--out", TempDir.Create("aux-out"), "--tokenizer", Fixtures.OptTokenizer,
            "--tower-width", "32", "--tower-layers", "1", "--scene-loss", "1", "--max-steps", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("mine.scenes.json", error);
    }

    [Fact]
    public void Layer_probe_reads_colour_from_the_patch_embeddings_of_a_random_tower()
    {
        // hidden_states[0] of an untrained tower is a linear map of each patch's pixels (+ position, layer
        // norm): the colour of a pointed-at shape is in it, so a probe that lines up features and labels
        // scores far above chance (10 colours), and one that did not would sit near 10%.
        var world = RequireWorld();
        var config = new ClipVisionConfig
        {
            HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 2, ImageSize = 96, PatchSize = 12,
        };
        using var tower = new ClipVisionModel(config, generator: new Generator(7));
        tower.eval();
        var result = TowerLayerProbe.Run(tower, world, new TowerLayerProbe.Options { Layers = [0], Epochs = 20, Tasks = [TowerLayerProbe.Colour, TowerLayerProbe.Relation] });
        var row = Assert.Single(result.Rows);
        Assert.Equal(0, row.Layer);
        Assert.Equal(800, result.TrainImages);
        // The test scenes the probe scores: those whose entities and colours the training split shows.
        var seen = SharpGlance.Data.Synthetic.SceneJson.LoadScenes(Path.Combine(world, "train.scenes.json")).Values
            .SelectMany(s => s.Groups).SelectMany(g => new[] { g.Name, g.Colour }).OfType<string>().ToHashSet();
        var scenes = SharpGlance.Data.Synthetic.SceneJson.LoadScenes(Path.Combine(world, "test.scenes.json")).Values
            .Where(s => s.Groups.All(g => seen.Contains(g.Name) && (g.Colour is null || seen.Contains(g.Colour)))).ToList();
        Assert.Equal(scenes.Sum(s => s.Groups.Count(g => g.Colour is not null)), row.Scores[TowerLayerProbe.Colour].Total);
        Assert.Equal(scenes.Count(s => s.Groups.Count == 2), row.Scores[TowerLayerProbe.Relation].Total);
        Assert.True(row.Scores[TowerLayerProbe.Colour].Accuracy > 0.3, result.Format());
        Assert.Contains("| 0 |", result.Format());
    }
}
