using SharpGlance.Tokenization;

namespace SharpGlance.Tests.Tokenization;

/// <summary>The OPT tokenizer against HF semantics (SPEC §6), on the real vocabulary in tests/fixtures/tokenizers/opt.</summary>
public class OptTokenizerTests
{
    private static readonly Lazy<OptTokenizer> Shared = new(() => OptTokenizer.FromFolder(Fixtures.OptTokenizer));
    private static readonly Lazy<ReferenceGpt2Bpe> Reference = new(() => new ReferenceGpt2Bpe(Fixtures.OptTokenizer));
    private static OptTokenizer Tok => Shared.Value;

    /// <summary>Texts chosen to exercise every branch of the pre-tokenizer and the byte-level mapping.</summary>
    public static readonly string[] Texts =
    [
        "Hello world",
        "Hello, world! How are you?",
        "A man riding a wave on top of a surfboard.",
        "I'm sure you're right; it's what they've said, we'll see. Don't you think? He'd go, I'd not.",
        "DON'T SHOUT, IT'S LOUD", // contractions are case-sensitive in the GPT-2 pattern
        "'s 't 're 've 'm 'll 'd ''s 'S x's'll",
        "rock'n'roll o'clock y'all",
        "In 2023, 3.14159 of 1,000,000 people paid $12.50 (about 10%).",
        "12345678901234567890 0.5e-10 ①② ½ ٣",
        "Café déjà vu — naïve façade, Ærøskøbing, Ångström, İstanbul",
        "日本語のテキスト、中文字符和한국어 텍스트",
        "I ❤️ 🐱 and 👨‍👩‍👧 on 🏔️!",
        "𠀀𠀁 and 𝐀𝐁𝐂 x𝟏𝟐 𐍈", // letters and digits outside the BMP
        "mixed 𠀀x, 𝐀bc! 𝟏𝟐3 and 🐱cat𝐀? (𐍈)", // … next to BMP letters, digits and punctuation
        "the 𝐀's value, 𠀀's name, 𝟏'll do", // … where a code-unit regex would glue the apostrophe on
        "a    b  c",
        "  leading and trailing  ",
        "tab\there\t\tand\t end\t",
        "line1\nline2\n\nline3\r\nline4\n",
        "  \n  indented\n\tcode();",
        "a\u00A0b\u3000c\u2028d\u0085e",
        "--- !!! ??? ... ,,, ;;; ::: \"quoted\" [brackets] {braces} <angles>",
        "Hello </s> world<pad><pad>",
        "</s></s>text</s>",
        " </s> <pad> ",
        "<s> and <unk> are plain text, as are <mask> and <|endoftext|>",
        "USER: <image>\nWhat is in the photo? ASSISTANT: a cat on a mat.</s>",
        "http://example.com/path?q=1&x=y#frag user@example.org",
        "x\u0301 combining, \u200Bzero width, \uFEFFbom",
        "",
        " ",
        "   ",
        "\n",
        "\t \t",
    ];

    public static TheoryData<int> TextIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Texts.Length; i++) data.Add(i);
        return data;
    }

    private static string Show(IEnumerable<int> ids) => "[" + string.Join(", ", ids) + "]";

    [Theory]
    [MemberData(nameof(TextIndices))]
    public void Ids_match_the_reference_bpe(int index)
    {
        string text = Texts[index];
        var expected = Reference.Value.Encode(text);
        var actual = Tok.Encode(text);
        Assert.True(expected.SequenceEqual(actual), $"text #{index} {text.ReplaceLineEndings("⏎")}: got {Show(actual)}, expected {Show(expected)}");
    }

    [Fact]
    public void Whole_documentation_matches_the_reference_bpe()
    {
        // The repository's Markdown: tens of kB of real prose with tables, code, arrows, dashes, ×, ①② and accents.
        var files = Directory.EnumerateFiles(Fixtures.RepoRoot, "*.md", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Order(StringComparer.Ordinal);
        string text = string.Join("\n", files.Select(File.ReadAllText));
        Assert.True(text.Length > 30_000, $"only {text.Length} characters of Markdown found under {Fixtures.RepoRoot}");
        var expected = Reference.Value.Encode(text);
        var actual = Tok.Encode(text);
        Assert.Equal(expected.Count, actual.Length);
        int firstDiff = expected.Zip(actual).Select((p, i) => p.First == p.Second ? -1 : i).FirstOrDefault(i => i >= 0, -1);
        Assert.True(firstDiff < 0, $"first difference at token {firstDiff}");
    }

    [Theory]
    [InlineData("Hello", new[] { 2, 31414 })]
    [InlineData(" world", new[] { 2, 232 })]
    [InlineData("Hello world", new[] { 2, 31414, 232 })]
    [InlineData(".", new[] { 2, 4 })]
    [InlineData(" ", new[] { 2, 1437 })]
    [InlineData("Hello </s>", new[] { 2, 31414, 1437, 2 })]
    [InlineData("<pad>", new[] { 2, 1 })]
    [InlineData("\n", new[] { 2, 50118 })]
    [InlineData("USER:", new[] { 2, 47955, 35 })]
    [InlineData(" A cat", new[] { 2, 83, 4758 })]
    [InlineData("<s>", new[] { 2, 41552, 29, 15698 })]
    [InlineData("", new[] { 2 })]
    public void Well_known_ids(string text, int[] expected)
    {
        // Each id checked by hand in vocab.json: Hello 31414, Ġworld 232, . 4, Ġ 1437, Ċ 50118, USER 47955,
        // : 35, ĠA 83, Ġcat 4758, < 41552, s 29, > 15698; </s> 2, <pad> 1.
        Assert.Equal(expected, Tok.Encode(text));
    }

    [Fact]
    public void One_instance_encodes_from_many_threads()
    {
        var expected = Texts.Select(t => Tok.Encode(t)).ToArray();
        var fresh = OptTokenizer.FromFolder(Fixtures.OptTokenizer); // empty BPE cache: threads race to fill it
        var results = new int[200][];
        Parallel.For(0, results.Length, i => results[i] = fresh.Encode(Texts[i % Texts.Length]));
        for (int i = 0; i < results.Length; i++) Assert.Equal(expected[i % Texts.Length], results[i]);
    }

    [Fact]
    public void Special_ids_and_sizes()
    {
        Assert.Equal(50265, Tok.VocabSize);
        Assert.Equal(2, Tok.BosId);
        Assert.Equal(2, Tok.EosId);
        Assert.Equal(1, Tok.PadId);
        Assert.Equal(0, Tok.TokenToId("<s>"));
        Assert.Equal(3, Tok.TokenToId("<unk>"));
        Assert.True(Tok.IsSpecial(2) && Tok.IsSpecial(1));
        Assert.False(Tok.IsSpecial(0) || Tok.IsSpecial(3));
    }

    [Fact]
    public void No_bos_on_request()
    {
        Assert.Equal([31414, 232], Tok.Encode("Hello world", addBos: false));
        Assert.Empty(Tok.Encode("", addBos: false));
    }

    [Theory]
    [MemberData(nameof(TextIndices))]
    public void Decode_round_trips_without_clean_up(int index)
    {
        string text = Texts[index];
        string withoutSpecials = text.Replace("</s>", "").Replace("<pad>", "");
        Assert.Equal(withoutSpecials, Tok.Decode(Tok.Encode(text), cleanUpTokenizationSpaces: false));
        Assert.Equal(text, Tok.Decode(Tok.Encode(text, addBos: false), skipSpecialTokens: false, cleanUpTokenizationSpaces: false));
    }

    [Fact]
    public void Decode_applies_hf_clean_up()
    {
        var ids = Tok.Encode("Hello , world . Is it ? Yes ! it 's I 'm we 've they 're do n't ' quote ' end");
        Assert.Equal("Hello, world. Is it? Yes! it's I'm we've they're don't'quote'end", Tok.Decode(ids));
        Assert.Equal("a photo of a dog.", Tok.Decode(Tok.Encode("a photo of a dog.</s><pad><pad>")));
    }

    [Fact]
    public void Decode_skips_ids_outside_the_vocabulary()
    {
        int[] ids = [2, 31414, 50265, 50271, OptTokenizer.ImageTokenId, 232, 2, 1];
        Assert.Equal("Hello world", Tok.Decode(ids));
        Assert.Equal("</s>Hello world</s><pad>", Tok.Decode(ids, skipSpecialTokens: false));
        Assert.Equal("Hello world", Tok.Decode([2L, 31414L, 50270L, -200L, 232L, long.MaxValue]));
    }

    [Fact]
    public void Decode_of_a_partial_utf8_character_gives_the_replacement_character()
    {
        // "日" is three bytes; a lone first byte decodes as U+FFFD, as HF's errors="replace" does.
        var ids = Tok.Encode("日", addBos: false);
        Assert.True(ids.Length > 1, "expected '日' to take several byte tokens");
        Assert.Equal("\uFFFD", Tok.Decode(ids[..1]));
        Assert.Equal("日", Tok.Decode(ids));
    }

    [Fact]
    public void Tokens_are_byte_level_strings()
    {
        Assert.Equal(["Hello", "Ġworld", "Ġ", "</s>"], Tok.ToTokens("Hello world </s>"));
        Assert.Equal(["</s>", "Hello"], Tok.ToTokens("Hello", addBos: true));
    }

    [Fact]
    public void Image_placeholder_becomes_minus_200_with_one_bos()
    {
        const string prompt = "USER: <image>\nWhat is in the photo? ASSISTANT:";
        var ids = Tok.EncodeWithImage(prompt);
        // LLaVA's tokenizer_image_token: the chunks are encoded separately, so "USER: " keeps its trailing
        // space as Ġ (1437), and "\nWhat" starts with its own newline token.
        int[] before = [2, 47955, 35, 1437];
        Assert.Equal(before, ids[..4]);
        Assert.Equal(OptTokenizer.ImageTokenId, ids[4]);
        Assert.Equal(Tok.Encode("\nWhat is in the photo? ASSISTANT:", addBos: false), ids[5..]);
        Assert.Single(ids, id => id == Tok.BosId);

        Assert.Equal([2, -200], Tok.EncodeWithImage("<image>"));
        Assert.Equal([2, -200, -200], Tok.EncodeWithImage("<image><image>"));
        Assert.Equal([102, -200, 428], Tok.EncodeWithImage("a<image>b", addBos: false));
        Assert.Equal(Tok.Encode("no image here"), Tok.EncodeWithImage("no image here"));
        Assert.Equal("USER: \nWhat is in the photo? ASSISTANT:", Tok.Decode(ids));
    }

    [Fact]
    public void Pre_tokenizer_pieces_cover_the_text_and_follow_gpt2()
    {
        var pre = new Gpt2PreTokenizer(["</s>", "<pad>"]);
        string text = "Hello  world's 𠀀x 123 ?! \n\nend </s>";
        var pieces = pre.Split(text).Select(p => text.Substring(p.Offset, p.Length)).ToList();
        Assert.Equal(["Hello", " ", " world", "'s", " 𠀀x", " 123", " ?!", " \n", "\n", "end", " ", "</s>"], pieces);
        Assert.Equal(ReferenceGpt2Bpe.PreTokenize("Hello  world's 𠀀x 123 ?! \n\nend "), pieces[..^1]);
    }

    // ───────────────────────── bad files ─────────────────────────

    private static string TempFolder(string vocab, string merges)
    {
        var dir = Directory.CreateTempSubdirectory("glance-tok-").FullName;
        if (vocab is not null) File.WriteAllText(Path.Combine(dir, "vocab.json"), vocab);
        if (merges is not null) File.WriteAllText(Path.Combine(dir, "merges.txt"), merges);
        return dir;
    }

    /// <summary>A minimal valid byte-level vocabulary: the 256 byte symbols, the specials and one merge.</summary>
    private static (string Vocab, string Merges) TinyFiles(Func<Dictionary<string, int>, Dictionary<string, int>>? edit = null)
    {
        var vocab = new Dictionary<string, int> { ["<s>"] = 0, ["<pad>"] = 1, ["</s>"] = 2, ["<unk>"] = 3 };
        foreach (char c in OptTokenizer.ByteLevelAlphabet()) vocab[c.ToString()] = vocab.Count;
        vocab["Ġa"] = vocab.Count;
        if (edit is not null) vocab = edit(vocab);
        return (System.Text.Json.JsonSerializer.Serialize(vocab), "#version: 0.2\nĠ a\n");
    }

    [Fact]
    public void Tiny_vocabulary_loads_and_merges()
    {
        var (vocab, merges) = TinyFiles();
        var tok = OptTokenizer.FromFolder(TempFolder(vocab, merges));
        Assert.Equal(["</s>", "a", "Ġa", "Ġ", "b"], tok.ToTokens("a a b", addBos: true));
    }

    [Fact]
    public void Missing_folder_or_files_name_the_path()
    {
        var missing = Path.Combine(Path.GetTempPath(), "glance-no-such-folder-" + Guid.NewGuid());
        Assert.Contains(missing, Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(missing)).Message);

        var (vocab, merges) = TinyFiles();
        var noMerges = TempFolder(vocab, null!);
        Assert.Contains("merges.txt", Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(noMerges)).Message);
        var noVocab = TempFolder(null!, merges);
        Assert.Contains("vocab.json", Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(noVocab)).Message);
    }

    [Theory]
    [InlineData("{\"a\": ", "vocab.json")]            // truncated JSON
    [InlineData("[1, 2, 3]", "vocab.json")]           // not an object
    [InlineData("{}", "vocab.json")]                  // empty
    [InlineData("{\"a\": \"x\"}", "vocab.json")]      // id not a number
    public void Corrupt_vocabulary_names_the_file(string vocab, string file)
    {
        var (_, merges) = TinyFiles();
        var ex = Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(TempFolder(vocab, merges)));
        Assert.Contains(file, ex.Message);
    }

    [Fact]
    public void Vocabulary_without_specials_or_bytes_or_dense_ids_is_refused()
    {
        var (_, merges) = TinyFiles();
        var noEos = TinyFiles(v => { v.Remove("</s>"); return v.Keys.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i); }).Vocab;
        Assert.Contains("'</s>' is missing", Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(TempFolder(noEos, merges))).Message);
        var noByte = TinyFiles(v => { v.Remove("Ġ"); return v.Keys.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i); }).Vocab;
        Assert.Contains("byte symbol", Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(TempFolder(noByte, merges))).Message);
        var sparse = TinyFiles(v => { v["Ġa"] = 99999; return v; }).Vocab;
        Assert.Contains("99999", Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(TempFolder(sparse, merges))).Message);
    }

    [Theory]
    [InlineData("#version: 0.2\nĠa\n", "line 2")]          // no separator
    [InlineData("#version: 0.2\nĠ a b\n", "line 2")]       // three symbols
    [InlineData("#version: 0.2\nĠ zz\n", "merges.txt")]     // symbol not in the vocabulary
    [InlineData("", "merges.txt")]                          // empty
    public void Corrupt_merges_name_the_file(string merges, string expected)
    {
        var (vocab, _) = TinyFiles();
        var ex = Assert.Throws<GlanceException>(() => OptTokenizer.FromFolder(TempFolder(vocab, merges)));
        Assert.Contains("merges.txt", ex.Message);
        Assert.Contains(expected, ex.Message);
    }
}
