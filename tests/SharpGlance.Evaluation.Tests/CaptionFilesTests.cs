using SharpGlance.Evaluation;

namespace SharpGlance.Tests.Evaluation;

/// <summary>The four input formats, how they line up, and the errors for bad inputs.</summary>
public sealed class CaptionFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("glance-eval-data-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private const string Coco = """
        {"images": [{"id": 42, "file_name": "COCO_val2014_000000000042.jpg"}, {"id": 7, "file_name": "COCO_val2014_000000000007.jpg"}],
         "annotations": [{"image_id": 7, "id": 1, "caption": "seven a"}, {"image_id": 42, "id": 2, "caption": "forty-two a"},
                         {"image_id": 7, "id": 3, "caption": "seven b"}, {"image_id": 99, "id": 4, "caption": "not listed"}]}
        """;

    [Fact]
    public void Coco_annotations_and_results_align_in_annotation_image_order()
    {
        var refs = CaptionFiles.LoadReferences(Write("refs.json", Coco));
        Assert.Equal(CaptionFormat.CocoAnnotations, refs.Format);
        Assert.Equal(["42", "7"], refs.Captions.Keys);                 // the "images" order
        Assert.Equal(["seven a", "seven b"], refs.Captions["7"]);      // annotation order
        Assert.False(refs.Captions.ContainsKey("99"));                  // pycocotools only knows listed images
        var cands = CaptionFiles.LoadCandidates(Write("res.json", """[{"image_id": 7, "caption": "c7"}, {"image_id": 42, "caption": "c42"}]"""));
        var items = CaptionFiles.Align(refs, cands);
        Assert.Equal(["42", "7"], items.Select(i => i.ImageId));
        Assert.Equal("c7", items[1].Candidate);
        Assert.Equal("COCO_val2014_000000000007.jpg", items[1].ImageFile);
    }

    [Fact]
    public void Only_images_with_a_candidate_are_evaluated()
    {
        var refs = CaptionFiles.LoadReferences(Write("refs.json", Coco));
        var items = CaptionFiles.Align(refs, CaptionFiles.LoadCandidates(Write("res.json", """[{"image_id": 7, "caption": "c7"}]""")));
        Assert.Equal(["7"], items.Select(i => i.ImageId));
    }

    [Fact]
    public void Karpathy_split_reads_the_test_images_by_coco_id()
    {
        var path = Write("dataset_coco.json", """
            {"images": [
              {"filepath": "val2014", "filename": "COCO_val2014_000000000042.jpg", "imgid": 0, "split": "test", "cocoid": 42,
               "sentences": [{"raw": "A dog.", "tokens": ["a", "dog"]}, {"raw": "A brown dog."}]},
              {"filepath": "train2014", "filename": "COCO_train2014_000000000005.jpg", "imgid": 1, "split": "train", "cocoid": 5,
               "sentences": [{"raw": "Train image."}]},
              {"filepath": "val2014", "filename": "COCO_val2014_000000000043.jpg", "imgid": 2, "split": "restval", "cocoid": 43,
               "sentences": [{"raw": "Restval image."}]}]}
            """);
        var refs = CaptionFiles.LoadReferences(path);
        Assert.Equal(CaptionFormat.Karpathy, refs.Format);
        Assert.Equal(["42"], refs.Captions.Keys);
        Assert.Equal(["A dog.", "A brown dog."], refs.Captions["42"]);
        Assert.Equal("val2014/COCO_val2014_000000000042.jpg", refs.ImageFiles["42"]);
        Assert.Equal(["5"], CaptionFiles.LoadReferences(path, "train").Captions.Keys);
        var e = Assert.Throws<GlanceException>(() => CaptionFiles.LoadReferences(path, "val"));
        Assert.Contains("no images with split 'val'", e.Message);
        Assert.Contains("'restval'", e.Message);
    }

    [Fact]
    public void Jsonl_references_and_candidates_match_by_file_name()
    {
        var refs = CaptionFiles.LoadReferences(Write("refs.jsonl",
            "{\"image\": \"imgs/cat.jpg\", \"caption\": \"a cat\"}\n{\"image\": \"imgs/cat.jpg\", \"caption\": \"a small cat\"}\n\n{\"image\": \"imgs/dog.png\", \"captions\": [\"a dog\", \"one dog\"]}\n"));
        Assert.Equal(CaptionFormat.Jsonl, refs.Format);
        Assert.Equal(["a cat", "a small cat"], refs.Captions["cat"]);
        Assert.Equal(["a dog", "one dog"], refs.Captions["dog"]);
        var cands = CaptionFiles.LoadCandidates(Write("out.jsonl", "{\"image\": \"/elsewhere/dog.png\", \"caption\": \"dog\"}\n"));
        var items = CaptionFiles.Align(refs, cands);
        Assert.Equal("dog", Assert.Single(items).ImageId);
        Assert.Equal("imgs/dog.png", items[0].ImageFile);
    }

    [Fact]
    public void Results_named_by_file_match_coco_ids()
    {
        // A captioner writing {"image": "000000000042.jpg"} still lines up with COCO id 42.
        var refs = CaptionFiles.LoadReferences(Write("refs.json", Coco));
        var cands = CaptionFiles.LoadCandidates(Write("out.jsonl", "{\"image\": \"val2017/000000000042.jpg\", \"caption\": \"x\"}\n"));
        Assert.Equal("42", Assert.Single(CaptionFiles.Align(refs, cands)).ImageId);
    }

    [Fact]
    public void Ids_without_references_are_an_error_naming_them()
    {
        var refs = CaptionFiles.LoadReferences(Write("refs.json", Coco));
        var cands = CaptionFiles.LoadCandidates(Write("res.json", """[{"image_id": 7, "caption": "ok"}, {"image_id": 1234, "caption": "?"}]"""));
        var e = Assert.Throws<GlanceException>(() => CaptionFiles.Align(refs, cands));
        Assert.Contains("res.json: 1 image id without references", e.Message);
        Assert.Contains("1234", e.Message);
    }

    [Theory]
    [InlineData("res.json", """[{"image_id": 7, "caption": "a"}, {"image_id": 7, "caption": "b"}]""", "image id 7 appears twice")]
    [InlineData("res.json", "", "is empty")]
    [InlineData("res.json", "   \n", "is empty")]
    [InlineData("res.json", "[]", "no captions")]
    [InlineData("res.json", "{\"annotations\": []}", "expected COCO results")]
    [InlineData("res.json", "[{\"image_id\": 7}]", "entry 1 has no \"caption\"")]
    [InlineData("res.json", "[{\"image_id\": 7, \"caption\": 3}]", "\"caption\" is not a string")]
    [InlineData("res.json", "[{\"image_id\": 7, \"caption\": \"x\"", "not valid JSON")]
    [InlineData("res.jsonl", "{\"image\": \"a.jpg\", \"caption\": \"x\"}\n{\"image\": \"a.jpg\", \"caption\": \"y\"}\n", "image id a appears twice")]
    [InlineData("res.jsonl", "{\"image\": \"a.jpg\", \"caption\": \"x\"}\nnot json\n", "line 2 is not valid JSON")]
    [InlineData("res.json", "[{\"image_id\": 2000000.5, \"caption\": \"x\"}]", "entry 1: \"image_id\" 2000000.5 is not a whole number")]   // was scored as 2000000
    [InlineData("res.json", "[{\"image_id\": 7, \"image_id\": 8, \"caption\": \"x\"}]", "not valid JSON")]                       // which id?
    public void Bad_candidate_files_give_clear_errors(string name, string text, string message)
    {
        var path = Write(name, text);
        var e = Assert.Throws<GlanceException>(() => CaptionFiles.LoadCandidates(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_caption_longer_than_the_metrics_take_is_refused_naming_the_image()
    {
        // METEOR needed 1.1 GB at 65k words and ran out of memory at 1 MB of text.
        var refs = CaptionFiles.LoadReferences(Write("refs.json", Coco));
        var longest = string.Join(' ', Enumerable.Repeat("dog", CaptionFiles.MaxCaptionWords));
        Assert.Single(CaptionFiles.Align(refs, CaptionFiles.LoadCandidates(Write("res.json", $$"""[{"image_id": 7, "caption": "{{longest}}"}]"""))));
        var path = Write("res.json", $$"""[{"image_id": 7, "caption": "{{longest}} cat"}]""");
        Assert.Equal($"{path}: image 7: a caption of more than 2,000 words, above the metrics' limit (METEOR's alignment would need gigabytes)",
            Assert.Throws<GlanceException>(() => CaptionFiles.Align(refs, CaptionFiles.LoadCandidates(path))).Message);
    }

    [Fact]
    public void Invalid_utf8_is_refused_not_replaced()
    {
        var path = Path.Combine(_dir, "res.json");
        File.WriteAllBytes(path, [.. "[{\"image_id\": 7, \"caption\": \"a "u8, 0xC3, 0x28, .. " dog\"}]"u8]);
        Assert.Equal(path + ": is not valid UTF-8 text", Assert.Throws<GlanceException>(() => CaptionFiles.LoadCandidates(path)).Message);
    }

    [Theory]
    [InlineData("""{"images": [{"id": 1}, {"id": 1}], "annotations": [{"image_id": 1, "caption": "x"}]}""", "image id 1 is listed twice")]
    [InlineData("""{"images": [], "annotations": []}""", "no annotations")]
    [InlineData("""{"foo": 1}""", "not a caption file")]
    [InlineData("""{"images": [{"id": 1}], "annotations": [{"caption": "x"}]}""", "annotation 1 has no \"image_id\"")]
    [InlineData("""{"images": [{"split": "test", "cocoid": 1, "sentences": []}, {"split": "test", "cocoid": 1, "sentences": []}]}""", "image id 1 appears twice")]
    public void Bad_reference_files_give_clear_errors(string text, string message)
    {
        var path = Write("refs.json", text);
        var e = Assert.Throws<GlanceException>(() => CaptionFiles.LoadReferences(path));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Missing_files_and_images_without_references()
    {
        Assert.Contains("not found", Assert.Throws<GlanceException>(() => CaptionFiles.LoadReferences(Path.Combine(_dir, "nope.json"))).Message);
        // Listed but without any annotation: asking for it is an error.
        var refs = CaptionFiles.LoadReferences(Write("refs.json", """{"images": [{"id": 1}, {"id": 2}], "annotations": [{"image_id": 1, "caption": "x"}]}"""));
        var cands = CaptionFiles.LoadCandidates(Write("res.json", """[{"image_id": 2, "caption": "y"}]"""));
        Assert.Contains("image 2 has no reference captions", Assert.Throws<GlanceException>(() => CaptionFiles.Align(refs, cands)).Message);
    }
}
