using Spectre.Console;

namespace SharpGlance.Cli;

/// <summary>
/// Progress for long work: a Spectre.Console bar with the time remaining on an interactive terminal,
/// plain log lines with an ETA (at most one every few seconds) when output is redirected. Library code
/// reports through <see cref="IProgress{T}"/> of <see cref="ProgressUpdate"/>; this turns it into either
/// form. Lines a command prints while the bar is shown go through <see cref="Above"/>, so they scroll
/// above the bar instead of being drawn over.
/// </summary>
public static class CliProgress
{
    public static bool Interactive =>
        !Console.IsErrorRedirected && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null;

    /// <summary>Runs <paramref name="work"/> with a progress sink titled <paramref name="title"/>.</summary>
    public static T Run<T>(string title, Func<IProgress<ProgressUpdate>, T> work)
    {
        if (!Interactive)
        {
            var sink = new LogLines(title);
            var result = work(sink);
            sink.Finish();
            return result;
        }
        T value = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: 1);
                value = work(new Bar(task, title));
                task.Value = task.MaxValue;
            });
        return value;
    }

    public static void Run(string title, Action<IProgress<ProgressUpdate>> work) => Run<int>(title, p => { work(p); return 0; });

    /// <summary>
    /// Where to print lines while <see cref="Run{T}"/> shows a bar: on a terminal, Spectre's console (which
    /// keeps the bar below what it writes); redirected, <paramref name="writer"/> itself.
    /// </summary>
    public static TextWriter Above(TextWriter writer) => Interactive ? new SpectreLines() : writer;

    private sealed class SpectreLines : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) => AnsiConsole.Write(value.ToString());
        public override void WriteLine(string? value) => AnsiConsole.WriteLine(value ?? "");
    }

    /// <summary>"ETA h:mm:ss" from the rate so far; empty until something is done or when all is.</summary>
    public static string Eta(TimeSpan elapsed, double done, double total)
    {
        if (done <= 0 || total <= done) return "";
        var left = TimeSpan.FromSeconds(Math.Round(elapsed.TotalSeconds / done * (total - done)));
        return $"ETA {(int)left.TotalHours}:{left:mm\\:ss}";
    }

    private sealed class Bar(ProgressTask task, string title) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate u)
        {
            if (u.Total > 0) task.MaxValue = u.Total;
            task.Value = Math.Min(u.Done, task.MaxValue);
            task.Description = Markup.Escape(u.Detail is null ? title : $"{title} {u.Detail}");
            if (u.Milestone) AnsiConsole.WriteLine($"{title}: {u.Done}/{u.Total} {u.Detail}");
        }
    }

    private sealed class LogLines(string title) : IProgress<ProgressUpdate>
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private TimeSpan _last = TimeSpan.FromSeconds(-10);
        private ProgressUpdate? _unwritten;

        public void Report(ProgressUpdate u)
        {
            _unwritten = u;
            if (!u.Milestone && _clock.Elapsed - _last < TimeSpan.FromSeconds(5) && u.Done < u.Total) return;
            _last = _clock.Elapsed;
            Write(u);
        }

        /// <summary>The last update, if the rate limit held it back.</summary>
        public void Finish()
        {
            if (_unwritten is { } u) Write(u);
        }

        private void Write(ProgressUpdate u)
        {
            _unwritten = null;
            string eta = Eta(_clock.Elapsed, u.Done, u.Total);
            Console.Error.WriteLine($"[{_clock.Elapsed:hh\\:mm\\:ss}] {title}: {u.Done}/{u.Total}{(u.Detail is null ? "" : " " + u.Detail)}{(eta.Length == 0 ? "" : ", " + eta)}");
        }
    }
}
