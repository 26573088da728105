using SharpGlance.Data;

namespace SharpGlance.Tests.Faults;

/// <summary>LLaVA training data that points outside <c>--images</c> or has the wrong JSON types (issue #16, items 3 and 9).</summary>
public class DataFaultTests
{
    private static string Entry(string image, string caption = "\"a dog\"") =>
        $$"""{"id": "1", "image": {{image}}, "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": {{caption}}}]}""";

    /// <summary>A data file with one entry, beside an images folder holding good.png, both in a fresh folder.</summary>
    private static (string Json, string Images) Write(string entry)
    {
        var root = TempDir.Create("llava");
        var images = Directory.CreateDirectory(Path.Combine(root, "data", "images")).FullName;
        CaptionFaultTests.Png(images, "good.png", 8, 8);
        CaptionFaultTests.Png(root, "outside.png", 8, 8);
        var json = Path.Combine(root, "data", "train.json");
        File.WriteAllText(json, $"[{entry}]");
        return (json, images);
    }

    [Theory]
    [InlineData("../../outside.png")]          // an existing image two levels up: trained on, exit 0
    [InlineData("../../../../etc/passwd")]     // was opened before being refused
    [InlineData("sub/../../../outside.png")]
    public void An_image_path_leading_out_of_the_images_folder_is_refused(string image)
    {
        var (json, images) = Write(Entry($"\"{image}\""));
        var e = Assert.Throws<GlanceException>(() => LlavaDataset.Load(json, images));
        Assert.Equal($"{json}: entry 0 (id 1): image \"{image}\" lies outside the images folder {images}", e.Message);
    }

    [Fact]
    public void An_absolute_image_path_outside_the_folder_is_refused_and_one_inside_it_is_read()
    {
        var (json, images) = Write(Entry("\"good.png\""));
        Assert.Equal(Path.Combine(images, "good.png"), Assert.Single(LlavaDataset.Load(json, images)).ImagePath);

        var outside = Path.GetFullPath(Path.Combine(images, "..", "..", "outside.png"));
        File.WriteAllText(json, $"[{Entry($"\"{outside}\"")}]");
        Assert.Contains("lies outside the images folder", Assert.Throws<GlanceException>(() => LlavaDataset.Load(json, images)).Message);
        File.WriteAllText(json, $"[{Entry($"\"{Path.Combine(images, "good.png")}\"")}]");
        Assert.Single(LlavaDataset.Load(json, images));
    }

    [Theory]
    [InlineData("3", "\"a dog\"", "entry 0 (id 1): \"image\" must be a string, not number")]
    [InlineData("\"good.png\"", "42", "entry 0 (id 1): the gpt turn's \"value\" must be a string, not number")]
    [InlineData("\"good.png\"", "[\"a\"]", "entry 0 (id 1): the gpt turn's \"value\" must be a string, not array")]
    public void A_number_where_a_string_belongs_names_the_file_and_the_entry(string image, string caption, string problem)
    {
        // Was "InvalidOperationException: An element of type 'Number' cannot be converted…" with no file.
        var (json, images) = Write(Entry(image, caption));
        Assert.Equal($"{json}: {problem}", Assert.Throws<GlanceException>(() => LlavaDataset.Load(json, images)).Message);
    }
}

/// <summary>`glance train --out` that would destroy something (issue #16, item 10 and 9).</summary>
public class TrainOutFaultTests
{
    [Fact]
    public void Out_equal_to_init_or_naming_a_file_is_refused_before_anything_is_written()
    {
        var dir = TempDir.Create("out-init");
        var model = Path.Combine(dir, "model");
        foreach (var f in Directory.GetFiles(TinyModels.CaptionerFolder)) { Directory.CreateDirectory(model); File.Copy(f, Path.Combine(model, Path.GetFileName(f))); }
        var before = File.ReadAllBytes(Path.Combine(model, "model.safetensors"));
        string[] Args(string output) => ["train", "--stage", "finetune", "--data", "x.json", "--images", dir, "--init", model, "--out", output];

        var e = Assert.Throws<GlanceException>(() => GlanceCli.Run(Args(model + "/")));
        Assert.Equal($"{model}/: --out is the --init folder; the trained model would overwrite the one it starts from; choose another --out", e.Message);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(model, "model.safetensors")));

        var file = Path.Combine(dir, "notes.txt");
        File.WriteAllText(file, "mine");
        Assert.Equal($"{file}: is a file; --out must be a run folder", Assert.Throws<GlanceException>(() => GlanceCli.Run(Args(file))).Message);
    }
}
