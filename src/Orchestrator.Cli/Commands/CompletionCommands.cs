using System.CommandLine;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator completion bash|zsh|pwsh</c> prints a script that makes the shell complete commands, flags
/// and values (<c>-o</c>, <c>--status</c>, <c>--role</c>) by asking the hidden <c>orchestrator __complete</c>, which
/// answers from the same command tree that parses (so completions never disagree with what is accepted).</summary>
public static class CompletionCommands
{
    public const string CompleteCommand = "__complete";

    public static IEnumerable<Command> Build(Command root, CliEnvironment environment)
    {
        var shell = new Argument<string>("shell") { Description = "The shell to complete in: bash, zsh or pwsh." };
        shell.AcceptOnlyFromAmong("bash", "zsh", "pwsh");
        var completion = new Command("completion", "Print the shell completion script, e.g. source <(orchestrator completion bash) in ~/.bashrc.")
        {
            shell,
        };
        completion.SetAction(async (parsed, cancellationToken) =>
        {
            await environment.Out.WriteAsync(Script(parsed.GetValue(shell)!).AsMemory(), cancellationToken);
            return ExitCodes.Ok;
        });

        var line = new Argument<string>("line") { Description = "The command line as typed, the program's name first." };
        var position = new Option<int?>("--position") { Description = "Where the cursor is in the line (default: its end)." };
        var complete = new Command(CompleteCommand, "Completions for a command line, one per line (used by the completion scripts).")
        {
            Hidden = true,
        };
        complete.Arguments.Add(line);
        complete.Options.Add(position);
        complete.SetAction(async (parsed, cancellationToken) =>
        {
            foreach (var word in Complete(root, parsed.GetValue(line) ?? "", parsed.GetValue(position)))
            {
                await environment.Out.WriteLineAsync(word.AsMemory(), cancellationToken);
            }

            return ExitCodes.Ok;
        });
        return [completion, complete];
    }

    /// <summary>What may stand at <paramref name="position"/> of <paramref name="typed"/>: the shell passes the whole
    /// line, with whatever name the program was called by, so that name is replaced by the root command's.</summary>
    public static IEnumerable<string> Complete(Command root, string typed, int? position)
    {
        var cursor = Math.Clamp(position ?? typed.Length, 0, typed.Length);
        var programEnd = typed.IndexOf(' ', StringComparison.Ordinal);
        if (programEnd < 0 || programEnd >= cursor)
        {
            return [];
        }

        var line = root.Name + typed[programEnd..cursor];
        var current = line[(line.LastIndexOf(' ') + 1)..];
        // The parser offers words that merely contain what was typed, and help's Windows spellings (/?, /h, -?); a shell
        // replaces the word being typed, so only words that start with it are offered.
        return root.Parse(line).GetCompletions(line.Length)
            .Select(c => c.InsertText ?? c.Label)
            .Where(word => word.StartsWith(current, StringComparison.Ordinal) && word != CompleteCommand && word is not ("-?" or "/?" or "/h"))
            .Distinct(StringComparer.Ordinal);
    }

    private static string Script(string shell) => shell switch
    {
        "bash" => """
            # orchestrator completion for bash: source <(orchestrator completion bash)
            _orchestrator_complete() {
                local IFS=$'\n'
                COMPREPLY=($(orchestrator __complete --position "$COMP_POINT" -- "$COMP_LINE" 2>/dev/null))
            }
            complete -o default -F _orchestrator_complete orchestrator

            """,
        "zsh" => """
            # orchestrator completion for zsh: source <(orchestrator completion zsh)
            _orchestrator() {
                local -a completions
                completions=("${(@f)$(orchestrator __complete --position "$CURSOR" -- "$BUFFER" 2>/dev/null)}")
                compadd -a completions
            }
            compdef _orchestrator orchestrator

            """,
        _ => """
            # orchestrator completion for PowerShell: orchestrator completion pwsh | Out-String | Invoke-Expression
            Register-ArgumentCompleter -Native -CommandName orchestrator -ScriptBlock {
                param($wordToComplete, $commandAst, $cursorPosition)
                $line = $commandAst.ToString()
                $position = $cursorPosition - $commandAst.Extent.StartOffset
                orchestrator __complete --position $position -- "$line" | ForEach-Object {
                    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
                }
            }

            """,
    };
}
