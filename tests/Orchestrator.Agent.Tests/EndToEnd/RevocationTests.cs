using Orchestrator.Agent.Tests.Support;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>Deleting an agent on the server ends it: on a service of its own, with a heartbeat interval long enough to
/// measure "within two intervals" against on a loaded machine.</summary>
public sealed class RevocationTests
{
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
}
