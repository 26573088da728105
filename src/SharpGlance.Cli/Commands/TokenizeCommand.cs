using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using SharpGlance.IO;
using SharpGlance.Tokenization;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance tokenize [--model DIR] TEXT</c>: the ids and byte-level tokens of a text, as HF's
/// <c>tokenizer(text).input_ids</c> and <c>tokenizer.tokenize(text)</c> show them — the first thing to
/// compare when a prompt behaves differently from the reference.
/// </summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Folder with vocab.json + merges.txt (a captioner or OPT folder, or its hub name org/name; default: the embedded model's, the real OPT vocabulary)" };
        var json = new Option<bool>("--json") { Description = "Print {\"ids\": [...], \"tokens\": [...]} as JSON" };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not prepend the BOS token </s> (id 2)" };
        var image = new Option<bool>("--image") { Description = "Treat <image> as the image placeholder (id -200), as captioning prompts do" };
        var text = new Argument<string>("text") { Description = "The text to tokenize (quote it)" };

        var command = new Command("tokenize", "Print the token ids and tokens of a text (OPT byte-level BPE).") { model, json, noBos, image, text };
        command.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var tokenizer = OptTokenizer.FromFolder(HubCache.ResolveOptional(parseResult.GetValue(model)) ?? DefaultModel.Folder);
            string input = parseResult.GetValue(text) ?? "";
            bool addBos = !parseResult.GetValue(noBos);
            int[] ids = parseResult.GetValue(image) ? tokenizer.EncodeWithImage(input, addBos) : tokenizer.Encode(input, addBos);
            var tokens = tokenizer.ToTokens(ids);

            if (parseResult.GetValue(json))
            {
                var options = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
                output.WriteLine(JsonSerializer.Serialize(new { ids, tokens }, options));
                return 0;
            }

            output.WriteLine($"{ids.Length} tokens: [{string.Join(", ", ids)}]");
            int width = Math.Max(2, ids.Select(i => i.ToString().Length).DefaultIfEmpty(2).Max());
            for (int i = 0; i < ids.Length; i++)
            {
                // The token's own text, so "Ġ" (a space) and "Ċ" (a newline) read plainly next to it.
                string piece = ids[i] == OptTokenizer.ImageTokenId ? "" :
                    JsonSerializer.Serialize(tokenizer.Decode([ids[i]], skipSpecialTokens: false, cleanUpTokenizationSpaces: false),
                        new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
                output.WriteLine($"{ids[i].ToString().PadLeft(width)}  {tokens[i],-16} {piece}");
            }
            return 0;
        });
        return command;
    }
}
