namespace Orchestrator.Agent.Executors;

/// <summary><c>shell.run</c> <c>{ "command": [], "workingDirectory"?, "env"?: {} }</c>: runs a program directly (no shell
/// unless the command names one), output as logs, success iff exit code 0 → <c>{ "exitCode" }</c>. Registered only with
/// <c>--allow-shell</c>: it runs anything with the agent's rights.</summary>
public sealed class ShellExecutor : IExecutor
{
    public string TaskType => "shell.run";

    public async Task<ExecutionResult> ExecuteAsync(TaskContext context)
    {
        var command = context.Strings("command") ?? throw new TaskFailedException("Payload field 'command' is required: an array of strings.");
        if (command.Count == 0 || string.IsNullOrEmpty(command[0]))
        {
            throw new TaskFailedException("Payload field 'command' must name a program.");
        }

        var directory = context.String("workingDirectory") ?? context.WorkDirectory;
        if (!Directory.Exists(directory))
        {
            throw new TaskFailedException($"The working directory '{directory}' does not exist.");
        }

        var exitCode = await ProcessRunner.RunAsync(command[0], command.Skip(1), context.Map("env"), directory, context);
        return exitCode == 0
            ? ExecutionResult.Succeeded(new { exitCode })
            : new ExecutionResult(false, new { exitCode, error = $"'{command[0]}' exited with code {exitCode}." });
    }
}
