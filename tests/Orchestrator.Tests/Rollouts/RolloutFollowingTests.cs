using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Rollouts;
using Orchestrator.Testing;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Rollouts;

/// <summary><c>GET /api/v1/rollouts/{rolloutId}?wait=</c> and <c>/events</c>, woken by rollout change events.</summary>
public sealed class RolloutFollowingTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [SkippableTheory, BothProviders]
    public async Task A_wait_answers_as_soon_as_the_rollout_ends(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var fleet = await app.FleetAsync(2);
        var id = (await app.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector, strategy = new { batchSize = 2 } })).Id();
        var batch = await app.BatchStartedAsync(id, 1);

        var waiting = app.AdminClient().GetAsync($"/api/v1/rollouts/{id}?wait=60");
        await Poll.Until(() => app.Services.GetRequiredService<RolloutChanges>().Watching(id) == 1, "the wait to be held");
        await fleet[0].FinishAsync(batch.TaskOf(fleet[0]), success: true);
        var stillWaiting = !waiting.IsCompleted;
        await fleet[1].FinishAsync(batch.TaskOf(fleet[1]), success: true);
        var answer = await (await waiting.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);

        Assert.True(stillWaiting);
        Assert.Equal("succeeded", answer.GetProperty("status").GetString());
        Assert.Equal(2, answer.Count("succeeded"));
    }

    [Theory]
    [InlineData("61")]
    [InlineData("-1")]
    [InlineData("soon")]
    public async Task A_wait_outside_0_to_60_whole_seconds_is_a_400_naming_wait(string wait)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var fleet = await app.FleetAsync(1);
        var id = (await app.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector })).Id();

        var problem = await (await app.AdminClient().GetAsync($"/api/v1/rollouts/{id}?wait={wait}")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty("wait", out _));
    }

    [SkippableTheory, BothProviders]
    public async Task The_event_stream_tells_the_whole_rollout_in_order_and_resumes_after_any_event(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var fleet = await app.FleetAsync(3);
        var id = (await app.CreateRolloutAsync(new
        {
            taskType = "agent.noop", selector = fleet.Selector, strategy = new { batchSize = 2, maxFailures = 1 },
        })).Id();
        await using var stream = await EventStream.OpenAsync(app.AdminClient(), $"/api/v1/rollouts/{id}/events");

        Assert.Equal("status:pending", Describe(await stream.NextAsync()));
        Assert.Equal("status:running", Describe(await stream.NextAsync()));
        Assert.Equal("batch:1", Describe(await stream.NextAsync()));
        var created = new[] { await stream.NextAsync(), await stream.NextAsync() };
        Assert.All(created, e => Assert.Equal("target:pending", Describe(e)));
        var first = created.Select(e => Data(e).GetProperty("taskId").GetGuid()).ToList();
        await fleet[0].FinishAsync(first[0], success: true);
        Assert.Equal($"target:succeeded:{fleet[0].Name}", Describe(await stream.NextAsync(), withAgent: true));
        await fleet[1].FinishAsync(first[1], success: false);
        Assert.Equal($"target:failed:{fleet[1].Name}", Describe(await stream.NextAsync(), withAgent: true));
        Assert.Equal("status:running", Describe(await stream.NextAsync()));
        Assert.Equal("batch:2", Describe(await stream.NextAsync()));
        var third = await stream.NextAsync();
        Assert.Equal($"target:pending:{fleet[2].Name}", Describe(third, withAgent: true));
        await fleet[2].FinishAsync(Data(third).GetProperty("taskId").GetGuid(), success: true);
        var rest = await stream.ReadToEndAsync();

        Assert.Equal(["target:succeeded", "status:succeeded"], rest.TakeLast(2).Select(e => Describe(e)));
        Assert.Equal(3, Data(rest[^1]).GetProperty("counts").GetProperty("total").GetInt32());
        var all = stream.Received;
        Assert.Equal(all.Select(e => long.Parse(e.EventId!)).Order(), all.Select(e => long.Parse(e.EventId!)));
        await using var resumed = await EventStream.OpenAsync(app.AdminClient(), $"/api/v1/rollouts/{id}/events", all[4].EventId);
        Assert.Equal(all.Skip(5).Select(e => e.EventId), (await resumed.ReadToEndAsync()).Select(e => e.EventId));
        var afterEnd = await app.AdminClient().SendAsync(EventStream.Request($"/api/v1/rollouts/{id}/events", all[^1].EventId));
        Assert.Equal(HttpStatusCode.NoContent, afterEnd.StatusCode);
    }

    private static JsonElement Data(SseItem<string> item) => JsonDocument.Parse(item.Data).RootElement;

    private static string Describe(SseItem<string> item, bool withAgent = false) => item.EventType switch
    {
        "status" => $"status:{Data(item).GetProperty("status").GetString()}",
        "batch" => $"batch:{Data(item).GetProperty("batch").GetInt32()}",
        "target" => $"target:{Data(item).GetProperty("status").GetString()}" +
            (withAgent ? $":{Data(item).GetProperty("agentName").GetString()}" : ""),
        _ => item.EventType,
    };
}
