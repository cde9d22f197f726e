using Orchestrator.Agent.Identity;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>The real agent against the real service over TLS, on SQLite and PostgreSQL.</summary>
public sealed class AgentLifecycleTests
{
    [SkippableTheory, BothProviders]
    public async Task An_agent_registers_runs_a_task_and_after_a_restart_reuses_its_identity_without_a_token(DatabaseProvider provider)
    {
        await using var world = await AgentWorld.StartAsync(provider);
        var state = TempDirectories.New();
        var settings = world.Settings(state, await world.TokenFileAsync(), s => s with { Labels = new Dictionary<string, string> { ["zone"] = "eu-1" } });

        Guid firstId;
        await using (var agent = RunningAgent.Start(settings))
        {
            firstId = await agent.StartedAsync();
            var task = await world.CreateTaskAsync(firstId, "agent.noop");
            var done = await world.EndedAsync(task.TaskId);
            Assert.Equal(AgentTaskStatus.Succeeded, done.Status);
            Assert.Equal(ExitCodes.Ok, await agent.StopAsync());
        }

        // The same state directory, no token at all: the identity on disk is enough.
        await using var restarted = RunningAgent.Start(settings with { Token = null });
        var secondId = await restarted.StartedAsync();
        var again = await world.CreateTaskAsync(secondId, "agent.noop");

        Assert.Equal(firstId, secondId);
        Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(again.TaskId)).Status);
        var details = await world.Operators.Agents.GetAsync(secondId);
        Assert.Equal("eu-1", details.Labels["zone"]);
        Assert.Equal(settings.Name, details.Name);
        Assert.Equal(AgentStatus.Online, details.Status);
    }

    [SkippableTheory, BothProviders]
    public async Task Deleting_the_agent_on_the_server_makes_it_stop_and_exit_non_zero_within_two_heartbeat_intervals(DatabaseProvider provider)
    {
        // Intervals long enough that a loaded test machine cannot blur "within two intervals".
        var interval = TimeSpan.FromSeconds(4);
        await using var world = await AgentWorld.StartAsync(provider, new Dictionary<string, string?>
        {
            ["Orchestrator:Agents:HeartbeatInterval"] = interval.ToString(),
        });
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { AllowShell = true }));
        var id = await agent.StartedAsync();
        var running = await world.CreateTaskAsync(id, "shell.run", new { command = new[] { "sleep", "60" } });
        await world.StatusAsync(running.TaskId, AgentTaskStatus.Running);

        var deletedAt = DateTime.UtcNow;
        await world.Operators.Agents.DeleteAsync(id);
        var exitCode = await agent.Exit.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(ExitCodes.Revoked, exitCode);
        Assert.InRange(DateTime.UtcNow - deletedAt, TimeSpan.Zero, 2 * interval);
        Assert.Contains(agent.Logs.Lines, l => l.Contains("deleted or its certificate revoked", StringComparison.Ordinal));
    }

    [SkippableTheory, BothProviders]
    public async Task A_task_cancelled_while_it_runs_is_stopped_and_ends_cancelled(DatabaseProvider provider)
    {
        await using var world = await AgentWorld.StartAsync(provider);
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { AllowShell = true }));
        var id = await agent.StartedAsync();
        var marker = Path.Combine(TempDirectories.New(), "trapped");
        // The program gets SIGTERM first and may clean up: the trap writes a file, proving the graceful step ran.
        var task = await world.CreateTaskAsync(id, "shell.run", new
        {
            command = new[] { "sh", "-c", $"trap 'echo stopping; touch {marker}; exit 143' TERM; echo started; while true; do sleep 0.1; done" },
        });
        await world.StatusAsync(task.TaskId, AgentTaskStatus.Running);

        await world.Operators.Tasks.CancelAsync(task.TaskId);
        var ended = await world.EndedAsync(task.TaskId, TimeSpan.FromSeconds(15));

        Assert.Equal(AgentTaskStatus.Cancelled, ended.Status);
        Assert.True(File.Exists(marker), "The task's process did not get SIGTERM before being killed.");
        Assert.Contains(ended.Logs!, l => l.Message == "started");
    }

    [SkippableTheory, BothProviders]
    public async Task The_service_restarting_under_a_running_task_loses_nothing(DatabaseProvider provider)
    {
        await using var world = await AgentWorld.StartAsync(provider);
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { AllowShell = true }));
        var id = await agent.StartedAsync();
        var release = Path.Combine(TempDirectories.New(), "go");
        var task = await world.CreateTaskAsync(id, "shell.run", new
        {
            command = new[] { "sh", "-c", $"echo waiting; while [ ! -e {release} ]; do sleep 0.05; done; echo released" },
        });
        await world.StatusAsync(task.TaskId, AgentTaskStatus.Running);

        await world.RestartServiceAsync();
        await File.WriteAllTextAsync(release, "");
        var ended = await world.EndedAsync(task.TaskId);
        var after = await world.CreateTaskAsync(id, "agent.noop");

        Assert.Equal(AgentTaskStatus.Succeeded, ended.Status);
        Assert.Contains(ended.Logs!, l => l.Message == "released");
        Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(after.TaskId)).Status);
        Assert.False(agent.Exit.IsCompleted);
    }

    [SkippableTheory, BothProviders]
    public async Task Renewal_with_short_lifetimes_rotates_the_key_and_no_task_fails_because_of_it(DatabaseProvider provider)
    {
        await using var world = await AgentWorld.StartAsync(provider, new Dictionary<string, string?>
        {
            ["Orchestrator:Certificates:Lifetime"] = "00:00:06",
            ["Orchestrator:Certificates:RenewBefore"] = "00:00:02",
        });
        var state = TempDirectories.New();
        await using var agent = RunningAgent.Start(world.Settings(state, await world.TokenFileAsync()));
        var id = await agent.StartedAsync();
        var credentials = new CredentialStore(new StateDirectory(state));
        var keyFiles = new HashSet<string> { credentials.Load()!.KeyFile };

        // Tasks keep flowing across at least two renewals (each after 2/3 of a 6 s life).
        var tasks = new List<Guid>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(25);
        while (keyFiles.Count < 3)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Only {keyFiles.Count - 1} renewals happened:\n{agent.Logs}");
            var task = await world.CreateTaskAsync(id, "agent.noop");
            tasks.Add(task.TaskId);
            Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(task.TaskId)).Status);
            keyFiles.Add(credentials.Load()!.KeyFile);
        }

        Assert.False(agent.Exit.IsCompleted, $"The agent ended:\n{agent.Logs}");
        Assert.Equal(ExitCodes.Ok, await agent.StopAsync());
        var identity = credentials.Load()!;
        Assert.Equal([identity.KeyFile], Directory.GetFiles(state, "agent-key-*.pem").Select(Path.GetFileName));
        Assert.True(identity.ExpiresAt > DateTime.UtcNow);
        Assert.DoesNotContain(agent.Logs.Lines, l => l.StartsWith("Warning: Heartbeat failed", StringComparison.Ordinal));
    }

    [SkippableTheory, BothProviders]
    public async Task Sigterm_lets_a_running_task_finish_reports_it_and_exits_zero(DatabaseProvider provider)
    {
        await using var world = await AgentWorld.StartAsync(provider);
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { AllowShell = true }));
        var id = await agent.StartedAsync();
        var task = await world.CreateTaskAsync(id, "shell.run", new { command = new[] { "sh", "-c", "echo begin; sleep 1; echo end" } });
        await world.StatusAsync(task.TaskId, AgentTaskStatus.Running);

        var exitCode = await agent.StopAsync();
        var ended = await world.Operators.Tasks.GetAsync(task.TaskId);

        Assert.Equal(ExitCodes.Ok, exitCode);
        Assert.Equal(AgentTaskStatus.Succeeded, ended.Status);
        Assert.Contains(ended.Logs!, l => l.Message == "end");
    }
}
