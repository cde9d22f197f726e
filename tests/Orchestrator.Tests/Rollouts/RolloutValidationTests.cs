using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Hosting;
using Orchestrator.Rollouts;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Rollouts;

/// <summary>Bad rollout requests are refused with problem details naming the field, and leave nothing behind.</summary>
public sealed class RolloutValidationTests(SharedApps apps) : IClassFixture<SharedApps>
{
    public static TheoryData<string, string> Malformed => new()
    {
        { """{"taskType":"agent.noop","selector":{"labels":{"fleet":"F"}},"agentIds":["A"]}""", "selector" },
        { """{"taskType":"agent.noop"}""", "selector" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"batchPercent":0}}""", "strategy.batchPercent" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"batchPercent":101}}""", "strategy.batchPercent" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"batchSize":2,"batchPercent":50}}""", "strategy.batchSize" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"batchSize":0}}""", "strategy.batchSize" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"maxFailures":1,"maxFailurePercent":10}}""", "strategy.maxFailures" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"maxFailurePercent":101}}""", "strategy.maxFailurePercent" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"pauseSeconds":-1}}""", "strategy.pauseSeconds" },
        { """{"taskType":"agent.noop","agentIds":["A"],"strategy":{"canary":-1}}""", "strategy.canary" },
        { """{"taskType":"agent.noop","agentIds":[]}""", "agentIds" },
        { """{"taskType":"agent.noop","agentIds":["A","A"]}""", "agentIds[1]" },
        { """{"agentIds":["A"]}""", "taskType" },
        { """{"taskType":"agent.noop","agentIds":["A"],"timeout":0}""", "timeout" },
        { """{"taskType":"agent.noop","agentIds":["A"],"payload":[1]}""", "payload" },
        { """{"taskType":"agent.noop","agentIds":["A"],"name":""}""", "name" },
    };

    [Theory, MemberData(nameof(Malformed))]
    public async Task A_malformed_request_is_a_400_naming_the_field(string body, string field)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync(labels: new() { ["fleet"] = "F" });

        var problem = await (await app.AdminClient().PostRaw("/api/v1/rollouts", body.Replace("\"A\"", $"\"{agent}\"")))
            .ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
        Assert.Empty(await app.TasksAsync(agent));
    }

    [SkippableTheory, BothProviders]
    public async Task Unknown_agents_a_selector_nothing_matches_and_only_draining_agents_are_a_422_naming_the_field(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var known = await app.SeedAgentAsync();
        var draining = await app.SeedAgentAsync(draining: true);
        var unknown = Guid.NewGuid();
        var name = SharedApps.Unique("refused");

        var unknownId = await RefusedAsync(app, new { name, taskType = "agent.noop", agentIds = new[] { known, unknown } });
        var nothing = await RefusedAsync(app,
            new { name, taskType = "agent.noop", selector = new { labels = new { fleet = SharedApps.Unique("none") } } });
        var allDraining = await RefusedAsync(app, new { name, taskType = "agent.noop", agentIds = new[] { draining } });

        Assert.Contains(unknown.ToString(), unknownId.GetProperty("errors").GetProperty("agentIds[1]")[0].GetString());
        Assert.True(nothing.GetProperty("errors").TryGetProperty("selector", out _));
        Assert.True(allDraining.GetProperty("errors").TryGetProperty("agentIds", out _));
        Assert.False(await app.QueryAsync(db => db.Rollouts.AnyAsync(r => r.Name == name)));
        Assert.Empty(await app.TasksAsync(known));
    }

    [Fact]
    public async Task The_same_idempotency_key_answers_the_first_rollout_and_a_different_task_type_with_it_is_a_409()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var key = SharedApps.Unique("deploy");
        var body = new { taskType = "agent.noop", agentIds = new[] { agent } };
        var client = app.AdminClient();
        using var first = new HttpRequestMessage(HttpMethod.Post, "/api/v1/rollouts") { Content = JsonContent(body) };
        first.Headers.Add("Idempotency-Key", key);

        var created = await (await client.SendAsync(first)).ShouldBe(HttpStatusCode.Created);
        var replayed = await (await client.PostJson("/api/v1/rollouts",
            new { taskType = "agent.noop", agentIds = new[] { agent }, idempotencyKey = key })).ShouldBe(HttpStatusCode.OK);
        await (await client.PostJson("/api/v1/rollouts", new { taskType = "acme.deploy", agentIds = new[] { agent }, idempotencyKey = key }))
            .ShouldBeProblem(HttpStatusCode.Conflict);

        Assert.Equal(created.Id(), replayed.Id());
        Assert.Equal(1, await app.QueryAsync(db => db.Rollouts.CountAsync(r => r.IdempotencyKey == key)));
    }

    [Fact]
    public async Task Viewers_read_rollouts_but_only_operators_create_and_control_them()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var viewer = app.Client(await ViewerKeyAsync(app));
        var id = (await app.CreateRolloutAsync(new { taskType = "agent.noop", agentIds = new[] { agent } })).Id();

        await (await viewer.GetAsync($"/api/v1/rollouts/{id}")).ShouldBe(HttpStatusCode.OK);
        await (await viewer.PostJson("/api/v1/rollouts", new { taskType = "agent.noop", agentIds = new[] { agent } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await viewer.PostAsync($"/api/v1/rollouts/{id}/cancel", null)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await app.Client().GetAsync($"/api/v1/rollouts/{id}")).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    private static async Task<JsonElement> RefusedAsync(TestApp app, object body) =>
        await (await app.AdminClient().PostJson("/api/v1/rollouts", body)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity);

    private static HttpContent JsonContent(object body) => System.Net.Http.Json.JsonContent.Create(body);

    private static async Task<string> ViewerKeyAsync(TestApp app) =>
        (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("viewer"), role = "viewer" }))
            .ShouldBe(HttpStatusCode.Created)).GetProperty("key").GetString()!;
}
