using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Tasks;

/// <summary><c>GET /api/v1/tasks/{taskId}?wait=SECONDS</c>. The service's clock is frozen, so a wait can only end early
/// because the task ended (a task change event), never because its deadline passed. The tests share one such service
/// per provider; those that stop it, need replicas or a pool of their own start their own.</summary>
public sealed class TaskWaitTests(ClockApps apps) : IClassFixture<ClockApps>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [SkippableTheory, BothProviders]
    public async Task A_wait_answers_as_soon_as_the_task_ends(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);

        var waiting = app.AdminClient().GetAsync($"/api/v1/tasks/{task}?wait=60");
        await WaitersAsync(app, 1);
        Assert.False(waiting.IsCompleted);
        await app.CompleteAsync(agent, task, true, null, new TaskLogEntry(null, "info", "done"));
        await PublishEndedAsync(app, task);
        var answer = await (await waiting.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("succeeded", answer.GetProperty("status").GetString());
        Assert.Equal("done", answer.GetProperty("logs")[0].GetProperty("message").GetString());
    }

    [SkippableFact]
    public async Task The_end_through_the_api_wakes_the_wait_and_progress_does_not_answer_it()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var task = await app.CreateTaskForAsync(agent.Id);
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{task}");

        var waiting = app.AdminClient().GetAsync($"/api/v1/tasks/{task}?wait=60");
        await WaitersAsync(app, 1);
        await app.ProgressAsync(agent.Id, task, 40, "pulling");
        await app.Services.GetRequiredService<TaskChanges>().PublishAsync(task, ended: false);
        var stillWaiting = !waiting.IsCompleted;
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", new { success = false })).ShouldBe(HttpStatusCode.OK);
        var answer = await (await waiting.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);

        Assert.True(stillWaiting);
        Assert.Equal("failed", answer.GetProperty("status").GetString());
        Assert.Equal(40, answer.GetProperty("progress").GetInt32());
    }

    [SkippableFact]
    public async Task A_wait_that_runs_out_answers_with_the_task_as_it_is()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var clock = app.Time!;
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);

        var waiting = app.AdminClient().GetAsync($"/api/v1/tasks/{task}?wait=5");
        await WaitersAsync(app, 1);
        clock.Advance(TimeSpan.FromSeconds(5));
        var answer = await (await waiting.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);
        var immediate = await (await app.AdminClient().GetAsync($"/api/v1/tasks/{task}?wait=0")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("pending", answer.GetProperty("status").GetString());
        Assert.Equal("pending", immediate.GetProperty("status").GetString());
    }

    [SkippableFact]
    public async Task Cancelling_a_pending_task_and_deleting_an_agent_end_its_waits()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var pending = await app.CreateTaskForAsync(agent.Id);
        var running = await app.CreateTaskForAsync(agent.Id);
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{running}");

        var first = app.AdminClient().GetAsync($"/api/v1/tasks/{pending}?wait=60");
        var second = app.AdminClient().GetAsync($"/api/v1/tasks/{running}?wait=60");
        await WaitersAsync(app, 2);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{pending}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);
        var cancelled = await (await first.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);
        var stillWaiting = !second.IsCompleted;
        await (await app.AdminClient().DeleteAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);
        var ended = await (await second.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        Assert.True(stillWaiting);
        Assert.Equal("cancelled", ended.GetProperty("status").GetString());
    }

    [SkippableTheory]
    [InlineData("61")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("soon")]
    [InlineData("")]
    public async Task A_wait_outside_0_to_60_whole_seconds_is_a_400_naming_wait(string wait)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);

        var problem = await (await app.AdminClient().GetAsync($"/api/v1/tasks/{task}?wait={wait}")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty("wait", out _));
    }

    [SkippableFact]
    public async Task Viewers_may_wait_callers_without_a_key_may_not_and_metrics_count_the_held_waits()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        var viewer = app.Client(await app.ApiKeyAsync("viewer"));

        var waiting = viewer.GetAsync($"/api/v1/tasks/{task}?wait=60");
        await WaitersAsync(app, 1);
        var metrics = await app.Client().GetStringAsync("/metrics");
        await (await app.Client().GetAsync($"/api/v1/tasks/{task}?wait=60")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);
        var answer = await (await waiting.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("cancelled", answer.GetProperty("status").GetString());
        Assert.Equal(1, PrometheusText.Parse(metrics).Value("orchestrator_task_watches_open"));
    }

    [SkippableFact]
    public async Task A_stopping_service_answers_its_waits_at_once()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, TaskKit.Clock());
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        var client = app.AdminClient();

        var waiting = client.GetAsync($"/api/v1/tasks/{task}?wait=60");
        await WaitersAsync(app, 1);
        app.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        var answer = await (await waiting.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("pending", answer.GetProperty("status").GetString());
    }

    [SkippableFact]
    public async Task A_wait_on_one_replica_answers_when_the_task_ends_through_another()
    {
        await using var a = await TestApp.StartAsync(DatabaseProvider.Postgres, TaskKit.Clock());
        await using var b = TestApp.StartOn(a.Storage, TaskKit.Clock());
        var agent = await b.RegisterAgentAsync();
        var task = await b.CreateTaskForAsync(agent.Id);
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{task}");

        var waiting = a.AdminClient().GetAsync($"/api/v1/tasks/{task}?wait=60");
        await WaitersAsync(a, 1);
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", new { success = true })).ShouldBe(HttpStatusCode.OK);
        var answer = await (await waiting.WaitAsync(Bound)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("succeeded", answer.GetProperty("status").GetString());
    }

    [SkippableFact]
    public async Task Waiting_requests_hold_no_database_connection()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Postgres);
        // Four pooled connections for twenty waits: a wait that held one would starve every other request.
        await using var app = TestApp.StartOn(storage, TaskKit.Clock(), new Dictionary<string, string?>
        {
            ["ConnectionStrings:Orchestrator"] = storage.ConnectionString + ";Maximum Pool Size=4;Timeout=5",
        });
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);

        var waits = Enumerable.Range(0, 20).Select(_ => app.AdminClient().GetAsync($"/api/v1/tasks/{task}?wait=60")).ToList();
        await WaitersAsync(app, 20);
        var other = await app.CreateTaskForAsync(agent);
        var list = await (await app.AdminClient().GetAsync($"/api/v1/tasks?agentId={agent}")).ShouldBe(HttpStatusCode.OK);
        await app.CompleteAsync(agent, task, true);
        await PublishEndedAsync(app, task);
        var answers = await Task.WhenAll(waits).WaitAsync(Bound);

        Assert.Equal(2, list.GetArrayLength());
        Assert.NotEqual(Guid.Empty, other);
        foreach (var answer in answers)
        {
            Assert.Equal("succeeded", (await answer.ShouldBe(HttpStatusCode.OK)).GetProperty("status").GetString());
        }
    }

    /// <summary>The service calls these after its commands; tests that call the commands directly publish as it would.</summary>
    private static Task PublishEndedAsync(TestApp app, Guid task) => app.Services.GetRequiredService<TaskChanges>().PublishAsync(task, ended: true);

    private static Task WaitersAsync(TestApp app, int count) =>
        Poll.Until(() => app.Services.GetRequiredService<TaskChanges>().Watching() >= count, $"{count} waits to be held");
}
