using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace SharpGlance.Cli;

/// <summary>
/// Rejects mistyped options. System.CommandLine hands a token like <c>--beam</c> that names no option to
/// a command's free arguments (<c>glance caption</c> would try to open a file called "--beam"), so every
/// command is checked here after parsing: a token that starts with <c>-</c>, is not a number, is not an
/// option's value and does not follow <c>--</c> is an error naming the nearest valid option.
/// </summary>
public static class UnknownOptions
{
    /// <summary>Throws a <see cref="GlanceException"/> for the first unknown option in <paramref name="parse"/>.</summary>
    public static void Reject(ParseResult parse)
    {
        var optionValues = new HashSet<Token>(ReferenceEqualityComparer.Instance);
        for (SymbolResult? r = parse.CommandResult; r is CommandResult command; r = command.Parent)
            foreach (var option in command.Children.OfType<OptionResult>())
                optionValues.UnionWith(option.Tokens);

        foreach (var token in parse.Tokens)
        {
            if (token.Type == TokenType.DoubleDash) return;   // everything after "--" is literal
            if (token.Type != TokenType.Argument || optionValues.Contains(token) || !LooksLikeOption(token.Value)) continue;
            var command = parse.CommandResult.Command;
            string? nearest = Nearest(token.Value, ValidOptions(parse.CommandResult));
            throw new GlanceException($"{command.Name}: unknown option '{token.Value}'" +
                (nearest is null ? "" : $"; did you mean {nearest}?") +
                (command.Arguments.Count > 0 ? $" (to pass it as {command.Arguments[0].Name}, write it after --)" : ""));
        }
    }

    private static bool LooksLikeOption(string value) =>
        value.Length > 1 && value[0] == '-' && !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    /// <summary>The options the command takes, its ancestors' recursive ones (such as --help) included.</summary>
    private static IEnumerable<string> ValidOptions(CommandResult result)
    {
        var options = result.Command.Options.AsEnumerable();
        for (var p = result.Parent as CommandResult; p is not null; p = p.Parent as CommandResult)
            options = options.Concat(p.Command.Options.Where(o => o.Recursive));
        return options.SelectMany(o => o.Aliases.Prepend(o.Name));
    }

    /// <summary>The candidate with the smallest edit distance (ties: the first); null when there is none.</summary>
    public static string? Nearest(string typed, IEnumerable<string> candidates) =>
        candidates.Where(c => c.StartsWith('-')).Distinct().MinBy(c => EditDistance(typed, c));

    /// <summary>Levenshtein distance (insert, delete, substitute: cost 1 each).</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
