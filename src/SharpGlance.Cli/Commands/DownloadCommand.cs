using System.CommandLine;
using SharpGlance.IO;

namespace SharpGlance.Cli.Commands;

/// <summary>
/// <c>glance download org/name[@revision]</c>: fetches a Hugging Face model into the hub cache
/// (<see cref="HubDownload"/>), after which <c>--model</c>, <c>--vision</c>, <c>--lm</c> and <c>--init</c> take
/// its name. Reads HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and HF_HUB_CACHE/HF_HOME as huggingface_hub does.
/// </summary>
public static class DownloadCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("model") { Description = "The model's name on the hub, org/name[@revision] (a branch, tag or commit; default main)" };
        var cache = new Option<string?>("--cache-dir") { Description = "The hub cache folder (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)" };

        var command = new Command("download", "Fetch a Hugging Face model (config, safetensors or else pytorch_model.bin, tokenizer) into the hub cache, resumably and checked.") { name, cache };
        command.SetAction(parseResult =>
        {
            string text = parseResult.GetValue(name)!;
            var id = HubModelId.TryParse(text) ?? throw new GlanceException($"{text}: not a model name; use org/name or org/name@revision");
            var options = HubDownloadOptions.FromEnvironment() with { CacheRoot = parseResult.GetValue(cache) };
            var notes = CliProgress.Above(parseResult.InvocationConfiguration.Error);
            using var interrupts = Interrupts.Listen();
            HubDownloadResult result;
            try
            {
                result = CliProgress.Run($"download {id}", p => HubDownload.Run(id, options, p, notes.WriteLine, interrupts.Token));
            }
            catch (OperationCanceledException) when (interrupts.Requested)
            {
                return interrupts.Report(parseResult.InvocationConfiguration.Error, "the partial file is kept; run the same command to resume");
            }
            var output = parseResult.InvocationConfiguration.Output;
            output.WriteLine(options.Offline
                ? $"{id}: in the cache (offline) → {result.Snapshot}"
                : $"{id}: {result.Files.Count} files, {result.BytesFetched / 1e6:0.0} MB fetched, commit {result.Commit} → {result.Snapshot}");
            return 0;
        });
        return command;
    }
}
