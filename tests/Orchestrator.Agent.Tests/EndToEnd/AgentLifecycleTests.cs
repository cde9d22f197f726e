using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Agent.Simulation;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>The real agent against the real service over TLS, on SQLite and PostgreSQL: one service per provider for
/// the class; each test runs agents of its own.</summary>
public sealed class AgentLifecycleTests(SharedAgentApps apps) : IClassFixture<SharedAgentApps>
{
    [SkippableTheory, BothProviders]
    public async Task An_agent_registers_runs_a_task_and_after_a_restart_reuses_its_identity_without_a_token(DatabaseProvider provider)
    {
        var world = await apps.WorldFor(provider);
        var state = TempDirectories.New();
        var settings = world.Settings(state, await world.TokenFileAsync(), s => s with { Labels = new Dictionary<string, string> { ["zone"] = "eu-1" } });

        Guid firstId;
        await using (var agent = RunningAgent.Start(settings))
        {
            firstId = await agent.StartedAsync();
            var task = await world.CreateTaskAsync(firstId, "agent.noop");
            var done = await world.EndedAsync(task.TaskId, agent: agent);
            Assert.Equal(AgentTaskStatus.Succeeded, done.Status);
            Assert.Equal(ExitCodes.Ok, await agent.StopAsync());
        }

        // The same state directory, no token at all: the identity on disk is enough.
        await using var restarted = RunningAgent.Start(settings with { Token = null });
        var secondId = await restarted.StartedAsync();
        var again = await world.CreateTaskAsync(secondId, "agent.noop");

        Assert.Equal(firstId, secondId);
        Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(again.TaskId, agent: restarted)).Status);
        var details = await world.Operators.Agents.GetAsync(secondId);
        Assert.Equal("eu-1", details.Labels["zone"]);
        Assert.Equal(settings.Name, details.Name);
        Assert.Equal(AgentStatus.Online, details.Status);
    }

    [SkippableTheory, BothProviders]
    public async Task A_refused_registration_ends_the_agent_non_zero_saying_why(DatabaseProvider provider)
    {
        var world = await apps.WorldFor(provider);
        var used = await world.TokenFileAsync(maxUses: 1);
        await using (var first = RunningAgent.Start(world.Settings(TempDirectories.New(), used)))
        {
            await first.StartedAsync();
        }

        // The token is used up: the server refuses a second registration with it.
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), used));
        var exitCode = await agent.Exit.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ExitCodes.CannotStart, exitCode);
        Assert.Contains(agent.Logs.Lines, l => l.StartsWith("Critical: Registration as ", StringComparison.Ordinal) &&
                                               l.Contains("was refused", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Registering_a_name_another_running_agent_holds_ends_at_once_with_the_servers_reason()
    {
        var world = await apps.WorldFor(DatabaseProvider.Sqlite);
        var holder = world.Settings(TempDirectories.New(), await world.TokenFileAsync());
        await using var running = RunningAgent.Start(holder);
        await running.StartedAsync();

        // Another state directory, a good token, the same name: a conflict that waiting cannot resolve (no Retry-After).
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { Name = holder.Name }));
        var exitCode = await agent.Exit.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ExitCodes.CannotStart, exitCode);
        Assert.Contains(agent.Logs.Lines, l => l.Contains($"An agent named '{holder.Name}' is already registered.", StringComparison.Ordinal));
        Assert.DoesNotContain(agent.Logs.Lines, l => l.Contains("must wait", StringComparison.Ordinal) || l.Contains("waiting", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Without_allow_shell_the_agent_does_not_offer_shell_run_and_the_service_refuses_shell_tasks()
    {
        var world = await apps.WorldFor(DatabaseProvider.Sqlite);
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync()));
        var id = await agent.StartedAsync();
        var marker = Path.Combine(TempDirectories.New(), "ran");

        var refused = await Assert.ThrowsAsync<OrchestratorApiException>(() =>
            world.CreateTaskAsync(id, "shell.run", new { command = new[] { "touch", marker } }));

        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.DoesNotContain("shell.run", (await world.Operators.Agents.GetAsync(id)).TaskTypes!);
        Assert.Empty((await world.Operators.Tasks.ListAsync(agentId: id)).Items);
        Assert.False(File.Exists(marker), "The shell command ran on an agent started without --allow-shell.");
    }

    [SkippableTheory, BothProviders]
    public async Task A_task_cancelled_while_it_runs_is_stopped_and_ends_cancelled(DatabaseProvider provider)
    {
        var world = await apps.WorldFor(provider);
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { AllowShell = true }));
        var id = await agent.StartedAsync();
        var marker = Path.Combine(TempDirectories.New(), "trapped");
        // The program gets SIGTERM first and may clean up: the trap writes a file, proving the graceful step ran.
        var task = await world.CreateTaskAsync(id, "shell.run", new
        {
            command = new[] { "sh", "-c", $"trap 'echo stopping; touch {marker}; exit 143' TERM; echo started; while true; do sleep 0.1; done" },
        });
        await world.StatusAsync(task.TaskId, AgentTaskStatus.Running);
        // "running" is reported as the agent starts the process, before the shell has set its trap (a cancel that
        // quick once killed sh before the trap existed, in CI): its first line says the trap is there.
        await Poll.Until(async () => (await world.Operators.Tasks.GetAsync(task.TaskId)).Logs?.Any(l => l.Message == "started") == true,
            "the task's first line", TimeSpan.FromSeconds(15));

        await world.Operators.Tasks.CancelAsync(task.TaskId);
        var ended = await world.EndedAsync(task.TaskId, TimeSpan.FromSeconds(15));

        Assert.Equal(AgentTaskStatus.Cancelled, ended.Status);
        Assert.True(File.Exists(marker), "The task's process did not get SIGTERM before being killed.");
        Assert.Contains(ended.Logs!, l => l.Message == "started");
    }

    [SkippableTheory, BothProviders]
    public async Task Sigterm_lets_a_running_task_finish_reports_it_and_exits_zero(DatabaseProvider provider)
    {
        var world = await apps.WorldFor(provider);
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { AllowShell = true }));
        var id = await agent.StartedAsync();
        // The task ends only once the test lets it, after the agent has been told to stop: a task timed to end on its
        // own (sleep 1) was once over before the test saw it running, in CI.
        var go = Path.Combine(TempDirectories.New(), "go");
        var task = await world.CreateTaskAsync(id, "shell.run", new
        {
            command = new[] { "sh", "-c", $"echo begin; until [ -e '{go}' ]; do sleep 0.05; done; echo end" },
        });
        await world.StatusAsync(task.TaskId, AgentTaskStatus.Running);

        var stopping = agent.StopAsync();
        await File.WriteAllTextAsync(go, "");
        var exitCode = await stopping;
        var ended = await world.Operators.Tasks.GetAsync(task.TaskId);

        Assert.Equal(ExitCodes.Ok, exitCode);
        Assert.Equal(AgentTaskStatus.Succeeded, ended.Status);
        Assert.Contains(ended.Logs!, l => l.Message == "end");
    }

    [SkippableFact]
    public async Task Simulated_agents_register_with_one_token_complete_their_tasks_and_stop_with_exit_code_0()
    {
        var world = await apps.WorldFor(DatabaseProvider.Sqlite);
        var prefix = $"sim-{Guid.NewGuid():N}"[..12];
        var token = (await File.ReadAllTextAsync(await world.TokenFileAsync(maxUses: 3))).Trim();
        using var stop = new CancellationTokenSource();
        var simulator = new FleetSimulator(world.App.BaseAddress, ServerTrust.FromFile(world.CaFile), token, 3, prefix, NullLogger.Instance);
        var run = Task.Run(() => simulator.RunAsync(stop.Token));

        var agents = new List<AgentSummary>();
        await Poll.Until(async () =>
        {
            agents = [.. (await world.Operators.Agents.ListAsync(limit: 1000)).Items.Where(a => a.Name.StartsWith(prefix, StringComparison.Ordinal))];
            return agents.Count == 3 || run.IsCompleted;
        }, "three simulated agents to register", TimeSpan.FromSeconds(60));
        var tasks = new List<TaskResponse>();
        foreach (var agent in agents)
        {
            tasks.Add(await world.CreateTaskAsync(agent.Id, "agent.noop"));
        }

        foreach (var task in tasks)
        {
            Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(task.TaskId)).Status);
        }

        // The service records a completion before the simulator hears its answer and counts it: wait for the count, so
        // stopping does not cancel the last answer in flight.
        await Poll.Until(() => simulator.Completed >= 3, $"the simulator to count 3 completions (it has {simulator.Completed})");
        await stop.CancelAsync();
        Assert.Equal(ExitCodes.Ok, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(3, agents.Count);
    }
}
