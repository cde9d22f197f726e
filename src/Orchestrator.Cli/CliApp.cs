using System.Diagnostics;
using System.CommandLine;
using System.CommandLine.Help;
using Orchestrator.Cli.Commands;
using Orchestrator.Contracts;

namespace Orchestrator.Cli;

/// <summary>The <c>orchestrator</c> command: its tree of subcommands, parsing, and the usage exit code.</summary>
public static class CliApp
{
    /// <summary>The W3C trace context of a traced caller (a CI job), continued by the command's requests.</summary>
    public const string TraceParentVariable = "TRACEPARENT";

    public static async Task<int> RunAsync(string[] args, CliEnvironment environment, CancellationToken cancellationToken = default)
    {
        // A key given as a flag would already be in the process list and shell history; say so without echoing it.
        if (args.Any(a => a is "--api-key" or "--key" || a.StartsWith("--api-key=", StringComparison.Ordinal)))
        {
            await environment.Error.WriteLineAsync(
                $"error: there is no --api-key flag: a key on the command line shows in process lists. Use --api-key-file FILE or {GlobalOptions.ApiKeyVariable}.");
            return ExitCodes.Usage;
        }

        var global = new GlobalOptions();
        var root = Build(global, environment);
        // @FILE is ours (payloads, credentials), not a response file of arguments.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            foreach (var error in parsed.Errors)
            {
                await environment.Error.WriteLineAsync($"error: {error.Message}");
            }

            await environment.Error.WriteLineAsync($"Run '{Usage(parsed)} --help' for usage.");
            return ExitCodes.Usage;
        }

        // A CI job that traces exports TRACEPARENT (as otel-cli and CI tracing plugins do): the command's calls carry it
        // (HttpClient sends the current activity's context), so the tasks it creates join the job's trace.
        using var job = environment.Variable(TraceParentVariable) is { } traceParent && ActivityContext.TryParse(traceParent, null, out _)
            ? new Activity("orchestrator-cli").SetParentId(traceParent).Start()
            : null;
        return await parsed.InvokeAsync(new InvocationConfiguration
        {
            Output = environment.Out,
            Error = environment.Error,
            // Ctrl-C and SIGTERM cancel the token the caller gave; the parser must not end the process itself.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        }, cancellationToken);
    }

    public static Command Build(GlobalOptions global, CliEnvironment environment)
    {
        var commands = new CommandFactory(global, environment);
        // A plain command named as the tool (a RootCommand takes the name of the binary, Orchestrator.Cli under dotnet run).
        var root = new Command("orchestrator", "orchestrator: operate an Orchestrator service (agents, tasks, rollouts, tokens, targets, audit, API keys, CA).\n" +
            "Exit codes: 0 done or task/rollout succeeded, 1 task/rollout failed, cancelled or timed out, 2 refused by the API, 64 usage, " +
            "69 server unreachable or untrusted, 124 wait ran out, 130 interrupted.")
        {
            TokenCommands.Build(commands),
            AgentCommands.Build(commands),
            TaskCommands.Build(commands),
            RolloutCommands.Build(commands),
            TargetCommands.Build(commands),
            AuditCommands.Build(commands),
            ApiKeyCommands.Build(commands),
            CaCommands.Build(commands),
        };
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        foreach (var option in global.All)
        {
            root.Options.Add(option);
        }

        foreach (var command in CompletionCommands.Build(root, environment))
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    private static string Usage(ParseResult parsed)
    {
        var names = new List<string>();
        for (var command = parsed.CommandResult; command is not null; command = command.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Insert(0, command.Command.Name);
        }

        return string.Join(' ', names);
    }
}

/// <summary>Makes commands whose actions run through <see cref="Invocation"/>.</summary>
public sealed class CommandFactory(GlobalOptions global, CliEnvironment environment)
{
    public Command Command(string name, string description, Func<Invocation, Task<int>> body, params Symbol[] symbols)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Option option:
                    command.Options.Add(option);
                    break;
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
            }
        }

        command.SetAction((parsed, cancellationToken) => new Invocation(parsed, environment, global, cancellationToken).RunAsync(body));
        // Every list answers to both names, as `rollouts list` always did.
        if (name == "ls")
        {
            command.Aliases.Add("list");
        }

        return command;
    }

    public static Command Group(string name, string description, params Command[] commands)
    {
        var group = new Command(name, description);
        foreach (var command in commands)
        {
            group.Subcommands.Add(command);
        }

        return group;
    }

    public static Argument<string> IdArgument(string what) => new("id") { Description = $"The {what}'s id." };

    /// <summary><c>--selector</c> as tasks and rollouts both take it (<see cref="Arguments.Selector"/>): parts separated by
    /// commas or spaces, or the flag repeated.</summary>
    public static Option<string[]> Selector(string which) => new("--selector")
    {
        Description = $"Which agents {which}: KEY=VALUE labels, capability=NAME, label:KEY=VALUE, separated by commas or spaces or " +
            "repeated; all must match (give --selector or --agent).",
        AllowMultipleArgumentsPerToken = true,
    };

    /// <summary>An option naming one of the API's values of <typeparamref name="TEnum"/> by its wire name: a wrong name is
    /// the parser's usage error (exit 64), and shells complete the names.</summary>
    public static Option<TEnum?> WireEnum<TEnum>(string name, string description) where TEnum : struct, Enum
    {
        var names = Enum.GetValues<TEnum>().Select(WireNames.Of).ToArray();
        var option = new Option<TEnum?>(name)
        {
            Description = description,
            HelpName = string.Join('|', names),
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (WireNames.TryParse<TEnum>(text, out var value))
                {
                    return value;
                }

                result.AddError($"{name} must be one of {string.Join(", ", names)}, not '{text}'.");
                return null;
            },
        };
        // Instead of the enum's own member names, which the API does not take.
        option.CompletionSources.Clear();
        option.CompletionSources.Add(names);
        return option;
    }

    /// <summary>A length of time (<see cref="Durations"/>: 300, 90s, 15m, 2h, hh:mm:ss), checked by the parser.</summary>
    public static Option<TimeSpan?> Duration(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (Durations.TryParse(text, out var duration))
            {
                return duration;
            }

            result.AddError(Durations.Error(name, text));
            return null;
        },
    };

    public static Option<int?> Limit(string? defaultText = null) => new("--limit")
    {
        Description = $"Show at most N (newest first where the API orders so){(defaultText is null ? "; default: all, following every page" : $"; default {defaultText}")}.",
        Validators = { result => { if (result.GetValueOrDefault<int?>() is < 1) { result.AddError("--limit must be at least 1."); } } },
    };
}
