namespace SharpGlance.Tests.Faults;

/// <summary>
/// Generated bad LLaVA data files (issue #16) for `glance train --stage finetune` (which reads the data
/// before it loads a model) and `glance pseudo`: files that are not JSON or not a list, entries of the wrong
/// type, each field missing or of the wrong type, at the first and the last of three entries, and image
/// paths that lead out of <c>--images</c> to a FIFO there, which would stall the run if it were opened.
/// </summary>
public class FaultSuiteData
{
    private const string Human = """{"from": "human", "value": "<image>\nWhat is shown?"}""";

    private static string Entry(string image = "\"good.png\"", string conversations = $$"""[{{Human}}, {"from": "gpt", "value": "a dog"}]""", string extra = "") =>
        $$"""{"id": "e", "image": {{image}}, "conversations": {{conversations}}{{extra}}}""";

    private static string Gpt(string value) => $$"""[{{Human}}, {"from": "gpt", "value": {{value}}}]""";

    /// <summary>The kinds of JSON value a field can wrongly hold.</summary>
    private static readonly (string Kind, string Json)[] WrongTypes = [("number", "3"), ("bool", "true"), ("list", "[\"a\"]"), ("object", "{\"a\": 1}")];

    private static readonly Dictionary<string, FaultCase> All = Cases().ToDictionary(c => c.Name);

    public static TheoryData<string> DataFiles => FaultSuite.Names(All.Values);

    [Theory, MemberData(nameof(DataFiles))]
    public Task A_bad_data_file_gets_one_error_line_naming_it_and_nothing_outside_images_is_read(string name) => FaultSuite.Check(All, name);

    /// <summary>
    /// A case folder: <c>outside.png</c> (a FIFO), <c>data/images/good.png</c> and the data file
    /// <c>data/train.json</c> written by <paramref name="write"/>; the run is `glance train` or `glance pseudo`.
    /// </summary>
    private static FaultCase Data(string command, string name, Action<string> write, Func<string, string>? imagesArg = null) => new($"data/{command}/{name}", dir =>
    {
        var images = Directory.CreateDirectory(Path.Combine(dir, "data", "images")).FullName;
        CaptionFaultTests.Png(images, "good.png", 8, 8);
        var outside = FaultSuite.Fifo.Create(Path.Combine(dir, "outside.png"));
        var json = Path.Combine(dir, "data", "train.json");
        write(json);
        string[] args = command == "train"
            ? ["train", "--stage", "finetune", "--data", json, "--images", imagesArg?.Invoke(dir) ?? images, "--init", TinyModels.CaptionerFolder,
               "--out", Path.Combine(dir, "run"), "--max-steps", "1", "--feature-cache", Path.Combine(dir, "cache")]
            : ["pseudo", "--in", json, "--out", Path.Combine(dir, "out.json")];
        return new FaultRun(args, json) { Outside = outside };
    });

    /// <summary>Three entries, the one at <paramref name="at"/> replaced by <paramref name="bad"/> (a function of the case folder).</summary>
    private static FaultCase Entries(string command, string name, int at, Func<string, string> bad, Func<string, string>? imagesArg = null) =>
        Data(command, $"{name}/at-{at}", json =>
        {
            var entries = Enumerable.Repeat(Entry(), 3).ToArray();
            entries[at] = bad(Path.GetDirectoryName(Path.GetDirectoryName(json))!);
            File.WriteAllText(json, "[" + string.Join(",\n", entries) + "]");
        }, imagesArg);

    private static IEnumerable<FaultCase> Cases()
    {
        foreach (var command in new[] { "train", "pseudo" })
        {
            yield return Data(command, "missing", _ => { });
            yield return Data(command, "folder", json => Directory.CreateDirectory(json));
            foreach (var (kind, text) in new[]
            {
                ("empty", ""), ("spaces", "  \n"), ("open-bracket", "["), ("object", "{\"a\": 1}"), ("number", "42"), ("string", "\"x\""), ("null", "null"),
                ("prose", "id,image,caption\n1,a.png,a dog"), ("cut", "[" + Entry()[..40]), ("nul", "[\0]"),
            })
                yield return Data(command, $"file/{kind}", json => File.WriteAllText(json, text));
            yield return Data(command, "file/invalid-utf8", json => File.WriteAllBytes(json, [.. "[{\"id\": \"a"u8, 0xC3, 0x28, .. "\"}]"u8]));

            foreach (int at in new[] { 0, 2 })
            {
                foreach (var (kind, json) in WrongTypes.Append(("string", "\"x\"")).Append(("null", "null")))
                    yield return Entries(command, $"entry/{kind}", at, _ => json);
                yield return Entries(command, "entry/duplicate-key", at, _ => Entry(extra: ", \"conversations\": []"));
                foreach (var (kind, json) in WrongTypes.Append(("string", "\"x\"")).Append(("empty-list", "[]")))
                    yield return Entries(command, $"conversations/{kind}", at, _ => Entry(conversations: json));
                yield return Entries(command, "conversations/missing", at, _ => """{"id": "e", "image": "good.png"}""");
                yield return Entries(command, "conversations/human-only", at, _ => Entry(conversations: $"[{Human}]"));
                foreach (var (kind, json) in WrongTypes.Append(("null", "null")).Append(("empty", "\"\"")).Append(("blank", "\"  \\n \"")))
                    yield return Entries(command, $"caption/{kind}", at, _ => Entry(conversations: Gpt(json)));
            }
        }

        foreach (int at in new[] { 0, 2 })
        {
            // Only training reads the images (pseudo keeps "image" as it is).
            foreach (var (kind, json) in WrongTypes.Append(("null", "null")).Append(("empty", "\"\"")))
                yield return Entries("train", $"image/{kind}", at, _ => Entry(image: json));
            yield return Entries("train", "image/missing", at, _ => Entry().Replace("\"image\": \"good.png\", ", ""));
            foreach (var (kind, json) in WrongTypes.Where(t => t.Kind != "list").Append(("string", "\"x\"")))   // a list of strings is right
                yield return Entries("train", $"pre_captions/{kind}", at, _ => Entry(extra: $", \"pre_captions\": {json}"));
            foreach (var (kind, json) in new[] { ("number", "[3]"), ("bool", "[true]"), ("null", "[null]"), ("list", "[[\"a\"]]") })
                yield return Entries("train", $"pre_captions/item-{kind}", at, _ => Entry(extra: $", \"pre_captions\": {json}"));
            foreach (var (kind, json) in WrongTypes)
                yield return Entries("train", $"pre_caption/{kind}", at, _ => Entry(extra: $", \"pre_caption\": {json}"));

            // Paths out of data/images: to the FIFO outside.png beside data/, or elsewhere.
            foreach (var (kind, path) in new[]
            {
                ("parent", "../../outside.png"), ("dot-parent", "./../../outside.png"), ("down-and-up", "sub/../../../outside.png"), ("deep", "../../../../../../../../outside.png"),
                ("dotdot", ".."), ("dotdot-slash", "../"), ("root", "/"), ("etc-passwd", "/etc/passwd"), ("absolute", "ABSOLUTE"),
                ("nul-in-name", "good.png\\u0000../../outside.png"), ("nul", "\\u0000"),
            })
                yield return Entries("train", $"path/{kind}", at, dir => Entry(image: $"\"{path.Replace("ABSOLUTE", Path.Combine(dir, "outside.png"))}\""));
            // --images named through a link: ".." is taken from the path as given, not from where the link points.
            yield return Entries("train", "path/parent-through-linked-images", at, _ => Entry(image: "\"../outside.png\""), dir =>
            {
                var link = Path.Combine(dir, "linked");
                File.CreateSymbolicLink(link, Path.Combine(dir, "data", "images"));
                return link;
            });
        }
    }
}
