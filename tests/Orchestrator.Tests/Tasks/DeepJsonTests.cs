using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Streams;

namespace Orchestrator.Tests.Tasks;

/// <summary>Open JSON values (task payload and result, target properties) are limited in depth on the way in, well
/// below what any answer that wraps them needs; and a task that cannot be written never breaks the delivery of the
/// tasks handed out with it.</summary>
public sealed class DeepJsonTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private const int Limit = 32;

    /// <summary>A JSON object nested <paramref name="depth"/> levels deep.</summary>
    private static string Nested(int depth) => string.Concat(Enumerable.Repeat("{\"a\":", depth - 1)) + "{}" + new string('}', depth - 1);

    [SkippableTheory, BothProviders]
    public async Task Values_nested_deeper_than_the_limit_are_400_naming_the_field_and_values_at_the_limit_come_back_in_every_answer(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var admin = app.AdminClient();
        var agent = await app.RegisterAgentAsync();

        foreach (var (field, send) in new (string, Func<string, Task<HttpResponseMessage>>)[]
        {
            ("payload", json => admin.PostRaw("/api/v1/tasks", $$"""{"taskType":"agent.noop","agentId":"{{agent.Id}}","payload":{{json}}}""")),
            ("properties", json => admin.PostRaw("/api/v1/targets", $$"""{"name":"{{SharedApps.Unique("deep")}}","type":"ssh","agentId":"{{agent.Id}}","properties":{{json}}}""")),
        })
        {
            var problem = await (await send(Nested(62))).ShouldBeProblem(HttpStatusCode.BadRequest);
            Assert.Contains($"'{field}' is nested deeper than {Limit} levels", problem.GetRawText());
            await (await send(Nested(Limit + 1))).ShouldBeProblem(HttpStatusCode.BadRequest);
            await (await send(Nested(Limit))).ShouldBe(HttpStatusCode.Created);
        }

        var heartbeat = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(HttpStatusCode.OK);
        var taskId = heartbeat.GetProperty("tasks").EnumerateArray().Single().GetProperty("taskId").GetGuid();
        await (await admin.GetAsync("/api/v1/targets")).ShouldBe(HttpStatusCode.OK);

        var complete = $"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete";
        var refused = await (await agent.Client.PostRaw(complete, $$"""{"success":true,"result":{{Nested(63)}}}""")).ShouldBeProblem(HttpStatusCode.BadRequest);
        Assert.Contains($"'result' is nested deeper than {Limit} levels", refused.GetRawText());
        await (await agent.Client.PostRaw(complete, $$"""{"success":true,"result":{{Nested(Limit)}}}""")).ShouldBe(HttpStatusCode.OK);
        await (await admin.GetAsync("/api/v1/tasks")).ShouldBe(HttpStatusCode.OK);
        await (await admin.GetAsync($"/api/v1/tasks/{taskId}")).ShouldBe(HttpStatusCode.OK);
    }

    [SkippableTheory, BothProviders]
    public async Task A_stored_task_too_deep_to_write_fails_and_the_rest_of_its_batch_is_delivered(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        // Rows an earlier version accepted: nested 62 deep, more than any answer that wraps them can be written with.
        var stuckInHeartbeat = await app.InsertTaskAsync(agent.Id, Nested(62));
        var fine = await app.CreateTaskForAsync(agent.Id);

        var heartbeat = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(HttpStatusCode.OK);

        Assert.Equal([fine], heartbeat.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("taskId").GetGuid()));
        var failed = await app.GetTaskAsync(stuckInHeartbeat);
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Contains("nested deeper", failed.GetProperty("statusReason").GetString());

        var stuckInStream = await app.InsertTaskAsync(agent.Id, Nested(62));
        var alsoFine = await app.CreateTaskForAsync(agent.Id);
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        // A new connection also gets what was delivered but not started (the heartbeat's task) again.
        var assigned = new List<Guid>();
        while (!assigned.Contains(alsoFine))
        {
            assigned.Add((await stream.ReceiveAsync("task_assigned")).GetProperty("task").GetProperty("taskId").GetGuid());
        }

        Assert.DoesNotContain(stuckInStream, assigned);
        Assert.Subset(new HashSet<Guid> { fine, alsoFine }, assigned.ToHashSet());
        await Poll.Until(async () => await app.StatusOfAsync(stuckInStream) == "failed", "the undeliverable task to fail");
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, stream.State);
    }
}
