using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using SharpGlance.Llm;

namespace SharpGlance.Video;

/// <summary>A question about a captioned video, and how much the LLM can read at once.</summary>
public sealed record VideoQuestion
{
    public required string Question { get; init; }
    /// <summary>Multiple-choice options, lettered A, B, C, … in order; empty for an open question.</summary>
    public IReadOnlyList<string> Choices { get; init; } = [];
    /// <summary>The LLM's context size in tokens (prompt and reply together), estimated as <see cref="VideoQuestions.EstimateTokens"/> does.</summary>
    public int MaxContextTokens { get; init; } = 4096;
    /// <summary>Length of the summary the LLM is asked for (LLoVi's <c>--num_words_in_sum</c>, 500).</summary>
    public int SummaryWords { get; init; } = 500;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Question)) throw new GlanceException("--question is empty");
        if (Choices.Count == 1 || Choices.Count > 26) throw new GlanceException($"--choices needs 2 to 26 options separated by '|' (got {Choices.Count})");
        if (Choices.Any(string.IsNullOrWhiteSpace)) throw new GlanceException("--choices has an empty option");
        if (SummaryWords < 10) throw new GlanceException($"--summary-words must be at least 10 (got {SummaryWords})");
        if (MaxContextTokens < 64) throw new GlanceException($"--max-context-tokens must be at least 64 (got {MaxContextTokens})");
    }
}

/// <summary>One call to the LLM: which step it was, what it was sent and what it answered.</summary>
public sealed record LlmExchange(string Step, string System, string Prompt, string Reply);

/// <summary>
/// The answer: for a multiple-choice question the chosen option (<see cref="Choice"/>, a letter, and
/// <see cref="ChoiceIndex"/>) parsed from the final reply, null when the reply names none; otherwise the
/// reply itself. <see cref="Mode"/> is "direct" (the question over the captions) or "summary"
/// (summaries first, over <see cref="Parts"/> parts of the caption list).
/// </summary>
public sealed record VideoAnswer(string Reply, string? Choice, int? ChoiceIndex, string Mode, int Parts, IReadOnlyList<LlmExchange> Exchanges)
{
    /// <summary>What to show: "B: the option's text", or the open answer.</summary>
    public string Answer(VideoQuestion question) =>
        ChoiceIndex is { } i ? $"{Choice}: {question.Choices[i]}" : Reply.Trim();
}

/// <summary>
/// LLoVi's two steps (Zhang et al. 2023, "A Simple LLM Framework for Long-Range Video Question-Answering";
/// CeeZh/LLoVi, <c>prompts.py</c>): the LLM first summarises the timestamped captions with the question in mind
/// (their "(C, Q) → S" setting, prompt <c>sum_q</c>, 500 words at temperature 1), then answers the question over the
/// summary (<c>qa_sum</c>, temperature 0; the first character of the reply is the letter). A caption list
/// shorter than the summary would be is answered directly over the captions (<c>qa_standard</c>).
/// <para>
/// Our prompts follow LLoVi's wording where it fits, and differ where our input does:
/// <list type="bullet">
/// <item>Captions carry their time span, <c>[0s-2s] a red circle next to a dog</c>, not LLoVi's clip number
/// (<c>0: …</c> with "each sentence describes a 1s clip"): spans may be merged or sampled at any rate, and
/// each describes one frame of its span, not the whole clip as LaViLa's do.</item>
/// <item>Not first-person: the system prompt says "video analysis", not "first person view video analysis".</item>
/// <item>Any number of choices (2–26), lettered from A, instead of exactly five; an open question (no choices)
/// is asked to be answered in a sentence or two.</item>
/// <item>LLoVi sends every caption in one prompt (EgoSchema's 3 minutes fit GPT-3.5's context). Here a list that
/// does not fit <see cref="VideoQuestion.MaxContextTokens"/> is split into consecutive parts, each summarised
/// in its share of the words with its time range named; if the summaries together still do not fit, they
/// are summarised again the same way.</item>
/// <item>The letter is parsed more leniently than LLoVi's first character: "(B)", "Answer: B", "the answer is
/// B", or the one option whose text the reply quotes. A reply naming none is reported, where LLoVi counts it wrong
/// (and answers a refused request by asking the LLM for a random letter).</item>
/// <item>Each request sets <c>max_tokens</c> (2 per summary word, <see cref="AnswerTokens"/> for the answer), so that
/// prompt and reply together stay within the context; LLoVi sets none. Over a summary the prompt says "summary"
/// where LLoVi's <c>qa_sum</c> still says "descriptions".</item>
/// </list>
/// </para>
/// </summary>
public static partial class VideoQuestions
{
    /// <summary>The LLM gave no reply (after <see cref="ChatClient"/>'s retries): the caller names the endpoint.</summary>
    public sealed class LlmFailure(string message) : GlanceException(message);

    public const string SystemPrompt = "You are a helpful expert in video analysis.";
    /// <summary>LLoVi summarises at temperature 1 and answers at 0 (its README's commands).</summary>
    public const double SummaryTemperature = 1.0, AnswerTemperature = 0.0;
    /// <summary>Tokens kept free for the answer (its <c>max_tokens</c>).</summary>
    public const int AnswerTokens = 256;

    /// <summary>
    /// Tokens, estimated without the LLM's tokenizer: one per 4 characters, rounded up (OpenAI's rule of thumb
    /// for English BPE; llama and Qwen vocabularies give about the same on English captions). A summary of
    /// W words is given 2·W tokens (English runs about 1.3 tokens a word; the rest is margin).
    /// </summary>
    public static int EstimateTokens(string text) => (text.Length + 3) / 4;
    public static int SummaryTokens(int words) => 2 * words;

    private static string S(double seconds) => seconds.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>One line per span: <c>[0s-2s] caption</c>.</summary>
    public static string FormatLine(CaptionSpan span) => $"[{S(span.Start)}s-{S(span.End)}s] {span.Caption}";

    // ───────────────────────── prompts ─────────────────────────

    /// <summary>What the descriptions are: all the captions, a part of them, or summaries of consecutive parts.</summary>
    public sealed record Source(bool Summaries, int Part, int Parts, double From, double To, double Duration);

    private static string Intro(Source s)
    {
        if (s.Summaries)
            return $"You are given summaries of consecutive parts of a video, in order. The video is {S(s.Duration)} seconds long. " +
                   "Each summary starts with the time span it covers in seconds, [start-end].";
        string what = s.Parts == 1
            ? $"You are given some language descriptions of a video. The video is {S(s.Duration)} seconds long."
            : $"You are given some language descriptions of part {s.Part} of {s.Parts} of a video, from {S(s.From)} to {S(s.To)} seconds; the whole video is {S(s.Duration)} seconds long.";
        return what + " Each line starts with the time span it describes in seconds, [start-end], followed by a description of one frame from that span. " +
               (s.Parts == 1 ? "The descriptions are sequential and non-overlapping which cover the whole video exactly." : "The descriptions are sequential and non-overlapping.");
    }

    /// <summary>LLoVi's <c>sum_q</c>: a summary of about <paramref name="words"/> words, guided by the question.</summary>
    public static string SummaryPrompt(Source source, string descriptions, string question, int words) =>
        $"{Intro(source)} Here are the descriptions:\n{descriptions}\n\n" +
        $"Please give me a {words} words summary. When doing summarization, remember that your summary will be used to answer this question: {question}";

    /// <summary>LLoVi's <c>qa_standard</c> / <c>qa_sum</c> for choices; for an open question, the same frame asking for a short answer.</summary>
    public static string AnswerPrompt(Source source, bool overSummary, string descriptions, VideoQuestion q)
    {
        string intro = overSummary && !source.Summaries
            ? $"You are given a summary of a video. The video is {S(source.Duration)} seconds long."
            : Intro(source);
        string noun = overSummary && !source.Summaries ? "summary" : "descriptions";
        if (q.Choices.Count == 0)
            return $"{intro} Here {(noun == "summary" ? "is the summary" : "are the descriptions")}:\n{descriptions}\n\n" +
                   $"Answer the following question about the video based on the {noun}, in one or two sentences. If the {noun} cannot tell, say so.\n" +
                   $"Here is the question: {q.Question}";
        var letters = Enumerable.Range(0, q.Choices.Count).Select(i => ((char)('A' + i)).ToString()).ToList();
        string list = string.Join(", ", letters), or = string.Join(", ", letters.Take(letters.Count - 1)) + ", or " + letters[^1];
        var sb = new StringBuilder()
            .Append($"Please provide a single-letter answer ({list}) to the following multiple-choice question, and your answer must be one of the letters ({or}). ")
            .Append("You must not provide any other response or explanation. ")
            .Append(intro).Append($" Here {(noun == "summary" ? "is the summary" : "are the descriptions")}:\n{descriptions}\n\n")
            .Append($"You are going to answer a multiple-choice question based on the {noun}, and your answer should be a single letter chosen from the choices.\n")
            .Append($"Here is the question: {q.Question}\nHere are the choices:\n");
        for (int i = 0; i < q.Choices.Count; i++) sb.Append($"{letters[i]}: {q.Choices[i]}\n");
        return sb.Append("\nIn your response, the first character should be your answer to this multiple-choice question.").ToString();
    }

    // ───────────────────────── parsing ─────────────────────────

    [GeneratedRegex(@"^[\s\p{P}]*(?:(?:the\s+)?(?:(?:final|correct|most\s+correct)\s+)?answer(?:\s+is)?\s*[:\-]?[\s\p{P}]*)?([A-Z])(?![\p{L}\p{N}])", RegexOptions.IgnoreCase)]
    private static partial Regex LeadingLetter();

    [GeneratedRegex(@"answer\s*(?:is|:)\s*[\s\(\*""']*([A-Z])(?![\p{L}\p{N}])", RegexOptions.IgnoreCase)]
    private static partial Regex AnswerIsLetter();

    /// <summary>
    /// The option a reply chooses: its first character (LLoVi's rule, after punctuation such as "(" or "**" and an
    /// "Answer:" prefix), else "answer is X" anywhere, else the one option whose text the reply contains. Null when none.
    /// </summary>
    public static int? ParseChoice(string reply, IReadOnlyList<string> choices)
    {
        int? InRange(Match m)
        {
            if (!m.Success) return null;
            int i = char.ToUpperInvariant(m.Groups[1].Value[0]) - 'A';
            // A lower-case "a" leading a sentence is the article, not the option.
            if (m.Groups[1].Value == "a" && m.Index + m.Length < reply.Length && reply[m.Index + m.Length] == ' ') return null;
            return i >= 0 && i < choices.Count ? i : null;
        }
        if (InRange(LeadingLetter().Match(reply)) is { } first) return first;
        foreach (Match m in AnswerIsLetter().Matches(reply))
            if (InRange(m) is { } named) return named;
        var quoted = Enumerable.Range(0, choices.Count).Where(i => reply.Contains(choices[i].Trim(), StringComparison.OrdinalIgnoreCase)).ToList();
        return quoted.Count == 1 ? quoted[0] : null;
    }

    // ───────────────────────── the two steps ─────────────────────────

    /// <summary>Consecutive items packed greedily so that each part's lines total at most <paramref name="budget"/> tokens (an item larger than that is alone).</summary>
    public static IReadOnlyList<IReadOnlyList<T>> Pack<T>(IReadOnlyList<T> items, Func<T, string> line, int budget)
    {
        var parts = new List<IReadOnlyList<T>>();
        var current = new List<T>();
        int used = 0;
        foreach (var item in items)
        {
            int cost = EstimateTokens(line(item) + "\n");
            if (current.Count > 0 && used + cost > budget) { parts.Add(current); current = []; used = 0; }
            current.Add(item);
            used += cost;
        }
        if (current.Count > 0) parts.Add(current);
        return parts;
    }

    /// <summary>Asks <paramref name="question"/> about the captioned video through <paramref name="client"/>.</summary>
    /// <exception cref="LlmFailure">The LLM failed (after the client's retries).</exception>
    /// <exception cref="GlanceException">The context is too small for the prompts.</exception>
    public static async Task<VideoAnswer> AskAsync(ChatClient client, IReadOnlyList<CaptionSpan> spans, VideoQuestion question, CancellationToken cancel = default)
    {
        question.Validate();
        if (spans.Count == 0) throw new GlanceException("no captions to ask about");
        var exchanges = new List<LlmExchange>();
        double duration = spans.Max(s => s.End);
        int context = question.MaxContextTokens;

        async Task<string> Call(string step, string prompt, double temperature, int maxTokens)
        {
            var result = await client.CompleteAsync([new ChatMessage("system", SystemPrompt), new ChatMessage("user", prompt)],
                temperature, maxTokens: maxTokens, cancel: cancel).ConfigureAwait(false);
            if (!result.Ok) throw new LlmFailure($"the LLM failed at the {step}: {result.Error}");
            exchanges.Add(new LlmExchange(step, SystemPrompt, prompt, result.Text!));
            return result.Text!;
        }
        bool Fits(string prompt, int reply) => EstimateTokens(SystemPrompt) + EstimateTokens(prompt) + reply <= context;

        var whole = new Source(false, 1, 1, 0, duration, duration);
        string captions = string.Join("\n", spans.Select(FormatLine));
        string direct = AnswerPrompt(whole, false, captions, question);
        // Short: the captions are no longer than the summary would be (W words ≈ 4/3·W tokens), so summarising cannot help.
        if (EstimateTokens(captions) <= question.SummaryWords * 4 / 3 && Fits(direct, AnswerTokens))
        {
            string reply = await Call("answer", direct, AnswerTemperature, AnswerTokens).ConfigureAwait(false);
            return Finish(reply, "direct", 1);
        }

        // Step 1: summaries. Items are (from, to, text): the captions first, then, if need be, the summaries of parts.
        var items = spans.Select(s => (From: s.Start, To: s.End, Text: FormatLine(s))).ToList();
        bool summaries = false;
        int firstParts = 0;
        for (int pass = 1; ; pass++)
        {
            var probe = new Source(summaries, 99, 99, duration, duration, duration);
            int words = question.SummaryWords;
            int overhead = EstimateTokens(SystemPrompt) + EstimateTokens(SummaryPrompt(probe, "", question.Question, words));
            int budget = context - overhead - SummaryTokens(words);
            if (budget < 16)
                throw new GlanceException($"--max-context-tokens {context} leaves no room for descriptions beside the summary prompt ({overhead} tokens) and a {words}-word summary ({SummaryTokens(words)} tokens); raise it or lower --summary-words");
            var parts = Pack(items, i => i.Text, budget);
            if (pass == 1) firstParts = parts.Count;
            else if (parts.Count >= items.Count)
                throw new GlanceException($"the part summaries do not fit in --max-context-tokens {context} together, nor two at a time; raise it or lower --summary-words");
            // Each part gets its share of the words, so that the summaries together are about as long as one.
            int share = Math.Max(10, words / parts.Count);
            var next = new List<(double From, double To, string Text)>();
            for (int p = 0; p < parts.Count; p++)
            {
                var part = parts[p];
                var source = new Source(summaries, p + 1, parts.Count, part[0].From, part[^1].To, duration);
                string prompt = SummaryPrompt(source, string.Join("\n", part.Select(i => i.Text)), question.Question, share);
                string step = $"summary{(pass > 1 ? $" (pass {pass})" : "")} {p + 1}/{parts.Count}";
                string summary = (await Call(step, prompt, SummaryTemperature, SummaryTokens(share)).ConfigureAwait(false)).Trim();
                next.Add((part[0].From, part[^1].To, parts.Count == 1 ? summary : $"[{S(part[0].From)}s-{S(part[^1].To)}s] {summary}"));
            }
            // Step 2: the question over the summary (one), or over the parts' summaries in order.
            var over = next.Count == 1 ? whole : new Source(true, 1, 1, 0, duration, duration);
            string answer = AnswerPrompt(over, true, string.Join("\n", next.Select(i => i.Text)), question);
            if (Fits(answer, AnswerTokens))
            {
                string reply = await Call("answer", answer, AnswerTemperature, AnswerTokens).ConfigureAwait(false);
                return Finish(reply, "summary", firstParts);
            }
            items = next;
            summaries = true;
        }

        VideoAnswer Finish(string reply, string mode, int parts)
        {
            int? index = question.Choices.Count > 0 ? ParseChoice(reply, question.Choices) : null;
            return new VideoAnswer(reply, index is { } i ? ((char)('A' + i)).ToString() : null, index, mode, parts, exchanges);
        }
    }
}
