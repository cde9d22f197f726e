using Orchestrator.Agent.Tests.Support;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>One service and one agent for the class (SQLite); each test makes its own tasks.</summary>
public sealed class AgentFixture : IAsyncLifetime
{
    public AgentWorld World { get; private set; } = null!;
    public RunningAgent Agent { get; private set; } = null!;
    public Guid AgentId { get; private set; }
    public const string Secret = "hunter2-Sup3r";

    public async Task InitializeAsync()
    {
        World = await AgentWorld.StartAsync(DatabaseProvider.Sqlite);
        Agent = RunningAgent.Start(World.Settings(TempDirectories.New(), await World.TokenFileAsync(), s => s with { AllowShell = true, MaxTasks = 2 }));
        AgentId = await Agent.StartedAsync();
    }

    public async Task DisposeAsync()
    {
        await Agent.DisposeAsync();
        await World.DisposeAsync();
    }
}

public sealed class TaskExecutionTests(AgentFixture fixture) : IClassFixture<AgentFixture>
{
    private AgentWorld World => fixture.World;

    [Fact]
    public async Task Shell_output_reaches_the_task_log_with_credential_values_redacted_and_never_in_the_agent_log()
    {
        var task = await World.CreateTaskAsync(fixture.AgentId, "shell.run",
            new { command = new[] { "sh", "-c", "echo \"logging in with $PASSWORD\"; echo done >&2" }, env = new { PASSWORD = AgentFixture.Secret } },
            new Dictionary<string, string> { ["registry.password"] = AgentFixture.Secret });

        var ended = await World.EndedAsync(task.TaskId);

        Assert.Equal(AgentTaskStatus.Succeeded, ended.Status);
        Assert.True(ended.Logs!.Any(l => l.Message == "logging in with ***"), string.Join(" / ", ended.Logs!.Select(l => $"{l.Level}:{l.Message}")));
        Assert.Contains(ended.Logs!, l => l.Message == "done" && l.Level == "error");
        Assert.Equal(0, ended.Result!.Value.GetProperty("exitCode").GetInt32());
        Assert.DoesNotContain(fixture.Agent.Logs.Lines, l => l.Contains(AgentFixture.Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_command_fails_the_task_with_its_exit_code()
    {
        var task = await World.CreateTaskAsync(fixture.AgentId, "shell.run", new { command = new[] { "sh", "-c", "echo oops; exit 3" } });

        var ended = await World.EndedAsync(task.TaskId);

        Assert.Equal(AgentTaskStatus.Failed, ended.Status);
        Assert.Equal(3, ended.Result!.Value.GetProperty("exitCode").GetInt32());
        Assert.Equal("'sh' exited with code 3.", ended.StatusReason);
    }

    [Fact]
    public async Task The_agent_reports_the_task_types_its_executors_run_so_the_service_refuses_any_other()
    {
        var details = await World.Operators.Agents.GetAsync(fixture.AgentId);
        var refused = await Assert.ThrowsAsync<OrchestratorApiException>(() => World.CreateTaskAsync(fixture.AgentId, "docker.runn", new { image = "web" }));

        Assert.Equal(["agent.noop", "compose.down", "compose.up", "docker.pull", "docker.run", "docker.stop", "shell.run"], details.TaskTypes!);
        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Contains("'docker.runn'", refused.Errors["taskType"][0]);
    }

    [Fact]
    public async Task A_task_over_its_timeout_is_stopped_and_reported_failed_with_the_reason()
    {
        var task = await World.CreateTaskAsync(fixture.AgentId, "shell.run", new { command = new[] { "sleep", "30" } }, timeout: 1);

        var ended = await World.EndedAsync(task.TaskId, TimeSpan.FromSeconds(15));

        Assert.True(ended.Status is AgentTaskStatus.Failed or AgentTaskStatus.TimedOut, $"status {ended.Status}");
        // Measured from delivery, where the service's timeout counts from: under load the service can end the task
        // before the agent reports it running, and then it has no start time (the bound held against a missing one
        // failed once in CI; from delivery it is no looser, as delivery comes first).
        Assert.NotNull(ended.AssignedAt);
        Assert.True(ended.CompletedAt - ended.AssignedAt < TimeSpan.FromSeconds(10),
            $"status {ended.Status}, assigned {ended.AssignedAt:HH:mm:ss.fff}, started {ended.StartedAt:HH:mm:ss.fff}, " +
            $"completed {ended.CompletedAt:HH:mm:ss.fff}: {ended.StatusReason}");
    }

    [Fact]
    public async Task Never_more_than_max_tasks_run_at_once()
    {
        var directory = TempDirectories.New();
        // Each task records itself running, waits, and records the highest concurrency it saw.
        var script = $"d={directory}; touch $d/$$; n=$(ls $d | grep -vc max); echo $n >> $d/max; sleep 0.5; rm $d/$$";
        var tasks = new List<TaskResponse>();
        for (var i = 0; i < 5; i++)
        {
            tasks.Add(await World.CreateTaskAsync(fixture.AgentId, "shell.run", new { command = new[] { "sh", "-c", script } }));
        }

        foreach (var task in tasks)
        {
            Assert.Equal(AgentTaskStatus.Succeeded, (await World.EndedAsync(task.TaskId)).Status);
        }

        var seen = (await File.ReadAllLinesAsync(Path.Combine(directory, "max"))).Select(int.Parse).ToList();
        Assert.Equal(5, seen.Count);
        Assert.True(seen.Max() <= 2, $"saw {seen.Max()} at once");
    }
}
