using System.Diagnostics;
using Orchestrator.Cli.Commands;
using Orchestrator.Testing;

namespace Orchestrator.Cli.Tests;

/// <summary>Shell completion: the printed scripts run in the real shells against the built command, which answers from
/// the command tree that parses.</summary>
public sealed class CompletionTests : IDisposable
{
    private readonly string _tools = Directory.CreateTempSubdirectory("orch-completion-").FullName;

    public CompletionTests()
    {
        // `orchestrator` on PATH, as an installed CLI is: the scripts call it by that name.
        InstalledTools.Write(_tools, "orchestrator", Path.Combine(AppContext.BaseDirectory, "Orchestrator.Cli.dll"));
    }

    [Theory]
    [InlineData("orchestrator ta", "targets tasks")]
    [InlineData("orchestrator tasks ls --status s", "succeeded")]
    [InlineData("orchestrator rollouts ls --status p", "paused pending")]
    [InlineData("orchestrator agents ls -o ", "json table wide")]
    [InlineData("orchestrator api-keys create --role ", "admin operator viewer")]
    [InlineData("orchestrator completion ", "bash pwsh zsh")]
    public void The_command_tree_completes_commands_and_the_values_the_api_takes(string line, string expected)
    {
        var root = CliApp.Build(new GlobalOptions(), new CliEnvironment(TextWriter.Null, TextWriter.Null, TextReader.Null, false, _ => null));

        var words = CompletionCommands.Complete(root, line, null).Where(w => !w.StartsWith('-') || line.EndsWith('-')).Order(StringComparer.Ordinal);

        Assert.Equal(expected, string.Join(' ', words));
    }

    [Fact]
    public void Completion_offers_flags_of_the_command_being_typed_and_hides_its_own_machinery()
    {
        var root = CliApp.Build(new GlobalOptions(), new CliEnvironment(TextWriter.Null, TextWriter.Null, TextReader.Null, false, _ => null));

        var flags = CompletionCommands.Complete(root, "orchestrator tasks create --", null).ToList();
        var commands = CompletionCommands.Complete(root, "orchestrator ", null).ToList();

        Assert.Contains("--selector", flags);
        Assert.Contains("--wait-timeout", flags);
        Assert.DoesNotContain(CompletionCommands.CompleteCommand, commands);
        Assert.Contains("rollouts", commands);
    }

    [Fact]
    public async Task The_bash_script_makes_bash_complete_through_the_installed_command()
    {
        // bash calls the completion function with COMP_LINE and COMP_POINT set, as here; the cursor may be mid-line.
        var output = await RunAsync("bash", """
            source <(orchestrator completion bash)
            complete -p orchestrator
            for line in 'orchestrator tasks ls --status c' 'orchestrator agents ls -o w'; do
              COMP_LINE=$line; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
              _orchestrator_complete
              echo "${COMPREPLY[*]}"
            done
            COMP_LINE='orchestrator rol ls'; COMP_POINT=16; COMPREPLY=()
            _orchestrator_complete
            echo "${COMPREPLY[*]}"
            """);

        Assert.Equal(
            ["complete -o default -F _orchestrator_complete orchestrator", "cancelled cancelling", "wide", "rollouts"],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task The_zsh_script_hands_zsh_the_words_for_the_buffer_up_to_the_cursor()
    {
        // zsh's completion widgets need a terminal; compdef and compadd are zsh's own names for what the script hands
        // over, so they are replaced here by functions that print what they were given.
        var output = await RunAsync("zsh", """
            compdef() { print -r -- "compdef $*" }
            compadd() { print -r -- "${(j: :)${(P)2}}" }
            source <(orchestrator completion zsh)
            BUFFER='orchestrator tasks ls --status r'; CURSOR=${#BUFFER}
            _orchestrator
            """);

        Assert.Equal(["compdef _orchestrator orchestrator", "running"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task An_unknown_shell_is_a_usage_error_naming_the_shells()
    {
        var result = await CliFixture.RunWithAsync(new Dictionary<string, string>(), null, ["completion", "fish"]);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("bash", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Out);
    }

    private async Task<string> RunAsync(string shell, string script)
    {
        var start = new ProcessStartInfo(shell, ["-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["PATH"] = $"{_tools}:{Environment.GetEnvironmentVariable("PATH")}";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{shell} exited {process.ExitCode}: {await error}");
        return await output;
    }

    public void Dispose() => Directory.Delete(_tools, recursive: true);
}
