using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Rollouts;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Rollouts;

/// <summary>A fleet of registered agents (each a real mTLS client), rollouts through the API, and the agent's side of
/// their tasks through the agent API, as an agent does it.</summary>
internal static class RolloutKit
{
    /// <summary><paramref name="count"/> agents named <c>{fleet}-00</c>, <c>{fleet}-01</c>, … (so name order is index
    /// order), each labelled <c>fleet={fleet}</c>; the fleet's name is unique, so a selector on it picks these only.</summary>
    public static async Task<Fleet> FleetAsync(this TestApp app, int count)
    {
        var name = SharedApps.Unique("fleet");
        var agents = new List<TestAgent>();
        for (var i = 0; i < count; i++)
        {
            agents.Add(await app.RegisterAgentAsync($"{name}-{i:00}", labels: new() { ["fleet"] = name }));
        }

        return new Fleet(name, agents);
    }

    public sealed record Fleet(string Name, List<TestAgent> Agents)
    {
        public object Selector => new { labels = new Dictionary<string, string> { ["fleet"] = Name } };

        public TestAgent this[int index] => Agents[index];
    }

    public static async Task<JsonElement> CreateRolloutAsync(this TestApp app, object body) =>
        await (await app.AdminClient().PostJson("/api/v1/rollouts", body)).ShouldBe(HttpStatusCode.Created);

    public static async Task<JsonElement> RolloutAsync(this TestApp app, Guid rolloutId) =>
        await (await app.AdminClient().GetAsync($"/api/v1/rollouts/{rolloutId}")).ShouldBe(HttpStatusCode.OK);

    /// <summary>The rollout once <paramref name="condition"/> holds (the driver works in the background).</summary>
    public static async Task<JsonElement> RolloutWhenAsync(this TestApp app, Guid rolloutId, Func<JsonElement, bool> condition, string what,
        TimeSpan? timeout = null)
    {
        var rollout = default(JsonElement);
        await Poll.Until(async () => condition(rollout = await app.RolloutAsync(rolloutId)), $"rollout {rolloutId}: {what}", timeout);
        return rollout;
    }

    public static Task<JsonElement> BatchStartedAsync(this TestApp app, Guid rolloutId, int batch, TimeSpan? timeout = null) =>
        app.RolloutWhenAsync(rolloutId, r => r.GetProperty("currentBatch").GetInt32() >= batch &&
            Targets(r).Where(t => t.GetProperty("batch").GetInt32() == batch).All(t => t.GetProperty("status").GetString() != "pending" ||
                t.GetProperty("taskId").ValueKind != JsonValueKind.Null), $"batch {batch} started", timeout);

    public static Task<JsonElement> StatusIsAsync(this TestApp app, Guid rolloutId, string status) =>
        app.RolloutWhenAsync(rolloutId, r => r.GetProperty("status").GetString() == status, $"status {status}");

    public static Guid Id(this JsonElement rollout) => rollout.GetProperty("rolloutId").GetGuid();

    public static IEnumerable<JsonElement> Targets(this JsonElement rollout) => rollout.GetProperty("targets").EnumerateArray();

    public static JsonElement Target(this JsonElement rollout, TestAgent agent) =>
        rollout.Targets().Single(t => t.GetProperty("agentId").GetGuid() == agent.Id);

    public static string StatusOf(this JsonElement rollout, TestAgent agent) => rollout.Target(agent).GetProperty("status").GetString()!;

    public static Guid TaskOf(this JsonElement rollout, TestAgent agent) => rollout.Target(agent).GetProperty("taskId").GetGuid();

    public static int Count(this JsonElement rollout, string name) => rollout.GetProperty("counts").GetProperty(name).GetInt32();

    /// <summary>The agent fetches its task (a delivery, as when it polls) and reports the outcome.</summary>
    public static async Task FinishAsync(this TestAgent agent, Guid taskId, bool success)
    {
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{taskId}")).ShouldBe(HttpStatusCode.OK);
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete", new { success }))
            .ShouldBe(HttpStatusCode.OK);
    }

    /// <summary>The same agent calling another instance of the service (a restarted one, another replica).</summary>
    public static TestAgent On(this TestAgent agent, TestApp app) => new()
    {
        Id = agent.Id, Name = agent.Name, Certificate = agent.Certificate, Token = agent.Token, Registration = agent.Registration,
        Client = app.Client(certificate: agent.Certificate, bearer: agent.Token),
    };

    /// <summary>The batches the rollout started, in order, from its stored events: each batch start is one event.</summary>
    public static async Task<List<int>> BatchesStartedAsync(this TestApp app, Guid rolloutId) =>
        [.. (await app.QueryAsync(db => db.RolloutEvents.Where(e => e.RolloutId == rolloutId && e.Type == RolloutEventTypes.Batch)
                .OrderBy(e => e.Id).Select(e => e.DataJson).ToListAsync()))
            .Select(json => JsonDocument.Parse(json).RootElement.GetProperty("batch").GetInt32())];

    /// <summary>The rollout's tasks from <c>GET /api/v1/tasks?rolloutId=</c>.</summary>
    public static async Task<List<JsonElement>> TasksOfAsync(this TestApp app, Guid rolloutId) =>
        [.. (await (await app.AdminClient().GetAsync($"/api/v1/tasks?rolloutId={rolloutId}")).ShouldBe(HttpStatusCode.OK)).EnumerateArray()];

    /// <summary>The agent's tasks from <c>GET /api/v1/tasks?agentId=</c>.</summary>
    public static async Task<List<JsonElement>> TasksAsync(this TestApp app, Guid agentId) =>
        [.. (await (await app.AdminClient().GetAsync($"/api/v1/tasks?agentId={agentId}")).ShouldBe(HttpStatusCode.OK)).EnumerateArray()];

    public static async Task<JsonElement> ControlAsync(
        this TestApp app, Guid rolloutId, string action, HttpStatusCode expected = HttpStatusCode.Accepted)
    {
        var response = await app.AdminClient().PostAsync($"/api/v1/rollouts/{rolloutId}/{action}", null);
        return expected == HttpStatusCode.Accepted ? await response.ShouldBe(expected) : await response.ShouldBeProblem(expected);
    }
}
