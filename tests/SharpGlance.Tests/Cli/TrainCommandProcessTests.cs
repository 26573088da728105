namespace SharpGlance.Tests.Cli;

/// <summary><c>glance train</c> in a fresh process, where nothing else has touched the JSON options first.</summary>
public class TrainCommandProcessTests
{
    [Fact]
    public void A_deeplens_config_is_read_in_a_fresh_process_and_a_typo_in_it_is_one_line_naming_the_file()
    {
        // In-process tests had always serialized something before; a fresh `glance train --deeplens-config`
        // failed with "JsonTypeInfo metadata ... was not provided by TypeInfoResolver of type '<null>'".
        string dir = TempDir.Create("train-lens");
        string config = Path.Combine(dir, "lens.json");
        File.WriteAllText(config, """{"d_model": 64, "decoder_layerz": 2}""");
        using var glance = GlanceProcess.Start("train", "--stage", "refine", "--data", Path.Combine(dir, "missing.json"), "--images", dir,
            "--out", Path.Combine(dir, "out"), "--init", TinyModels.OptFolder, "--deeplens-config", config);
        string error = glance.StandardError.ReadToEnd();
        Assert.True(glance.WaitForExit(120_000), "glance did not exit");
        Assert.Equal(2, glance.ExitCode);
        Assert.Contains($"{config}: unknown field 'decoder_layerz' for DeepLensConfig", error);
        Assert.DoesNotContain("TypeInfoResolver", error);
        Assert.Single(error.Trim().Split('\n'));
    }
}
