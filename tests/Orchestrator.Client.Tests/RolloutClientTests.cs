using System.Net;
using System.Net.Http.Json;
using Orchestrator.Contracts;
using Orchestrator.Testing;

namespace Orchestrator.Client.Tests;

public sealed class RolloutClientTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task An_operator_creates_a_rollout_follows_it_to_its_end_and_lists_its_tasks()
    {
        using var client = service.Operator();
        var fleet = SharedApps.Unique("fleet");
        var agents = new List<TestAgent>();
        for (var i = 0; i < 2; i++)
        {
            agents.Add(await service.App.RegisterAgentAsync($"{fleet}-{i}", labels: new() { ["fleet"] = fleet }));
        }

        var created = await client.Rollouts.CreateAsync(new CreateRolloutRequest("noop", "agent.noop", null, null, null, null,
            new TaskSelector(null, new() { ["fleet"] = fleet }), null, new RolloutStrategy(1, null, null, null, null, null), SharedApps.Unique("k")));
        var events = new List<RolloutEvent>();
        var following = Task.Run(async () =>
        {
            await foreach (var e in client.Rollouts.FollowAsync(created.RolloutId))
            {
                events.Add(e);
            }
        });
        foreach (var agent in agents)
        {
            var taskId = await TaskOfAsync(client, created.RolloutId, agent.Id);
            await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{taskId}");
            var completed = await agent.Client.PostAsJsonAsync($"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete", new { success = true });
            completed.EnsureSuccessStatusCode();
        }

        var done = await client.Rollouts.WaitAsync(created.RolloutId, TimeSpan.FromSeconds(30));
        await following.WaitAsync(TimeSpan.FromSeconds(30));
        var tasks = await client.Tasks.ListAllByRolloutAsync(created.RolloutId).ToListAsync();
        var refused = await Assert.ThrowsAsync<OrchestratorApiException>(() => client.Rollouts.PauseAsync(created.RolloutId));
        var listed = await client.Rollouts.ListAllAsync(RolloutStatus.Succeeded).FirstAsync(r => r.RolloutId == created.RolloutId);

        Assert.Equal((RolloutStatus.Succeeded, 2, 2), (done.Status, done.Counts.Succeeded, done.BatchCount));
        Assert.True(events[^1].IsFinal);
        Assert.Equal([1, 2], events.Where(e => e.Batch is not null).Select(e => e.Batch!.Batch));
        Assert.Equal(agents.Select(a => a.Id).Order(), tasks.Select(t => t.AgentId).Order());
        Assert.All(tasks, t => Assert.Equal(created.RolloutId, t.RolloutId));
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Empty(listed.Targets!);
    }

    /// <summary>The agent's task once its batch has started.</summary>
    private static async Task<Guid> TaskOfAsync(OrchestratorClient client, Guid rolloutId, Guid agentId)
    {
        Guid? taskId = null;
        await Poll.Until(async () =>
            (taskId = (await client.Rollouts.GetAsync(rolloutId)).Targets!.Single(t => t.AgentId == agentId).TaskId) is not null,
            $"the task of agent {agentId}");
        return taskId!.Value;
    }
}
