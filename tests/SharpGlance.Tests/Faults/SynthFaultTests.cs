using SharpGlance.Data.Synthetic;
using SharpGlance.Tests.Data;

namespace SharpGlance.Tests.Faults;

/// <summary>`glance synth` never deletes or overwrites files it did not write (issue #16, item 4).</summary>
public class SynthFaultTests(SynthWorldFixture fixture) : IClassFixture<SynthWorldFixture>
{
    private static readonly SynthOptions Tiny = new() { Train = 2, Val = 1, Seed = 3, ImageSize = 96, Threads = 1 };

    private static SynthSummary Generate(string dir, SynthOptions? options = null) =>
        SyntheticWorld.Generate(dir, options ?? Tiny, cancel: TestContext.Current.CancellationToken);

    [Fact]
    public void A_folder_of_user_files_is_refused_and_left_as_it_was()
    {
        fixture.Require();
        var dir = TempDir.Create("synth-user");
        Directory.CreateDirectory(Path.Combine(dir, "images", "train"));
        File.WriteAllText(Path.Combine(dir, "images", "train", "my_holiday_photo.png"), "mine");
        File.WriteAllText(Path.Combine(dir, "labels.txt"), "mine too");

        var e = Assert.Throws<GlanceException>(() => Generate(dir));

        Assert.StartsWith($"{dir}: --out is not empty and holds no world.json", e.Message);
        Assert.Equal(["images/train/my_holiday_photo.png", "labels.txt"],
            Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f)).Order(StringComparer.Ordinal));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "images", "train", "my_holiday_photo.png")));
    }

    [Fact]
    public void A_rerun_replaces_its_own_output_but_not_a_file_added_among_it()
    {
        fixture.Require();
        var dir = TempDir.Create("synth-rerun");
        Generate(dir);
        Generate(dir, Tiny with { Train = 3 });   // its own files: replaced
        Assert.Equal(3, Directory.GetFiles(Path.Combine(dir, "images", "train")).Length);

        File.WriteAllText(Path.Combine(dir, "labels.txt"), "mine");   // beside the output: untouched
        Generate(dir);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "labels.txt")));

        var photo = Path.Combine(dir, "images", "train", "my_holiday_photo.png");   // inside a folder it replaces: refused
        File.WriteAllText(photo, "mine");
        var e = Assert.Throws<GlanceException>(() => Generate(dir));
        Assert.Equal($"{photo}: was not written by `glance synth`, which would replace it; move it away or choose another --out", e.Message);
        Assert.Equal("mine", File.ReadAllText(photo));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(dir, "images", "train")).Length - 1);
    }

    [Fact]
    public void Samples_do_not_overwrite_a_users_readme()
    {
        var world = fixture.Require();
        var dir = TempDir.Create("synth-samples");
        File.WriteAllText(Path.Combine(dir, "README.md"), "my notes");
        var e = Assert.Throws<GlanceException>(() => world.WriteSamples(dir));
        Assert.StartsWith(Path.Combine(dir, "README.md") + ": already exists", e.Message);
        Assert.Equal("my notes", File.ReadAllText(Path.Combine(dir, "README.md")));

        var samples = TempDir.Create("synth-samples");
        world.WriteSamples(samples);
        world.WriteSamples(samples);   // an earlier sample set is replaced
        Assert.True(File.Exists(Path.Combine(samples, "samples.json")));
    }

    [Fact]
    public void A_staging_folder_of_a_dead_process_is_removed_and_a_live_ones_kept()
    {
        fixture.Require();
        var dir = TempDir.Create("synth-stale");
        var killed = Directory.CreateDirectory(Path.Combine(dir, $".staging-{int.MaxValue - 1}-89ab")).FullName;
        Generate(dir);   // a first run killed while staging left only this: the folder counts as empty
        Assert.False(Directory.Exists(killed));

        var dead = Directory.CreateDirectory(Path.Combine(dir, $".staging-{int.MaxValue - 1}-0123")).FullName;
        File.WriteAllText(Path.Combine(dead, "partial.png"), "x");
        var live = Directory.CreateDirectory(Path.Combine(dir, $".staging-{Environment.ProcessId}-4567")).FullName;
        Generate(dir);
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(live));
    }
}
