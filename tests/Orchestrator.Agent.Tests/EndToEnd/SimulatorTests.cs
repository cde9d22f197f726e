using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Agent.Simulation;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary><c>orchestrator-agent simulate</c>: N noop agents in one process, on the class's shared service.</summary>
public sealed class SimulatorTests(SharedAgentApps apps) : IClassFixture<SharedAgentApps>
{
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
        await Testing.Poll.Until(async () =>
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

        await stop.CancelAsync();
        Assert.Equal(ExitCodes.Ok, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(3, agents.Count);
        Assert.True(simulator.Completed >= 3, $"the simulator counted {simulator.Completed} completions");
    }
}
