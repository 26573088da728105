using System.Text;

namespace SharpGlance.Evaluation.Lexing;

/// <summary>
/// The Stanford PTBLexer of CoreNLP 3.4.1 (the <c>stanford-corenlp-3.4.1.jar</c> that coco-caption runs), as
/// coco-caption configures it: default PTB3 escaping (<c>-LRB-</c>, <c>``</c>/<c>''</c>, <c>--</c>,
/// <c>...</c>), untokenizable characters deleted, assimilations split ("cannot" → "can not"), and
/// <c>tokenizeNLs</c> (from <c>-preserveLines</c>), so a line break is a token.
/// <para>
/// Parity needs our own code here: the rules below restate, in order, the macros and rules of that
/// version's <c>PTBLexer.flex</c> (state <c>YyTraditionalTreebank3</c>, the default), and
/// <see cref="LongestMatchAutomaton"/> runs them the way the JFlex 1.5.1-generated scanner does: the longest
/// match wins, ties go to the earlier rule, and a rule <c>r1/r2</c> competes with the length of r1r2 but
/// consumes only r1 (the longest r1 whose remainder matches r2, as JFlex's backward lookahead scan finds it).
/// The actions (pushbacks, quote and currency normalisation, …) are transcribed below, each where it runs.
/// The tests compare this lexer with those rules on hand-written cases; see PtbTokenizerTests.
/// </para>
/// </summary>
internal sealed class PtbLexer
{
    /// <summary>The token text that stands for a line break (PTBLexer.NEWLINE_TOKEN).</summary>
    public const string NewlineToken = "*NL*";

    private enum Act
    {
        Keep, SoftHyphens, PushBack2, PushBack3, Sgml, Dash, Amp, QuoteLeft, QuoteRight, Frac, FracUnicode,
        Currency, Acronym, TrimTrailingSpace, Abbrev1WithPeriod, Phone, LessThan, GreaterThan, Parens,
        Lcb, Rcb, Lsb, Rsb, Lrb, Rrb, Hyphens, Ellipsis, Skip, Newline,
    }

    private sealed record Rule(string Pattern, string? Lookahead, Act Action);

    // ------------------------------------------------------------------------------------------------
    // Macros of PTBLexer.flex 3.4.1, in its syntax (JFlex, %caseless). Escapes of non-ASCII characters
    // are written as \uXXXX; a few comments say what a surprising piece does, since it is reproduced as is.
    // ------------------------------------------------------------------------------------------------
    private static readonly Dictionary<string, string> Macros = new(StringComparer.Ordinal)
    {
        ["SGML"] = @"\<([!\?][A-Za-z\-][^>\r\n]*|[A-Za-z][A-Za-z0-9_:\.\-]*([ ]+([A-Za-z][A-Za-z0-9_:\.\-]*|[A-Za-z][A-Za-z0-9_:\.\-]*[ ]*=[ ]*('[^']*'|\""[^\""]*\"")))*[ ]*\/?|\/[A-Za-z][A-Za-z0-9_:\.\-]*)[ ]*\>",
        ["SPMDASH"] = @"&(MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]",
        ["SPAMP"] = @"&amp;",
        ["SPPUNC"] = @"&(HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);",
        ["SPLET"] = @"&[aeiouAEIOU](acute|grave|uml);",
        ["SPACE"] = @"[ \t\u00A0\u2000-\u200A\u3000]",
        ["SPACES"] = @"{SPACE}+",
        ["NEWLINE"] = @"\r|\r?\n|\u2028|\u2029|\u000B|\u000C|\u0085",
        ["SPACENL"] = @"({SPACE}|{NEWLINE})",
        ["SPACENLS"] = @"{SPACENL}+",
        ["SENTEND"] = @"{SPACENL}({SPACENL}|[:uppercase:]|{SGML})",
        ["DIGIT"] = @"[:digit:]|[\u07C0-\u07C9]",
        ["DATE"] = @"{DIGIT}{1,2}[\-\/]{DIGIT}{1,2}[\-\/]{DIGIT}{2,4}",
        ["NUM"] = @"{DIGIT}+|{DIGIT}*([.:,\u00AD\u066B\u066C]{DIGIT}+)+",
        ["NUMBER"] = @"[\-+]?{NUM}",
        ["SUBSUPNUM"] = @"[\u207A\u207B\u208A\u208B]?([\u2070\u00B9\u00B2\u00B3\u2074-\u2079]+|[\u2080-\u2089]+)",
        ["FRAC"] = @"({DIGIT}{1,4}[- \u00A0])?{DIGIT}{1,4}(\\?\/|\u2044){DIGIT}{1,4}",
        ["FRAC2"] = @"[\u00BC\u00BD\u00BE\u2153-\u215E]",
        ["DOLSIGN"] = @"([A-Z]*\$|#)",
        ["DOLSIGN2"] = @"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]",
        ["LETTER"] = @"([:letter:]|{SPLET}|[\u00AD\u0237-\u024F\u02C2-\u02C5\u02D2-\u02DF\u02E5-\u02FF\u0300-\u036F\u0370-\u037D\u0384\u0385\u03CF\u03F6\u03FC-\u03FF\u0483-\u0487\u04CF\u04F6-\u04FF\u0510-\u0525\u055A-\u055F\u0591-\u05BD\u05BF\u05C1\u05C2\u05C4\u05C5\u05C7\u0615-\u061A\u063B-\u063F\u064B-\u065E\u0670\u06D6-\u06EF\u06FA-\u06FF\u070F\u0711\u0730-\u074F\u0750-\u077F\u07A6-\u07B1\u07CA-\u07F5\u07FA\u0900-\u0903\u093C\u093E-\u094E\u0951-\u0955\u0962-\u0963\u0981-\u0983\u09BC-\u09C4\u09C7\u09C8\u09CB-\u09CD\u09D7\u09E2\u09E3\u0A01-\u0A03\u0A3C\u0A3E-\u0A4F\u0A81-\u0A83\u0ABC-\u0ACF\u0B82\u0BBE-\u0BC2\u0BC6-\u0BC8\u0BCA-\u0BCD\u0C01-\u0C03\u0C3E-\u0C56\u0D3E-\u0D44\u0D46-\u0D48\u0E30-\u0E3A\u0E47-\u0E4E\u0EB1-\u0EBC\u0EC8-\u0ECD])",
        ["WORD"] = @"{LETTER}({LETTER}|{DIGIT})*([.!?]{LETTER}({LETTER}|{DIGIT})*)*",
        ["FILENAME_EXT"] = @"bat|bmp|c|class|cgi|cpp|dll|doc|docx|exe|gif|gz|h|htm|html|jar|java|jpeg|jpg|mov|mp3|pdf|php|pl|png|ppt|ps|py|sql|tar|txt|wav|x|xml|zip",
        ["FILENAME"] = @"({LETTER}|{DIGIT})+([.]({LETTER}|{DIGIT})+)*([.]{FILENAME_EXT})",
        ["THING"] = @"([dDoOlL]{APOSETCETERA}([:letter:]|[:digit:]))?([:letter:]|[:digit:])+({HYPHEN}([dDoOlL]{APOSETCETERA}([:letter:]|[:digit:]))?([:letter:]|[:digit:])+)*",
        ["THINGA"] = @"[A-Z]+(([+&]|{SPAMP})[A-Z]+)+",
        ["THING3"] = @"[A-Za-z0-9]+(-[A-Za-z]+){0,2}(\\?\/[A-Za-z0-9]+(-[A-Za-z]+){0,2}){1,2}",
        ["APOS"] = @"['\u0092\u2019]|&apos;",
        ["APOSETCETERA"] = @"{APOS}|[`\u0091\u2018\u201B]",
        ["HTHING"] = @"[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(-([A-Za-z0-9\u00AD]+|{ACRO2}\.))+",
        ["REDAUX"] = @"{APOS}([msdMSD]|re|ve|ll)",
        ["SWORD"] = @"[A-Za-z\u00AD]*[A-MO-Za-mo-z](\u00AD)*",
        ["SREDAUX"] = @"n{APOSETCETERA}t",
        ["APOWORD"] = @"{APOS}n{APOS}?|[lLdDjJ]{APOS}|Dunkin{APOS}|somethin{APOS}|ol{APOS}|{APOS}em|[A-HJ-XZn]{APOSETCETERA}[:letter:]{2}[:letter:]*|{APOS}[2-9]0s|{APOS}till?|[:letter:][:letter:]*[aeiouyAEIOUY]{APOSETCETERA}[aeiouA-Z][:letter:]*|{APOS}cause|cont'd\.?|'twas|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l|O{APOSETCETERA}o",
        ["APOWORD2"] = @"y{APOS}",
        ["FULLURL"] = @"https?:\/\/[^ \t\n\f\r\""<>|(){}]+[^ \t\n\f\r\""<>|.!?(){},-]",
        // Note ",-_" in the second class: a range (U+002C..U+005F), as in the original.
        ["LIKELYURL"] = @"((www\.([^ \t\n\f\r\""<>|.!?(){},]+\.)+[a-zA-Z]{2,4})|(([^ \t\n\f\r\""`'<>|.!?(){},-_$]+\.)+(com|net|org|edu)))(\/[^ \t\n\f\r\""<>|()]+[^ \t\n\f\r\""<>|.!?(){},-])?",
        ["EMAIL"] = @"(&lt;|<)?[a-zA-Z0-9][^ \t\n\f\r\""<>|()\u00A0{}]*@([^ \t\n\f\r\""<>|(){}.\u00A0]+\.)*([^ \t\n\f\r\""<>|(){}.\u00A0]+)(&gt;|>)?",
        ["TWITTER_NAME"] = @"@[a-zA-Z_][a-zA-Z_0-9]*",
        ["TWITTER_CATEGORY"] = @"#{LETTER}+",
        ["TWITTER"] = @"{TWITTER_NAME}|{TWITTER_CATEGORY}",
        ["ABMONTH"] = @"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec",
        ["ABDAYS"] = @"Mon|Tue|Tues|Wed|Thu|Thurs|Fri",
        ["ABSTATE"] = @"Ala|Ariz|[A]z|[A]rk|Calif|Colo|Conn|Ct|Dak|[D]el|Fla|Ga|[I]ll|Ind|Kans?|Ky|[L]a|[M]ass|Md|Mich|Minn|[M]iss|Mo|Mont|Neb|Nev|Okla|[O]re|[P]a|Penn|Tenn|[T]ex|Va|Vt|[W]ash|Wisc?|Wyo",
        ["ABCOMP"] = @"Inc|Cos?|Corp|Pp?t[ye]s?|Ltd|Plc|Rt|Bancorp|Bhd|Assn|Univ|Intl|Sys",
        ["ABNUM"] = @"tel|est|ext|sq",
        ["ABPTIT"] = @"Jr|Sr|Bros|(Ed|Ph)\.D|Blvd|Rd|Esq",
        ["ABBREV1"] = @"({ABMONTH}|{ABDAYS}|{ABSTATE}|{ABCOMP}|{ABNUM}|{ABPTIT}|etc|al|seq|Bldg)\.",
        ["ACRO"] = @"[A-Za-z](\.[A-Za-z])*|(Canada|Sino|Korean|EU|Japan|non)-U\.S|U\.S\.-(U\.K|U\.S\.S\.R)",
        ["ACRO2"] = @"[A-Za-z](\.[A-Za-z])+|(Canada|Sino|Korean|EU|Japan|non)-U\.S|U\.S\.-(U\.K|U\.S\.S\.R)",
        ["ABTITLE"] = @"Mr|Mrs|Ms|[M]iss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt|Cpl|Pvt|Capt|Ste?|Ave|Pres|Lieut|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det|Mt|Ft|Adj|Adv|Asst|Assoc|Ens|Insp|Mlle|Mme|Msgr|Sfc",
        ["ABCOMP2"] = @"Invt|Elec|Natl|M[ft]g|Dept",
        ["ABBREV4"] = @"{ABTITLE}|vs|Alex|Wm|Jos|Cie|a\.k\.a|cf|TREAS|Ph|{ACRO}|{ABCOMP2}",
        ["ABBREV2"] = @"{ABBREV4}\.",
        ["ACRONYM"] = @"({ACRO})\.",
        ["ABBREV3"] = @"(ca|figs?|prop|nos?|art|bldg|prop|pp|op)\.",
        ["PHONE"] = @"(\([0-9]{2,3}\)[ \u00A0]?|(\+\+?)?([0-9]{2,4}[\- \u00A0])?[0-9]{2,4}[\- \u00A0])[0-9]{3,4}[\- \u00A0]?[0-9]{3,5}|((\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}",
        ["FAKEDUCKFEET"] = @"<<|>>",
        ["LESSTHAN"] = @"<|&lt;",
        ["GREATERTHAN"] = @">|&gt;",
        ["HYPHEN"] = @"[-_\u058A\u2010\u2011]",
        ["HYPHENS"] = @"\-+",
        ["LDOTS"] = @"\.{3,5}|(\.[ \u00A0]){2,4}\.|[\u0085\u2026]",
        ["ATS"] = @"@+",
        ["UNDS"] = @"_+",
        ["ASTS"] = @"\*+|(\\\*){1,3}",
        ["HASHES"] = @"#+",
        ["FNMARKS"] = @"{ATS}|{HASHES}|{UNDS}",
        ["INSENTP"] = @"[,;:\u3001]",
        ["QUOTES"] = @"{APOS}|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]{1,2}",
        ["DBLQUOT"] = @"\""|&quot;",
        ["TBSPEC"] = @"-(RRB|LRB|RCB|LCB|RSB|LSB)-|C\.D\.s|pro-|anti-|S(&|&amp;)P-500|S(&|&amp;)Ls|Cap{APOS}n|c{APOS}est",
        ["TBSPEC2"] = @"{APOS}[0-9][0-9]",
        ["SMILEY"] = @"[<>]?[:;=][\-o\*']?[\(\)DPdpO\\{@\|\[\]]",
        // The first alternative escapes its second '[' (so "~" acts as JFlex's up-to operator there);
        // kept as written, since that is what the Java scanner matches.
        ["ASIANSMILEY"] = @"[\^x=~<>]\.\[\^x=~<>]|[\-\^x=~<>']_[\-\^x=~<>']|\([\-\^x=~<>'][_.]?[\-\^x=~<>']\)|\([\^x=~<>']-[\^x=~<>'`]\)",
        ["MISCSYMBOL"] = @"[+%&~\^|\\\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00B3\u00B4-\u00BA\u00D7\u00F7\u0387\u05BE\u05C0\u05C3\u05C6\u05F3\u05F4\u0600-\u0603\u0606-\u060A\u060C\u0614\u061B\u061E\u066A\u066D\u0703-\u070D\u07F6\u07F7\u07F8\u0964\u0965\u0E4F\u1FBD\u2016\u2017\u2020-\u2023\u2030-\u2038\u203B\u203E-\u2042\u2044\u207A-\u207F\u208A-\u208E\u2100-\u214F\u2190-\u21FF\u2200-\u2BFF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65\uFF65]",
    };

    private const string AcronymFollowers =
        @"({SPACENLS})([A]bout|[A]ccording|[A]dditionally|[A]fter|[A]n|[A]|[A]s|[A]t|[B]ut|[E]arlier|[H]e|[H]er|[H]ere|[H]owever|[I]f|[I]n|[I]t|[L]ast|[M]any|[M]ore|[M]r\.|[M]s\.|[N]ow|[O]nce|[O]ne|[O]ther|[O]ur|[S]he|[S]ince|[S]o|[S]ome|[S]uch|[T]hat|[T]he|[T]heir|[T]hen|[T]here|[T]hese|[T]hey|[T]his|[W]e|[W]hen|[W]hile|[W]hat|[Y]et|[Y]ou|{SGML}){SPACENL}";

    // ------------------------------------------------------------------------------------------------
    // Rules, in the order of PTBLexer.flex (order breaks ties between equally long matches).
    // ------------------------------------------------------------------------------------------------
    private static readonly Rule[] Rules =
    [
        new(@"c[+][+]", null, Act.Keep),
        new(@"(c|f)#", null, Act.Keep),
        new(@"cannot", null, Act.PushBack3),                         // splitAssimilations: "can" + "not"
        new(@"'twas", null, Act.PushBack3),
        new(@"'tis", null, Act.PushBack2),
        new(@"gonna|gotta|lemme|gimme|wanna", null, Act.PushBack2),  // "gon" + "na"
        new(@"{SGML}", null, Act.Sgml),
        new(@"{SPMDASH}", null, Act.Dash),
        new(@"{SPAMP}", null, Act.Amp),
        new(@"{SPPUNC}", null, Act.Keep),
        new(@"{WORD}", @"{REDAUX}", Act.SoftHyphens),                // "it" before "'s"
        new(@"{SWORD}", @"{SREDAUX}", Act.SoftHyphens),              // "ca" before "n't"
        new(@"{WORD}", null, Act.SoftHyphens),
        new(@"{APOWORD}", null, Act.Keep),
        new(@"{APOWORD2}", @"[:letter:]", Act.Keep),
        new(@"{FULLURL}", null, Act.Keep),
        new(@"{LIKELYURL}", null, Act.Keep),
        new(@"{EMAIL}", null, Act.Keep),
        new(@"{TWITTER}", null, Act.Keep),
        new(@"{REDAUX}", @"[^A-Za-z]", Act.QuoteRight),
        new(@"{SREDAUX}", @"[^A-Za-z]", Act.QuoteRight),
        new(@"{DATE}", null, Act.Keep),
        new(@"{NUMBER}", null, Act.SoftHyphens),
        new(@"{SUBSUPNUM}", null, Act.Keep),
        new(@"{FRAC}", null, Act.Frac),                              // <YyTraditionalTreebank3> only
        new(@"{FRAC2}", null, Act.FracUnicode),
        new(@"{TBSPEC}", null, Act.Amp),
        new(@"{THING3}", null, Act.Keep),
        new(@"{DOLSIGN}", null, Act.Keep),
        new(@"{DOLSIGN2}", null, Act.Currency),
        new(@"{ACRONYM}", AcronymFollowers, Act.Acronym),
        new(@"{ABBREV3}", @"{SPACENL}?[:digit:]", Act.TrimTrailingSpace),
        new(@"(pt[eyEY]|co)\.", @"{SPACE}(ltd|lim)", Act.Keep),
        new(@"{ABBREV1}", @"{SENTEND}", Act.Abbrev1WithPeriod),
        new(@"{ABBREV1}", @"[^][^]", Act.Keep),
        new(@"{ABBREV1}", null, Act.Abbrev1WithPeriod),              // only wins at the end of the input
        new(@"{ABBREV2}", null, Act.Keep),
        new(@"{ABBREV4}", @"{SPACE}", Act.Keep),
        new(@"{ACRO}", @"{SPACENL}", Act.Keep),
        new(@"{TBSPEC2}", @"{SPACENL}", Act.Keep),
        new(@"{FILENAME}", @"({SPACENL}|[.?!,])", Act.Keep),
        new(@"{WORD}\.", @"{INSENTP}", Act.SoftHyphens),
        new(@"{PHONE}", null, Act.Phone),
        new(@"{DBLQUOT}", @"[A-Za-z0-9$]", Act.QuoteLeft),
        new(@"{DBLQUOT}", null, Act.QuoteRight),
        new(@"\x7f", null, Act.Skip),
        new(@"{LESSTHAN}", null, Act.LessThan),
        new(@"{GREATERTHAN}", null, Act.GreaterThan),
        new(@"{SMILEY}", @"[^A-Za-z0-9]", Act.Parens),
        new(@"{ASIANSMILEY}", null, Act.Parens),
        new(@"\{", null, Act.Lcb),
        new(@"\}", null, Act.Rcb),
        new(@"\[", null, Act.Lsb),
        new(@"\]", null, Act.Rsb),
        new(@"\(", null, Act.Lrb),
        new(@"\)", null, Act.Rrb),
        new(@"{HYPHENS}", null, Act.Hyphens),
        new(@"{LDOTS}", null, Act.Ellipsis),
        new(@"{FNMARKS}", null, Act.Keep),
        new(@"{ASTS}", null, Act.Keep),
        new(@"{INSENTP}", null, Act.Keep),
        new(@"[?!]+", null, Act.Keep),
        new(@"[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA\u3002]", null, Act.Keep),
        new(@"=", null, Act.Keep),
        new(@"\/", null, Act.Keep),
        new(@"{HTHING}\.", @"{INSENTP}", Act.SoftHyphens),
        new(@"{HTHING}", null, Act.SoftHyphens),
        new(@"{THING}\.", @"{INSENTP}", Act.Keep),
        new(@"{THING}", null, Act.Keep),
        new(@"{THINGA}\.", @"{INSENTP}", Act.Amp),
        new(@"{THINGA}", null, Act.Amp),
        new(@"'", @"[A-Za-z][^ \t\n\r\u00A0]", Act.QuoteLeft),      // "invert quote - often but not always right"
        new(@"{REDAUX}", null, Act.QuoteRight),
        new(@"{SREDAUX}", null, Act.QuoteRight),
        new(@"{QUOTES}", null, Act.QuoteRight),
        new(@"{FAKEDUCKFEET}", null, Act.Keep),
        new(@"{MISCSYMBOL}", null, Act.Keep),
        new(@"\0|{SPACES}|[\u200B\u200E-\u200F\uFEFF]", null, Act.Skip),
        new(@"{NEWLINE}", null, Act.Newline),
        new(@"&nbsp;", null, Act.Skip),
        new(@".", null, Act.Skip),                                   // untokenizable: deleted (firstDelete)
    ];

    private readonly LongestMatchAutomaton _scanner;
    private readonly LongestMatchAutomaton?[] _bases;       // r1 of each r1/r2 rule
    private readonly LongestMatchAutomaton?[] _lookaheads;  // r2 of each r1/r2 rule

    private PtbLexer()
    {
        var parser = new PatternParser(Macros, UnicodeClasses.Predefined, caseless: true);
        _scanner = new LongestMatchAutomaton(Rules.Select(r =>
            r.Lookahead is null ? parser.Parse(r.Pattern) : new ConcatNode([parser.Parse(r.Pattern), parser.Parse(r.Lookahead)])).ToArray());
        _bases = Rules.Select(r => r.Lookahead is null ? null : new LongestMatchAutomaton([parser.Parse(r.Pattern)])).ToArray();
        _lookaheads = Rules.Select(r => r.Lookahead is null ? null : new LongestMatchAutomaton([parser.Parse(r.Lookahead)])).ToArray();
    }

    private static readonly Lazy<PtbLexer> Shared = new(() => new PtbLexer());

    /// <summary>The one lexer (building it parses the rules and the Unicode classes: ~0.1 s).</summary>
    public static PtbLexer Instance => Shared.Value;

    /// <summary>Every token of <paramref name="text"/>, in order; line breaks come as <see cref="NewlineToken"/>.</summary>
    public List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        int pos = 0, n = text.Length;
        while (pos < n)
        {
            var (length, rule) = _scanner.Longest(text, pos, n);
            if (rule < 0) throw new InvalidOperationException($"PTB lexer: no rule matches at {pos}"); // '.' and NEWLINE cover every char
            int matched = length;
            if (_bases[rule] is { } baseScanner) matched = SplitTrailingContext(baseScanner, _lookaheads[rule]!, text, pos, length);
            var (token, consumed) = Apply(Rules[rule].Action, text, pos, matched);
            if (token is not null) tokens.Add(token);
            pos += consumed;
        }
        return tokens;
    }

    /// <summary>
    /// JFlex's general lookahead: mark every prefix of the match that r1 accepts, then from the end find the
    /// longest such prefix whose rest r2 accepts.
    /// </summary>
    private static int SplitTrailingContext(LongestMatchAutomaton r1, LongestMatchAutomaton r2, string text, int start, int length)
    {
        var r1Ends = r1.PrefixMatches(text, start, start + length);
        for (int k = length; k >= 0; k--)
            if (r1Ends[k] && r2.MatchesExactly(text, start + k, start + length)) return k;
        throw new InvalidOperationException("PTB lexer: trailing context without a split");
    }

    /// <summary>The token an action makes from text[start..start+length) and how much of the input it consumes.</summary>
    private static (string? Token, int Consumed) Apply(Act act, string text, int start, int length)
    {
        string s = text.Substring(start, length);
        switch (act)
        {
            case Act.Keep: return (s, length);
            case Act.SoftHyphens: return (RemoveSoftHyphens(s), length);
            case Act.PushBack2: return (s[..^2], length - 2);
            case Act.PushBack3: return (s[..^3], length - 3);
            case Act.Sgml:
            case Act.Frac: return (s.Replace(' ', '\u00A0'), length);  // normalizeSpace: non-breaking space
            case Act.Dash: return ("--", length);
            case Act.Amp: return (AmpEntity.Replace(s, "&"), length);
            case Act.QuoteLeft: return (LatexQuotes(s, probablyLeft: true), length);
            case Act.QuoteRight: return (LatexQuotes(s, probablyLeft: false), length);
            case Act.FracUnicode: return (NormalizeFractions(s), length);
            case Act.Currency: return (NormalizeCurrency(s), length);
            case Act.Acronym:
            {
                length = TrimTrailingWhitespace(text, start, length);
                // "I." before "He": the letter now, the period next; "U.S." before "He": "U.S." now and the
                // period again next (the reduplication the Java comment names).
                if (length == 2) return (text.Substring(start, 1), 1);
                return (text.Substring(start, length), length - 1);
            }
            case Act.TrimTrailingSpace:
            {
                length = TrimTrailingWhitespace(text, start, length);
                return (text.Substring(start, length), length);
            }
            case Act.Abbrev1WithPeriod: return (s, length - 1);      // token keeps its period; the period is lexed again
            case Act.Phone:
                return (s.Replace(' ', '\u00A0').Replace("(", "-LRB-").Replace(")", "-RRB-"), length);
            case Act.LessThan: return ("<", length);
            case Act.GreaterThan: return (">", length);
            case Act.Parens: return (s.Replace("(", "-LRB-").Replace(")", "-RRB-"), length);
            case Act.Lcb: return ("-LCB-", length);
            case Act.Rcb: return ("-RCB-", length);
            case Act.Lsb: return ("-LSB-", length);
            case Act.Rsb: return ("-RSB-", length);
            case Act.Lrb: return ("-LRB-", length);
            case Act.Rrb: return ("-RRB-", length);
            case Act.Hyphens: return (length is >= 3 and <= 4 ? "--" : s, length);
            case Act.Ellipsis: return ("...", length);
            case Act.Skip: return (null, length);
            case Act.Newline: return (NewlineToken, length);
            default: throw new InvalidOperationException(act.ToString());
        }
    }

    private static int TrimTrailingWhitespace(string text, int start, int length)
    {
        while (length > 0)
        {
            char last = text[start + length - 1];
            if (last == ' ' || last == '\t' || (last >= '\n' && last <= '\r') || last == '\u0085') length--;
            else break;
        }
        return length;
    }

    private static readonly System.Text.RegularExpressions.Regex AmpEntity =
        new("&amp;", System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static string RemoveSoftHyphens(string s)
    {
        if (s.IndexOf('\u00AD') < 0) return s;
        var removed = s.Replace("\u00AD", "", StringComparison.Ordinal);
        return removed.Length == 0 ? "-" : removed;   // never an empty token
    }

    /// <summary>PTBLexer.latexQuotes: ASCII quotes by the guessed side, then the Unicode/cp1252 ones.</summary>
    private static string LatexQuotes(string s, bool probablyLeft)
    {
        var sb = new StringBuilder(s.Length + 2);
        for (int i = 0; i < s.Length; i++)
        {
            // "&apos;" and "&quot;" (case-sensitive in the Java patterns) count as ' and ".
            if (s[i] == '&' && string.CompareOrdinal(s, i, "&apos;", 0, 6) == 0) { sb.Append(probablyLeft ? "`" : "'"); i += 5; continue; }
            if (s[i] == '&' && string.CompareOrdinal(s, i, "&quot;", 0, 6) == 0) { sb.Append(probablyLeft ? "``" : "''"); i += 5; continue; }
            switch (s[i])
            {
                case '\'': sb.Append(probablyLeft ? "`" : "'"); break;
                case '"': sb.Append(probablyLeft ? "``" : "''"); break;
                case '\u0091' or '\u2018' or '\u201B' or '\u2039': sb.Append('`'); break;
                case '\u0092' or '\u2019' or '\u203A': sb.Append('\''); break;
                case '\u0093' or '\u201C' or '\u00AB': sb.Append("``"); break;
                case '\u0094' or '\u201D' or '\u00BB': sb.Append("''"); break;
                default: sb.Append(s[i]); break;
            }
        }
        return sb.ToString();
    }

    private static string NormalizeFractions(string s) => s
        .Replace("\u00BC", "1/4").Replace("\u00BD", "1/2").Replace("\u00BE", "3/4")
        .Replace("\u2153", "1/3").Replace("\u2154", "2/3");

    private static string NormalizeCurrency(string s) => s
        .Replace("\u00A2", "cents").Replace("\u00A3", "#")
        .Replace('\u0080', '$').Replace('\u00A4', '$').Replace('\u20A0', '$').Replace('\u20AC', '$');
}
