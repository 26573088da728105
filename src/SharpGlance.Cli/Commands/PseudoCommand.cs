using System.CommandLine;
using System.Text.Json;
using SharpGlance.Data.Pseudo;
using SharpGlance.Llm;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance pseudo</c>: pseudo-initial captions for stage-2 (Sharp-Eyed Refinement) training, SPEC §9.
/// Adds "pre_captions" and "pre_caption_edits" to every entry of a LLaVA conversation file.
/// </summary>
public static class PseudoCommand
{
    public static Command Create()
    {
        var input = new Option<string>("--in") { Description = "LLaVA conversation JSON; the first \"gpt\" turn of each entry is its ground truth", Required = true };
        var output = new Option<string>("--out") { Description = "Where to write the entries with \"pre_captions\" added", Required = true };
        var variants = new Option<int>("--variants") { Description = "Pseudo-initial captions per ground truth", DefaultValueFactory = _ => 3 };
        var maxEdits = new Option<int>("--max-edits") { Description = "At most this many edits per variant", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Seed of every choice (same seed, same output)", DefaultValueFactory = _ => 0 };
        var strategy = new Option<string?>("--strategy")
        {
            Description = "rules (edit the GT), model (Data1: the stage-1 model's captions from --captions), mixed (either, per variant), "
                + "llm (an OpenAI-compatible endpoint edits the GT). Default: llm when --llm-url is given, else rules",
        };
        strategy.AcceptOnlyFromAmong("rules", "model", "mixed", "llm");
        var includeGt = new Option<bool>("--include-gt") { Description = "Data4: one variant is the ground truth itself" };
        var captions = new Option<string?>("--captions") { Description = "The model's captions: JSON lines {\"image\",\"caption\"} (glance caption --json) or COCO results [{\"image_id\",\"caption\"}]" };
        var lexicon = new Option<string?>("--lexicon") { Description = "Extra lexicon JSON merged over the built-in one (default: lexicon.json beside --in, if any)" };
        var llmUrl = new Option<string?>("--llm-url") { Description = "OpenAI-compatible endpoint base URL (or SHARPGLANCE_LLM_URL)" };
        var llmModel = new Option<string?>("--llm-model") { Description = "Chat model name (or SHARPGLANCE_LLM_MODEL; default gpt-4o-mini)" };
        var llmKey = new Option<string?>("--llm-key") { Description = "API key (or SHARPGLANCE_LLM_KEY / OPENAI_API_KEY)" };
        var llmKeyFile = new Option<string?>("--llm-key-file") { Description = "A file whose first line is the API key (keeps it off the command line); or $SHARPGLANCE_LLM_KEY_FILE" };
        var llmParallel = new Option<int>("--llm-parallel") { Description = "Chat requests in flight at once", DefaultValueFactory = _ => 4 };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON" };

        var command = new Command("pseudo", "Make pseudo-initial captions (stage-2 data for Sharp-Eyed Refinement) from a LLaVA caption file.")
        {
            input, output, variants, maxEdits, seed, strategy, includeGt, captions, lexicon, llmUrl, llmModel, llmKey, llmKeyFile, llmParallel, json,
        };
        command.SetAction(parseResult =>
        {
            var url = parseResult.GetValue(llmUrl);
            var chosen = parseResult.GetValue(strategy) ?? (url is null ? "rules" : "llm");
            var kind = Enum.Parse<PseudoStrategy>(chosen, ignoreCase: true);
            var options = new PseudoOptions
            {
                Variants = parseResult.GetValue(variants),
                MaxEdits = parseResult.GetValue(maxEdits),
                Seed = parseResult.GetValue(seed),
                Strategy = kind,
                IncludeGroundTruth = parseResult.GetValue(includeGt),
                CaptionsPath = parseResult.GetValue(captions),
                Llm = kind == PseudoStrategy.Llm ? ChatEndpoint.FromOptions(url, parseResult.GetValue(llmModel), Secrets.LlmKey(parseResult.GetValue(llmKey), parseResult.GetValue(llmKeyFile), "--llm-key-file")) : null,
                LlmParallelism = parseResult.GetValue(llmParallel),
            };
            options.Validate();
            var inPath = parseResult.GetValue(input)!;
            var outPath = parseResult.GetValue(output)!;
            if (File.Exists(inPath)) ConfigJson.ReadUtf8(inPath);   // the reader would fail on the first bad string, naming no file
            var lex = Lexicon.ForDataset(inPath, parseResult.GetValue(lexicon));
            var summary = CliProgress.Run("pseudo-initial captions", progress => PseudoCaptionGenerator.Run(inPath, outPath, options, lex, progress));
            if (parseResult.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
            else Print(summary);
            return 0;
        });
        return command;
    }

    private static void Print(PseudoSummary s)
    {
        Console.WriteLine($"{s.Entries} captions × {s.VariantsPerCaption} variants ({s.Strategy}, seed {s.Seed}, ≤ {s.MaxEdits} edits{(s.IncludeGroundTruth ? ", GT included" : "")}) → {s.Output}");
        Console.WriteLine($"lexicon: {string.Join(" + ", s.Lexicon)}");
        Console.WriteLine("sources: " + string.Join(", ", s.Sources.Select(kv => $"{kv.Key} {kv.Value}")));
        Console.WriteLine("edits per kind: " + (s.EditsPerKind.Count == 0 ? "none" : string.Join(", ", s.EditsPerKind.Select(kv => $"{kv.Key} {kv.Value}"))));
        Console.WriteLine("variants by edit count: " + string.Join(", ", s.EditCountHistogram.Select(kv => $"{kv.Key}: {kv.Value}")));
        if (s.UneditableCaptions > 0) Console.WriteLine($"captions with nothing the lexicon can edit: {s.UneditableCaptions}");
        if (s.Model is { } m)
            Console.WriteLine($"model captions: {m.Captions} in {m.CaptionsFile}; entries matched {m.EntriesMatched}, missing {m.EntriesMissing}, equal to GT (rule edit instead) {m.EqualToGroundTruth}");
        if (s.Llm is { } l)
        {
            Console.WriteLine($"llm {l.Model} at {l.Url}: {l.Requests} requests, {l.FailedRequests} failed; variants accepted {l.AcceptedVariants}, rejected {l.RejectedVariants}, made by rules instead {l.FallbackVariants}");
            foreach (var e in l.Errors) Console.WriteLine($"  {e}");
        }
    }
}
