using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using TaskChanges = Orchestrator.Tasks.TaskChanges;
using Orchestrator.Testing;

namespace Orchestrator.Cli.Tests;

/// <summary>What the command prints: wide tables, the wait's display at a terminal (and silence in CI logs), and
/// never the caller's key.</summary>
public sealed class OutputTests(CliFixture service) : IClassFixture<CliFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Wide_output_adds_columns_to_the_table()
    {
        using var agent = await service.AgentAsync();
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(),
            "--priority", "7", "--timeout", "42", "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetString()!;

        var table = (await service.RunAsync("tasks", "get", taskId)).Ok().Out.Split('\n');
        var wide = (await service.RunAsync("tasks", "get", taskId, "-o", "wide")).Ok().Out.Split('\n');

        // People read agents by name; the id is one column further in the wide table.
        using var operators = service.Operator();
        var name = (await operators.Agents.GetAsync(agent.Credentials.AgentId)).Name;
        Assert.Equal(["ID", "TYPE", "AGENT", "STATUS", "PROGRESS", "AGE"], Words(table[0]));
        Assert.Equal(["ID", "TYPE", "AGENT", "STATUS", "PROGRESS", "AGE", "PRIORITY", "TIMEOUT", "STARTED", "COMPLETED", "AGENT", "ID", "REASON"],
            Words(wide[0]));
        Assert.Equal([taskId, "agent.noop", name, "pending", "-"], Words(table[1])[..5]);
        Assert.Equal(["7", "42s", "-", "-", agent.Credentials.AgentId.ToString(), "-"], Words(wide[1])[6..]);
    }

    [Fact]
    public async Task Agent_get_shows_each_missing_capability_with_its_reason_and_json_holds_them()
    {
        const string Reason = "no Docker Engine answered at unix:///run/none.sock (from DOCKER_HOST): Connection refused";
        using var agent = await service.AgentAsync(["ssh"], missingCapabilities: new() { ["docker"] = Reason, ["compose"] = "needs the engine" });
        using var complete = await service.AgentAsync(["docker"]);

        var table = (await service.RunAsync("agents", "get", agent.Credentials!.AgentId.ToString())).Ok().Out.Split('\n');
        var json = (await service.RunAsync("agents", "get", agent.Credentials.AgentId.ToString(), "-o", "json")).Ok().Json;
        var none = (await service.RunAsync("agents", "get", complete.Credentials!.AgentId.ToString())).Ok().Out;

        var header = Array.FindIndex(table, l => l.StartsWith("MISSING CAPABILITY", StringComparison.Ordinal));
        Assert.True(header > 1, string.Join('\n', table));
        Assert.Equal(["MISSING", "CAPABILITY", "REASON"], Words(table[header]));
        Assert.Equal(["compose", "needs", "the", "engine"], Words(table[header + 1]));
        Assert.StartsWith("docker ", table[header + 2], StringComparison.Ordinal);
        Assert.EndsWith(Reason, table[header + 2], StringComparison.Ordinal);
        Assert.Equal(table[header].IndexOf("REASON", StringComparison.Ordinal), table[header + 2].IndexOf(Reason, StringComparison.Ordinal));
        Assert.Equal(Reason, json.GetProperty("missingCapabilities").GetProperty("docker").GetString());
        Assert.DoesNotContain("MISSING", none, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wide_agent_list_shows_each_agents_labels()
    {
        var team = Guid.NewGuid().ToString("N");
        using var agent = await service.AgentAsync(["docker"], new() { ["team"] = team });

        var table = (await service.RunAsync("agents", "ls", "--label", $"team={team}")).Ok().Out.Split('\n');
        var wide = (await service.RunAsync("agents", "ls", "--label", $"team={team}", "-o", "wide")).Ok().Out.Split('\n');

        Assert.DoesNotContain("LABELS", Words(table[0]));
        Assert.Equal("LABELS", Words(wide[0])[^1]);
        Assert.Equal($"team={team}", Words(wide[1])[^1]);
    }

    [Fact]
    public async Task At_a_terminal_a_wait_shows_what_it_waits_for_on_stderr_and_erases_it_at_the_end()
    {
        using var agent = await service.AgentAsync();
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetGuid();
        var error = new LiveText();

        var run = service.RunAtTerminalAsync(error, "tasks", "wait", taskId.ToString());
        await Poll.Until(() => error.ToString().Contains($"Waiting for task {taskId} (agent.noop): pending", StringComparison.Ordinal),
            "the wait to show what it waits for");
        await agent.FetchTaskAsync(taskId);
        await agent.CompleteTaskAsync(taskId, new CompleteTaskRequest(true, null, null));
        var result = await run.WaitAsync(Bound);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.StartsWith("ID ", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("Waiting", result.Out, StringComparison.Ordinal);
        // Each redraw starts with a carriage return; the last one blanks the line and leaves the cursor at its start.
        Assert.StartsWith("\r", result.Error, StringComparison.Ordinal);
        Assert.EndsWith("\r", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Error[(result.Error.LastIndexOf('\r', result.Error.Length - 2) + 1)..].Trim());
    }

    [Fact]
    public async Task Without_a_terminal_a_wait_prints_only_the_task()
    {
        using var agent = await service.AgentAsync();
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetGuid();

        var run = service.RunAsync("tasks", "wait", taskId.ToString());
        await Poll.Until(() => service.App.Services.GetRequiredService<TaskChanges>().Watching(taskId) > 0, "the wait to be held");
        await agent.FetchTaskAsync(taskId);
        await agent.CompleteTaskAsync(taskId, new CompleteTaskRequest(true, null, null));
        var result = await run.WaitAsync(Bound);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Empty(result.Error);
        Assert.Equal(2, result.Out.TrimEnd().Split('\n').Length);
    }

    [Fact]
    public async Task The_callers_key_never_appears_in_output_or_errors()
    {
        using var agent = await service.AgentAsync();
        var agentId = agent.Credentials!.AgentId.ToString();
        var fromEnvironment = new Dictionary<string, string>
        {
            ["ORCHESTRATOR_URL"] = service.App.BaseAddress.ToString(),
            ["ORCHESTRATOR_API_KEY"] = TestApp.AdminKey,
            ["ORCHESTRATOR_CA_FILE"] = service.CaFile,
        };
        var unreachable = new Dictionary<string, string>(fromEnvironment) { ["ORCHESTRATOR_URL"] = "https://127.0.0.1:1" };
        var untrusted = new Dictionary<string, string>(fromEnvironment);
        untrusted.Remove("ORCHESTRATOR_CA_FILE");

        (CliResult Result, int Expected)[] runs =
        [
            (await service.RunAsync("agents", "get", agentId, "-o", "wide"), ExitCodes.Ok),
            (await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agentId, "--wait", "--wait-timeout", "0", "-o", "json"),
                ExitCodes.WaitTimedOut),
            (await service.RunAsync("tasks", "get", Guid.NewGuid().ToString()), ExitCodes.Refused),
            (await service.RunAsync("tasks", "create", "--type", "bad type!", "--agent", agentId), ExitCodes.Refused),
            (await service.RunAsync("api-keys", "ls", "-o", "json"), ExitCodes.Ok),
            (await service.RunAsync("audit", "ls", "--limit", "50", "-o", "wide"), ExitCodes.Ok),
            (await CliFixture.RunWithAsync(fromEnvironment, null, ["tasks", "ls", "--no-such-flag"]), ExitCodes.Usage),
            (await CliFixture.RunWithAsync(unreachable, null, ["agents", "ls"]), ExitCodes.Unavailable),
            (await CliFixture.RunWithAsync(untrusted, null, ["agents", "ls"]), ExitCodes.Unavailable),
        ];

        Assert.All(runs, run =>
        {
            Assert.Equal(run.Expected, run.Result.ExitCode);
            Assert.DoesNotContain(TestApp.AdminKey, run.Result.Out, StringComparison.Ordinal);
            Assert.DoesNotContain(TestApp.AdminKey, run.Result.Error, StringComparison.Ordinal);
        });
    }

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
