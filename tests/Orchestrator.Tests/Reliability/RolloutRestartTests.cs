using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Rollouts;

namespace Orchestrator.Tests.Reliability;

/// <summary>A rollout on SQLite goes on across a restart of the service, even one in the middle of starting a batch.</summary>
public sealed class RolloutRestartTests
{
    [SkippableFact]
    public async Task A_restart_in_the_middle_of_starting_a_batch_starts_it_once_and_the_rollout_goes_on()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        // Holds the statement that stores the second batch's tasks, so the service stops while that batch is half started.
        var gate = new StatementGate(sql => sql.Contains("INSERT INTO \"Tasks\"", StringComparison.Ordinal), int.MaxValue, TimeSpan.FromMinutes(5));
        RolloutKit.Fleet fleet;
        Guid id;
        await using (var first = TestApp.StartOn(storage, services: s => s.AddSingleton<IInterceptor>(gate)))
        {
            fleet = await first.FleetAsync(4);
            id = (await first.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector, strategy = new { batchSize = 2 } })).Id();
            var batch = await first.BatchStartedAsync(id, 1);
            await fleet[0].FinishAsync(batch.TaskOf(fleet[0]), success: true);
            gate.Arm();
            await fleet[1].FinishAsync(batch.TaskOf(fleet[1]), success: true);
            await Poll.Until(() => gate.Arrived > 0, "the second batch's tasks being stored");
        }

        await using var second = TestApp.StartOn(storage);
        var agents = fleet.Agents.Select(a => a.On(second)).ToList();
        var rest = await second.BatchStartedAsync(id, 2);
        await agents[2].FinishAsync(rest.TaskOf(agents[2]), success: true);
        await agents[3].FinishAsync(rest.TaskOf(agents[3]), success: true);
        var done = await second.StatusIsAsync(id, "succeeded");

        Assert.Equal(4, done.Count("succeeded"));
        var tasks = await second.TasksOfAsync(id);
        Assert.Equal(fleet.Agents.Select(a => a.Id).Order(), tasks.Select(t => t.GetProperty("agentId").GetGuid()).Order());
        Assert.Equal([1, 2], await second.BatchesStartedAsync(id));
    }
}
