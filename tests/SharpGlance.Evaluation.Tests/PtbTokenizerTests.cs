using SharpGlance.Evaluation;

namespace SharpGlance.Tests.Evaluation;

/// <summary>
/// coco-caption tokenisation: Stanford PTBTokenizer 3.4.1 with -preserveLines -lowerCase, then the punctuation
/// tokens of ptbtokenizer.py dropped. Each expectation names the PTBLexer rule that produces it; every one was
/// also checked against the Java lexer of that version.
/// </summary>
public class PtbTokenizerTests
{
    [Theory]
    // Contractions: {SWORD}/{SREDAUX} keeps "ca" apart from "n't"; {WORD}/{REDAUX} splits 's 'll 're 'd 've 'm.
    [InlineData("A man can't ride his bike.", "a man ca n't ride his bike")]
    [InlineData("It's the dog's ball, isn't it?", "it 's the dog 's ball is n't it")]
    [InlineData("They'll say we're fine; I'd go, you've seen.", "they 'll say we 're fine i 'd go you 've seen")]
    // splitAssimilations: "cannot" → "can" + "not" (pushback 3), gonna/wanna/gimme → 2-letter pushback;
    // "cannot-be-missed" is one longer {THING} match, so it stays whole.
    [InlineData("The cannot-be-missed view: she cannot go.", "the cannot-be-missed view she can not go")]
    [InlineData("I'm gonna wanna gimme that.", "i 'm gon na wan na gim me that")]
    // Hyphenated words are one token ({HTHING}/{THING}); a sentence-final "." is its own token and dropped.
    [InlineData("A well-known co-op sells T-shirts and x-rays.", "a well-known co-op sells t-shirts and x-rays")]
    [InlineData("A state-of-the-art 3-D model of a 9-year-old.", "a state-of-the-art 3-d model of a 9-year-old")]
    // Abbreviations keep their period: {ABBREV2} (Mr. Dr. St. and {ACRO} "U.S.", "D.C.").
    [InlineData("Mr. Smith and Dr. Jones met at St. Mary's.", "mr. smith and dr. jones met at st. mary 's")]
    [InlineData("The U.S. flag flies in Washington D.C. today.", "the u.s. flag flies in washington d.c. today")]
    // {ACRONYM} before "He": "U.S." and then the period again (dropped); {ABBREV1} "etc." before lower case.
    [InlineData("He lives in the U.S. He works there.", "he lives in the u.s. he works there")]
    [InlineData("Shirts, hats, etc. are sold here.", "shirts hats etc. are sold here")]
    // Currency: {DOLSIGN} "$"/"US$" split from the number; {DOLSIGN2} £ → "#", € → "$", ¢ → "cents"; % is {MISCSYMBOL}.
    [InlineData("It costs $5 or $5.00 or US$20.", "it costs $ 5 or $ 5.00 or us$ 20")]
    [InlineData("A 50% discount and 10 % more.", "a 50 % discount and 10 % more")]
    [InlineData("Prices: £3, €4, ¥100 and 5¢.", "prices # 3 $ 4 ¥ 100 and 5 cents")]
    // Brackets → -LRB- -RRB- -LSB- -RSB- -LCB- -RCB-; lower-casing happens before the filter, so the
    // upper-case "-LRB-" of PUNCTUATIONS never matches: "-lrb-" survives (SPEC §12).
    [InlineData("A hat (red) on a table [wooden] near {a} chair.", "a hat -lrb- red -rrb- on a table -lsb- wooden -rsb- near -lcb- a -rcb- chair")]
    // Quotes → `` '' ` ' (latexQuotes), all dropped.
    [InlineData("He said \"hello\" to her.", "he said hello to her")]
    [InlineData("She said 'hi' and left.", "she said hi and left")]
    [InlineData("\u201CSmart quotes\u201D and \u2018single ones\u2019 too.", "smart quotes and single ones too")]
    // Ellipses ({LDOTS}: "...", ". . .", "…") → "...", dropped.
    [InlineData("Wait... what . . . now\u2026", "wait what now")]
    // Dashes: -- and em/en dashes ({SPMDASH}) → "--", dropped; 3–4 hyphens also "--".
    [InlineData("A dash -- and a long one \u2014 and an en \u2013 dash.", "a dash and a long one and an en dash")]
    [InlineData("One-two---three----four", "one-two three four")]
    // Unicode letters are letters; lower-casing is Java's (Ñ → ñ, ß stays).
    [InlineData("Café naïve Ñandú straße.", "café naïve ñandú straße")]
    // Emoji are surrogate pairs, untokenizable for the 16-bit scanner: deleted.
    [InlineData("A dog 🐶 with a 👍🏽 sign.", "a dog with a sign")]
    // A tab is a space; a newline inside a caption becomes a space (ptbtokenizer.py's replace('\n', ' ')).
    [InlineData("A\ttab and a\nnewline inside.", "a tab and a newline inside")]
    // {FRAC} with a space turns the space into U+00A0 (normalizeSpace); ½ ({FRAC2}) → "1/2".
    [InlineData("1/2 of a pizza and 1 1/2 cups and ½ more.", "1/2 of a pizza and 1\u00A01/2 cups and 1/2 more")]
    // Times, {DATE}, {PHONE}, {EMAIL}, {LIKELYURL}, {TWITTER}, {THINGA} stay whole.
    [InlineData("At 3:30 on 10-12-2014 call 555-1234.", "at 3:30 on 10-12-2014 call 555-1234")]
    [InlineData("Email foo@bar.com or visit www.example.com today.", "email foo@bar.com or visit www.example.com today")]
    [InlineData("A #hashtag and @user and AT&T and S&P 500.", "a #hashtag and @user and at&t and s&p 500")]
    // {APOWORD}: '90s, 'n', O'Brien; y'all is {APOWORD2} "y'" before a letter.
    [InlineData("The '90s and rock 'n' roll.", "the '90s and rock 'n' roll")]
    [InlineData("O'Brien's McDonald's y'all.", "o'brien 's mcdonald 's y' all")]
    // Single letters with a period are {ABBREV2} acronyms when nothing forces a split.
    [InlineData("Letters A. B. and the letter I.", "letters a. b. and the letter i.")]
    // Degenerate inputs: empty, only punctuation, only emoji.
    [InlineData("", "")]
    [InlineData(" ... , ; ! ", "")]
    [InlineData("😀😀", "")]
    public void Tokenizes_like_coco_caption(string caption, string expected)
    {
        Assert.Equal(expected, PtbTokenizer.Tokenize(caption));
    }

    [Fact]
    public void One_call_keeps_one_line_per_caption()
    {
        var captions = new[] { "First caption.", "", "  ", "Third, with (parens)!", "🐶" };
        Assert.Equal(["first caption", "", "", "third with -lrb- parens -rrb-", ""], PtbTokenizer.Tokenize(captions));
    }

    [Fact]
    public void Lookahead_reaches_into_the_next_caption_as_in_the_java_process()
    {
        // {ACRONYM}/{SPACENLS}[A]... : "I." followed by a line starting "A " is the letter plus a period
        // (dropped); before a lower-case "a" the rule does not fire and "I." is one {ABBREV2} token.
        Assert.Equal(["the letter i", "a man rides"], PtbTokenizer.Tokenize(["the letter I.", "A man rides."]));
        Assert.Equal(["the letter i.", "a man rides"], PtbTokenizer.Tokenize(["the letter I.", "a man rides."]));
        // Alone, "I." at the very end is {ABBREV2}.
        Assert.Equal("the letter i.", PtbTokenizer.Tokenize("the letter I."));
    }

    [Fact]
    public void Other_line_breaks_inside_a_caption_are_read_as_spaces()
    {
        // coco-caption would split at '\r' and shift later captions by a line; we keep one caption per line.
        Assert.Equal(["a man rides", "next"], PtbTokenizer.Tokenize(["a man\rrides", "next"]));
        Assert.Equal(["a b c d"], PtbTokenizer.Tokenize(["a\u2028b\u000Bc\u000Cd"]));
    }

    [Fact]
    public void Java_lower_casing_rules()
    {
        // Java's toLowerCase(Locale.ENGLISH): İ → i + combining dot; Σ → ς at a word end, σ inside.
        Assert.Equal("i\u0307stanbul", PtbTokenizer.Tokenize("İstanbul"));
        Assert.Equal("σίσυφος", PtbTokenizer.Tokenize("ΣΊΣΥΦΟΣ"));
    }

    [Fact]
    public void Python_whitespace_split_matches_str_split()
    {
        // Python's str.split() also splits on U+001C..U+001F, U+0085, U+00A0 (unlike .NET's char.IsWhiteSpace for \x1c).
        Assert.Equal(["1", "1/2", "a", "b"], PtbTokenizer.PythonSplit(" 1\u00A01/2\u001Ca  b\t"));
        Assert.Empty(PtbTokenizer.PythonSplit(""));
    }
}
