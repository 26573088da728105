using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using SharpGlance.Llm;
using SharpGlance.Video;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance ask --captions captions.json --question "…"</c>: LLoVi-style question answering over the
/// timestamped captions <c>glance video</c> wrote, through an OpenAI-compatible LLM (<see cref="VideoQuestions"/>).
/// </summary>
public static class AskCommand
{
    public static Command Create()
    {
        var captions = new Option<string>("--captions") { Description = "The captions: `glance video`'s JSON, a list of {start, end, caption}", Required = true };
        var question = new Option<string>("--question") { Description = "The question about the video", Required = true };
        var choices = new Option<string?>("--choices") { Description = "Multiple-choice options separated by '|', lettered A, B, C, … (the answer is one of them)" };
        var llmUrl = new Option<string?>("--llm-url") { Description = "OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (ollama) or http://localhost:8080/v1 (llama-server); or $SHARPGLANCE_LLM_URL" };
        var llmModel = new Option<string?>("--llm-model") { Description = "The model name to send (or $SHARPGLANCE_LLM_MODEL)" };
        var llmKey = new Option<string?>("--llm-key") { Description = "API key, if the endpoint wants one (or $SHARPGLANCE_LLM_KEY, $OPENAI_API_KEY)" };
        var llmKeyFile = new Option<string?>("--llm-key-file") { Description = "A file whose first line is the API key (keeps it off the command line); or $SHARPGLANCE_LLM_KEY_FILE" };
        var timeout = new Option<double>("--llm-timeout") { Description = "Seconds to wait for one reply (a local model summarising on a CPU is slow)", DefaultValueFactory = _ => 600 };
        var maxContext = new Option<int>("--max-context-tokens") { Description = "The LLM's context size; longer caption lists are summarised in parts (tokens estimated as characters / 4)", DefaultValueFactory = _ => 4096 };
        var summaryWords = new Option<int>("--summary-words") { Description = "Length of the summary asked for (LLoVi: 500)", DefaultValueFactory = _ => 500 };
        var json = new Option<bool>("--json") { Description = "Print JSON: the answer, the chosen option, and every prompt with the LLM's reply" };

        var command = new Command("ask", "Answer a question about a captioned video with an LLM (LLoVi: summarise the captions, then answer).")
        {
            captions, question, choices, llmUrl, llmModel, llmKey, llmKeyFile, timeout, maxContext, summaryWords, json,
        };
        command.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var spans = CaptionSpans.Read(parseResult.GetValue(captions)!);
            var q = new VideoQuestion
            {
                Question = parseResult.GetValue(question)!,
                Choices = parseResult.GetValue(choices) is { } c ? c.Split('|').Select(s => s.Trim()).ToList() : [],
                MaxContextTokens = parseResult.GetValue(maxContext),
                SummaryWords = parseResult.GetValue(summaryWords),
            };
            q.Validate();
            double seconds = parseResult.GetValue(timeout);
            if (!(seconds > 0)) throw new GlanceException($"--llm-timeout must be positive (got {seconds})");
            var endpoint = ChatEndpoint.FromOptions(parseResult.GetValue(llmUrl), parseResult.GetValue(llmModel), Secrets.LlmKey(parseResult.GetValue(llmKey), parseResult.GetValue(llmKeyFile), "--llm-key-file"))
                ?? throw new GlanceException("no LLM: pass --llm-url (e.g. http://localhost:11434/v1 for ollama) or set SHARPGLANCE_LLM_URL");
            endpoint = endpoint with { Timeout = TimeSpan.FromSeconds(seconds) };
            using var client = new ChatClient(endpoint);
            using var interrupts = Interrupts.Listen();
            VideoAnswer answer;
            try { answer = VideoQuestions.AskAsync(client, spans, q, interrupts.Token).GetAwaiter().GetResult(); }
            catch (OperationCanceledException) when (interrupts.Requested) { return interrupts.Report(error, "no answer"); }
            catch (VideoQuestions.LlmFailure e) { throw new GlanceException($"{endpoint.BaseUrl} ({endpoint.Model}): {e.Message}"); }

            bool unparsed = q.Choices.Count > 0 && answer.Choice is null;
            if (parseResult.GetValue(json))
            {
                var result = new
                {
                    question = q.Question,
                    choices = q.Choices,
                    answer = unparsed ? null : answer.Answer(q),
                    choice = answer.Choice,
                    mode = answer.Mode,
                    parts = answer.Parts,
                    llm = new { url = endpoint.BaseUrl, model = endpoint.Model },
                    exchanges = answer.Exchanges.Select(x => new { step = x.Step, system = x.System, prompt = x.Prompt, reply = x.Reply }),
                };
                output.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            }
            else if (!unparsed) output.WriteLine(answer.Answer(q));
            if (unparsed)
            {
                string letters = $"A-{(char)('A' + q.Choices.Count - 1)}";
                error.WriteLine($"glance: error: the LLM's reply names none of the choices {letters}: \"{answer.Reply.Trim().ReplaceLineEndings(" ")}\"");
                return 2;
            }
            return 0;
        });
        return command;
    }
}
