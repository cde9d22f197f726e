using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Housekeeping;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Rollouts;

public sealed class RolloutRetentionTests
{
    [SkippableFact]
    public async Task An_ended_rollout_goes_with_its_tasks_after_their_retention_and_a_live_one_stays()
    {
        var clock = TaskKit.Clock();
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, clock);
        var ended = (await app.CreateRolloutAsync(new { taskType = "agent.noop", agentIds = new[] { await app.SeedAgentAsync() } })).Id();
        await app.ControlAsync(ended, "cancel");
        await app.StatusIsAsync(ended, "cancelled");
        var live = (await app.CreateRolloutAsync(new { taskType = "agent.noop", agentIds = new[] { await app.SeedAgentAsync() } })).Id();

        // The service's own sweep may run as the clock moves; this one makes sure one ran after it moved.
        clock.Advance(TimeSpan.FromDays(31));
        await app.Services.GetRequiredService<Retention>().SweepAsync(CancellationToken.None);

        await (await app.AdminClient().GetAsync($"/api/v1/rollouts/{ended}")).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await app.AdminClient().GetAsync($"/api/v1/rollouts/{live}")).ShouldBe(HttpStatusCode.OK);
        Assert.Empty(await app.BatchesStartedAsync(ended));
    }
}
