using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Tasks;

/// <summary>The agent side over real mutual TLS with the agent's certificate and bound token.</summary>
public sealed class AgentTaskEndpointTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private static readonly Dictionary<string, string> Secret = new() { ["registry.password"] = "agent-side-s3cret" };

    [SkippableTheory, BothProviders]
    public async Task An_agent_polls_fetches_and_completes_its_task(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var task = await app.CreateTaskForAsync(agent.Id, priority: 7, credentials: Secret);

        var poll = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks")).ShouldBe(HttpStatusCode.OK);
        var summary = poll.GetProperty("tasks").EnumerateArray().Single();
        Assert.Equal(task, summary.GetProperty("taskId").GetGuid());
        Assert.Equal(7, summary.GetProperty("priority").GetInt32());
        Assert.False(summary.TryGetProperty("credentials", out _));
        Assert.Equal(0, poll.GetProperty("cancelledTasks").GetArrayLength());
        Assert.Equal("pending", await app.StatusOfAsync(task));

        var fetched = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{task}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("agent-side-s3cret", fetched.GetProperty("credentials").GetProperty("registry.password").GetString());
        Assert.Equal("myapp", fetched.GetProperty("payload").GetProperty("image").GetString());
        Assert.Equal("assigned", await app.StatusOfAsync(task));

        var body = new
        {
            success = true,
            result = new { imageId = "sha256:abc123" },
            logs = new[] { new { timestamp = "2026-01-10T14:23:45Z", level = "info", message = "using agent-side-s3cret" } },
        };
        var ack = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", body)).ShouldBe(HttpStatusCode.OK);
        Assert.True(ack.GetProperty("acknowledged").GetBoolean());
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", body)).ShouldBe(HttpStatusCode.OK);
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", new { success = false }))
            .ShouldBeProblem(HttpStatusCode.Conflict);

        var ended = await app.GetTaskAsync(task);
        Assert.Equal("succeeded", ended.GetProperty("status").GetString());
        Assert.DoesNotContain("agent-side-s3cret", ended.GetRawText());
        Assert.DoesNotContain("agent-side-s3cret", app.Logs.AllText);
        var after = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{task}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, after.GetProperty("credentials").ValueKind);
    }

    [SkippableTheory, BothProviders]
    public async Task A_draining_agent_cannot_fetch_a_task_it_was_not_handed_and_gets_it_once_resumed(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var handed = await app.CreateTaskForAsync(agent.Id);
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{handed}")).ShouldBe(HttpStatusCode.OK);
        var waiting = await app.CreateTaskForAsync(agent.Id);
        await (await app.AdminClient().PostJson($"/api/v1/agents/{agent.Id}/drain", new { reason = "reboot" })).ShouldBe(HttpStatusCode.OK);

        var refused = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{waiting}")).ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Contains("is draining", refused.GetProperty("detail").GetString());
        Assert.Equal("pending", await app.StatusOfAsync(waiting));
        // What it was handed before the drain it finishes: fetching that again still works.
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{handed}")).ShouldBe(HttpStatusCode.OK);

        await (await app.AdminClient().PostAsync($"/api/v1/agents/{agent.Id}/resume", null)).ShouldBe(HttpStatusCode.OK);
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{waiting}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("assigned", await app.StatusOfAsync(waiting));
    }

    [SkippableTheory, BothProviders]
    public async Task Another_agents_task_is_403_and_an_unknown_task_404(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var owner = await app.RegisterAgentAsync();
        var intruder = await app.RegisterAgentAsync();
        var task = await app.CreateTaskForAsync(owner.Id, credentials: Secret);

        var fetch = await (await intruder.Client.GetAsync($"/api/v1/agents/{intruder.Id}/tasks/{task}")).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await intruder.Client.PostJson($"/api/v1/agents/{intruder.Id}/tasks/{task}/complete", new { success = true }))
            .ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await intruder.Client.GetAsync($"/api/v1/agents/{owner.Id}/tasks")).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await intruder.Client.PostJson($"/api/v1/agents/{owner.Id}/tasks/{task}/complete", new { success = true }))
            .ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await owner.Client.PostJson($"/api/v1/agents/{owner.Id}/tasks/{Guid.NewGuid()}/complete", new { success = true }))
            .ShouldBeProblem(HttpStatusCode.NotFound);
        await (await app.AdminClient().GetAsync($"/api/v1/agents/{owner.Id}/tasks")).ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.DoesNotContain("agent-side-s3cret", fetch.GetRawText());
        Assert.Equal("pending", await app.StatusOfAsync(task));
    }

    [SkippableFact]
    public async Task Completion_limits_are_413_naming_the_setting_and_bad_bodies_400()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:Tasks:MaxLogLinesPerCompletion"] = "2",
            ["Orchestrator:Tasks:MaxLogLineLength"] = "10",
            ["Orchestrator:Tasks:MaxResultBytes"] = "20",
        });
        var agent = await app.RegisterAgentAsync();
        var task = await app.CreateTaskForAsync(agent.Id);
        var url = $"/api/v1/agents/{agent.Id}/tasks/{task}/complete";
        var line = new { level = "info", message = "ok" };

        var lines = await (await agent.Client.PostJson(url, new { success = true, logs = new[] { line, line, line } })).ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge);
        var length = await (await agent.Client.PostJson(url, new { success = true, logs = new[] { new { level = "info", message = new string('x', 11) } } }))
            .ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge);
        var result = await (await agent.Client.PostJson(url, new { success = true, result = new { blob = new string('x', 30) } })).ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge);
        var missing = await (await agent.Client.PostJson(url, new { result = new { } })).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await agent.Client.PostRaw(url, """{"success":"yes"}""")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Contains("Orchestrator:Tasks:MaxLogLinesPerCompletion", lines.GetProperty("detail").GetString());
        Assert.Contains("Orchestrator:Tasks:MaxLogLineLength", length.GetProperty("detail").GetString());
        Assert.Contains("Orchestrator:Tasks:MaxResultBytes", result.GetProperty("detail").GetString());
        Assert.True(missing.GetProperty("errors").TryGetProperty("success", out _));
        Assert.Equal("pending", await app.StatusOfAsync(task));
    }

    [SkippableTheory, BothProviders]
    public async Task Completing_a_cancelling_task_over_http_ends_it_cancelled_and_the_poll_names_it_until_then(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var task = await app.CreateTaskForAsync(agent.Id);
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{task}")).ShouldBe(HttpStatusCode.OK);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);

        var poll = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(task, poll.GetProperty("cancelledTasks").EnumerateArray().Single().GetGuid());
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", new { success = false })).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("cancelled", await app.StatusOfAsync(task));
        var after = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(0, after.GetProperty("cancelledTasks").GetArrayLength());
    }
}
