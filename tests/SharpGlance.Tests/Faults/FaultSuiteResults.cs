using SharpGlance.Evaluation;

namespace SharpGlance.Tests.Faults;

/// <summary>
/// Generated bad results files for `glance eval --refs R --results F --report HTML` (issue #16), as COCO
/// results JSON and as JSONL: not JSON, not valid UTF-8, the wrong top-level type, entries of the wrong
/// type, ids that are fractions, too large, of the wrong type or not in the references, captions missing,
/// of the wrong type or over the metrics' length limit, ids and keys given twice — each at the first and the
/// last of three entries; and a few bad reference files. No report may be left behind.
/// </summary>
public class FaultSuiteResults
{
    private const string References = """
        {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}, {"id": 3, "file_name": "c.jpg"}],
         "annotations": [{"image_id": 1, "id": 10, "caption": "a dog on the grass"}, {"image_id": 2, "id": 11, "caption": "a red car"},
                         {"image_id": 3, "id": 12, "caption": "two cats"}]}
        """;

    private static readonly string LongCaption = string.Join(' ', Enumerable.Repeat("dog", CaptionFiles.MaxCaptionWords + 1));

    private static readonly Dictionary<string, FaultCase> All = Cases().ToDictionary(c => c.Name);

    public static TheoryData<string> ResultsFiles => FaultSuite.Names(All.Values);

    [Theory, MemberData(nameof(ResultsFiles))]
    public Task A_bad_results_file_gets_one_error_line_naming_it_and_no_report(string name) => FaultSuite.Check(All, name);

    /// <summary>A case: refs.json and the results file (<paramref name="fileName"/>) written as given; the bad one is <paramref name="blamed"/>.</summary>
    private static FaultCase Eval(string name, string fileName, Action<string> writeResults, string references = References, string blamed = "results") =>
        new($"results/{name}", dir =>
        {
            var refs = Path.Combine(dir, "refs.json");
            File.WriteAllText(refs, references);
            var results = Path.Combine(dir, fileName);
            writeResults(results);
            return new FaultRun(["eval", "--refs", refs, "--results", results, "--metrics", "bleu,cider", "--json", "--report", Path.Combine(dir, "report.html")],
                blamed == "results" ? results : refs);
        });

    private static FaultCase Text(string name, string fileName, string text) => Eval(name, fileName, path => File.WriteAllText(path, text));

    /// <summary>Three results (ids 1, 2, 3) as COCO results JSON and as JSONL, the first or the last replaced by <paramref name="bad"/> (ID: its own id).</summary>
    private static IEnumerable<FaultCase> Entries(string name, string bad)
    {
        foreach (var (format, fileName, separator, open, close) in new[] { ("json", "results.json", ",\n", "[", "]"), ("jsonl", "results.jsonl", "\n", "", "") })
            foreach (int at in new[] { 0, 2 })
            {
                var entries = Enumerable.Range(1, 3).Select(i => $$"""{"image_id": {{i}}, "caption": "a dog"}""").ToArray();
                entries[at] = bad.Replace("ID", (at + 1).ToString()).Replace("OTHER", at == 0 ? "2" : "1");   // OTHER: another entry's id
                yield return Text($"{format}/{name}/at-{at}", fileName, open + string.Join(separator, entries) + close);
            }
    }

    private static IEnumerable<FaultCase> Cases()
    {
        foreach (var fileName in new[] { "results.json", "results.jsonl" })
        {
            yield return Eval($"{fileName}/missing", fileName, _ => { });
            yield return Eval($"{fileName}/folder", fileName, path => Directory.CreateDirectory(path));
            foreach (var (kind, text) in new[] { ("empty", ""), ("spaces", " \n\n "), ("open-bracket", "["), ("prose", "a dog\na cat"), ("nul", "[\0]"), ("cut", "[{\"image_id\": 1, \"capt") })
                yield return Text($"{fileName}/{kind}", fileName, text);
            foreach (var (kind, bytes) in new (string, byte[])[]
            {
                ("lone-ff", [0xFF]), ("bad-continuation", [0xC3, 0x28]), ("surrogate", [0xED, 0xA0, 0x80]), ("overlong", [0xC0, 0xAF]), ("five-byte", [0xF8, 0x88, 0x80, 0x80, 0x80]),
                ("cut-sequence", [0xE2, 0x82]),
            })
                yield return Eval($"{fileName}/invalid-utf8/{kind}", fileName, path => File.WriteAllBytes(path,
                    [.. "[{\"image_id\": 1, \"caption\": \"a "u8, .. bytes, .. " dog\"}]"u8]));
        }
        foreach (var (kind, text) in new[] { ("object", "{\"image_id\": 1, \"caption\": \"a dog\"}"), ("number", "42"), ("string", "\"a dog\""), ("null", "null"), ("empty-list", "[]"), ("list-of-lists", "[[1, \"a dog\"]]") })
            yield return Text($"json/top-level-{kind}", "results.json", text);

        foreach (var (kind, json) in new[] { ("number", "3"), ("string", "\"a dog\""), ("null", "null"), ("list", "[1, \"a dog\"]"), ("bool", "true") })
            foreach (var c in Entries($"entry-{kind}", json)) yield return c;
        foreach (var (kind, id) in new[]
        {
            ("fraction", "ID.5"), ("huge-fraction", "2000000.5"), ("exponent", "1e300"), ("beyond-int64", "99999999999999999999"), ("negative", "-ID"),
            ("not-in-refs", "99"), ("text-not-in-refs", "\"abc\""), ("empty-text", "\"\""), ("bool", "true"), ("null", "null"), ("list", "[ID]"), ("object", "{\"id\": ID}"),
        })
            foreach (var c in Entries($"image_id-{kind}", $$"""{"image_id": {{id}}, "caption": "a dog"}""")) yield return c;
        foreach (var c in Entries("image_id-missing", "{\"caption\": \"a dog\"}")) yield return c;
        foreach (var (kind, caption) in new[] { ("number", "42"), ("null", "null"), ("list", "[\"a dog\"]"), ("object", "{\"text\": \"a dog\"}"), ("bool", "false"), ("too-long", $"\"{LongCaption}\"") })
            foreach (var c in Entries($"caption-{kind}", $$"""{"image_id": ID, "caption": {{caption}}}""")) yield return c;
        foreach (var c in Entries("caption-missing", "{\"image_id\": ID}")) yield return c;
        foreach (var c in Entries("duplicate-id", "{\"image_id\": OTHER, \"caption\": \"a dog\"}")) yield return c;
        foreach (var c in Entries("duplicate-key", "{\"image_id\": ID, \"image_id\": 7, \"caption\": \"a dog\"}")) yield return c;

        // Bad references: the results are good, the error must name refs.json.
        const string good = "[{\"image_id\": 1, \"caption\": \"a dog\"}]";
        foreach (var (kind, refs) in new[]
        {
            ("not-json", "{"), ("number", "42"), ("annotations-not-list", "{\"annotations\": 3}"), ("caption-number", "{\"annotations\": [{\"image_id\": 1, \"caption\": 5}]}"),
            ("annotation-not-object", "{\"annotations\": [7]}"), ("no-annotations", "{\"annotations\": []}"), ("image-id-fraction", "{\"annotations\": [{\"image_id\": 1.5, \"caption\": \"a\"}]}"),
            ("too-long", $"{{\"annotations\": [{{\"image_id\": 1, \"caption\": \"{LongCaption}\"}}]}}"), ("unknown-shape", "{\"captions\": []}"),
        })
            yield return Eval($"refs/{kind}", "results.json", path => File.WriteAllText(path, good), refs, blamed: "refs");
    }
}
