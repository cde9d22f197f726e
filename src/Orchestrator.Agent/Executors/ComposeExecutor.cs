using System.Text.RegularExpressions;

namespace Orchestrator.Agent.Executors;

/// <summary>The compose CLI the agent found: <c>docker compose</c> (the v2 plugin) or else <c>docker-compose</c>,
/// pointed at the agent's engine through <c>DOCKER_HOST</c>. Compose is the one place the agent runs a CLI: there is no
/// Engine API for it.</summary>
public sealed record ComposeCli(string FileName, string[] Prefix, string DockerHost)
{
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["DOCKER_HOST"] = DockerHost };

    public static async Task<ComposeCli?> FindAsync(string dockerHost)
    {
        var environment = new Dictionary<string, string> { ["DOCKER_HOST"] = dockerHost };
        if (await ProcessRunner.SucceedsAsync("docker", ["compose", "version"], environment, TimeSpan.FromSeconds(30)))
        {
            return new ComposeCli("docker", ["compose"], dockerHost);
        }

        return await ProcessRunner.SucceedsAsync("docker-compose", ["version"], environment, TimeSpan.FromSeconds(30))
            ? new ComposeCli("docker-compose", [], dockerHost)
            : null;
    }
}

/// <summary><c>compose.up</c> / <c>compose.down</c> <c>{ "project", "compose": "&lt;YAML&gt;", "env"?: {} }</c>: writes the
/// file into <c>&lt;state&gt;/compose/&lt;project&gt;/</c> and runs <c>up -d</c> or <c>down</c> there; output as logs,
/// success iff the CLI exits 0 → <c>{ "project", "exitCode" }</c>.</summary>
public sealed partial class ComposeExecutor(string taskType, Func<Task<ComposeCli?>> cli, string projectsRoot) : IExecutor
{
    public string TaskType => taskType;

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex ProjectName();

    public async Task<ExecutionResult> ExecuteAsync(TaskContext context)
    {
        var project = context.RequiredString("project");
        if (!ProjectName().IsMatch(project))
        {
            throw new TaskFailedException("Payload field 'project' must be lowercase letters, digits, '-' and '_', starting with a letter or digit.");
        }

        var yaml = context.RequiredString("compose");
        var compose = await cli() ?? throw new TaskFailedException("No compose CLI on this agent: neither 'docker compose' nor 'docker-compose' works.");
        var directory = Path.Combine(projectsRoot, project);
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "compose.yaml");
        await File.WriteAllTextAsync(file, yaml, context.Stopping);

        var environment = new Dictionary<string, string>(context.Map("env") ?? [], StringComparer.Ordinal);
        foreach (var (name, value) in compose.Environment)
        {
            environment[name] = value;
        }

        string[] verb = TaskType == "compose.up" ? ["up", "-d"] : ["down"];
        context.Log.Info($"{compose.FileName} {string.Join(' ', compose.Prefix)} -p {project} {string.Join(' ', verb)}".Replace("  ", " ", StringComparison.Ordinal));
        var exitCode = await ProcessRunner.RunAsync(compose.FileName, [.. compose.Prefix, "-p", project, "-f", file, .. verb], environment, directory, context);
        if (TaskType == "compose.down" && exitCode == 0)
        {
            Directory.Delete(directory, recursive: true);
        }

        return exitCode == 0
            ? ExecutionResult.Succeeded(new { project, exitCode })
            : new ExecutionResult(false, new { project, exitCode, error = $"compose exited with code {exitCode}." });
    }
}
