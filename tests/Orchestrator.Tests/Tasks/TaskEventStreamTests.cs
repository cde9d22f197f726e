using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Agents;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;
using Orchestrator.Tests.Streams;

namespace Orchestrator.Tests.Tasks;

/// <summary><c>GET /api/v1/tasks/{taskId}/events</c>, read as a browser's EventSource or the CLI would. The service's
/// clock is frozen, so the stream's periodic re-read never runs: what arrives came through task change events. The
/// tests share one such service per provider; those about restarts and replicas start their own.</summary>
public sealed class TaskEventStreamTests(ClockApps apps) : IClassFixture<ClockApps>
{
    private static readonly Dictionary<string, string> Secret = new() { ["registry.password"] = "stream-s3cret" };

    [SkippableTheory, BothProviders]
    public async Task The_stream_sends_each_state_progress_and_line_as_it_happens_and_ends_after_the_final_state(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var task = await app.CreateTaskForAsync(agent.Id, credentials: Secret);
        await using var stream = await EventStream.OpenAsync(app.AdminClient(), task);

        Assert.Equal("pending", Status(await stream.NextAsync()));
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{task}");
        Assert.Equal("assigned", Status(await stream.NextAsync()));
        await using var agentStream = await StreamClient.ConnectAsync(app, agent);
        await agentStream.SendAsync(new { type = "task_log", taskId = task, level = "info", message = "pulling with stream-s3cret" });
        var running = await stream.NextAsync();
        var line = await stream.NextAsync();
        await agentStream.SendAsync(new { type = "task_progress", taskId = task, progress = 60, message = "layers" });
        var progress = await stream.NextAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete",
            new { success = true, logs = new[] { new { level = "info", message = "pulled" } } })).ShouldBe(HttpStatusCode.OK);
        var last = await stream.NextAsync();
        var complete = await stream.NextAsync();
        var final = await stream.NextAsync();

        Assert.Equal("running", Status(running));
        Assert.Equal("log", line.EventType);
        Assert.Equal("pulling with [REDACTED]", Data(line).GetProperty("message").GetString());
        Assert.Equal("progress", progress.EventType);
        Assert.Equal(60, Data(progress).GetProperty("progress").GetInt32());
        Assert.Equal("pulled", Data(last).GetProperty("message").GetString());
        Assert.Equal("progress:100", Describe(complete));
        Assert.Equal("succeeded", Status(final));
        Assert.Equal("The agent reported success.", Data(final).GetProperty("statusReason").GetString());
        Assert.True(await stream.EndedAsync());
        Assert.Equal(stream.Received.Count, stream.Received.Select(e => e.EventId).Distinct().Count());
        Assert.All(stream.Received, e => Assert.False(string.IsNullOrEmpty(e.EventId)));
    }

    [SkippableTheory, BothProviders]
    public async Task Resuming_with_Last_Event_ID_on_another_instance_neither_repeats_nor_skips(DatabaseProvider provider)
    {
        using var storage = await TestStorage.CreateAsync(provider);
        Guid agent, task;
        string resumeFrom;
        List<SseItem<string>> before;
        await using (var first = TestApp.StartOn(storage, TaskKit.Clock()))
        {
            agent = await first.SeedAgentAsync();
            task = await first.CreateTaskForAsync(agent);
            await first.TakeAsync(agent);
            await AppendAsync(first, agent, task, "one", "two", "three");
            await using var stream = await EventStream.OpenAsync(first.AdminClient(), task);
            before = [await stream.NextAsync(), await stream.NextAsync(), await stream.NextAsync(), await stream.NextAsync()];
            resumeFrom = before[^1].EventId!;
        }

        // A restart (with PostgreSQL this could as well be another replica): the position is in the stored rows.
        await using var second = TestApp.StartOn(storage, TaskKit.Clock());
        await AppendAsync(second, agent, task, "four");
        await second.ProgressAsync(agent, task, 90, "almost");
        await second.CompleteAsync(agent, task, false, null, new TaskLogEntry(null, "error", "five"));
        await using var resumed = await EventStream.OpenAsync(second.AdminClient(), task, resumeFrom);
        var after = await resumed.ReadToEndAsync();
        await using var whole = await EventStream.OpenAsync(second.AdminClient(), task);
        var all = await whole.ReadToEndAsync();
        var again = await second.AdminClient().SendAsync(EventStream.Request(task, all[^1].EventId));

        Assert.Equal(["status:pending", "status:assigned", "status:running", "log:one"], before.Select(Describe));
        Assert.Equal(["log:two", "log:three", "log:four", "log:five", "progress:90", "status:failed"], after.Select(Describe));
        Assert.Equal([.. before.Select(Describe), .. after.Select(Describe)], all.Select(Describe));
        Assert.Equal([.. before.Select(e => e.EventId), .. after.Select(e => e.EventId)], all.Select(e => e.EventId));
        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
    }

    [SkippableFact]
    public async Task A_follower_on_one_replica_hears_what_the_agent_sends_to_another()
    {
        await using var a = await TestApp.StartAsync(DatabaseProvider.Postgres, TaskKit.Clock());
        await using var b = TestApp.StartOn(a.Storage, TaskKit.Clock());
        var agent = await b.RegisterAgentAsync();
        var task = await b.CreateTaskForAsync(agent.Id);
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{task}");
        await using var stream = await EventStream.OpenAsync(a.AdminClient(), task);
        Assert.Equal(["status:pending", "status:assigned"], [Describe(await stream.NextAsync()), Describe(await stream.NextAsync())]);

        await using var agentStream = await StreamClient.ConnectAsync(b, agent);
        await agentStream.SendAsync(new { type = "task_log", taskId = task, level = "info", message = "from b" });
        var running = await stream.NextAsync();
        var line = await stream.NextAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", new { success = true })).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("status:running", Describe(running));
        Assert.Equal("log:from b", Describe(line));
        // A task that succeeded is at 100 %, and the follower hears that before the end.
        Assert.Equal(["progress:100", "status:succeeded"], [Describe(await stream.NextAsync()), Describe(await stream.NextAsync())]);
    }

    [SkippableFact]
    public async Task Viewers_may_follow_and_bad_requests_are_problems()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        var viewer = app.Client(await app.ApiKeyAsync("viewer"));

        await using var stream = await EventStream.OpenAsync(viewer, task);
        var first = await stream.NextAsync();
        await (await app.Client().SendAsync(EventStream.Request(task, null))).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await viewer.SendAsync(EventStream.Request(Guid.NewGuid(), null))).ShouldBeProblem(HttpStatusCode.NotFound);
        var bad = await (await viewer.SendAsync(EventStream.Request(task, "not-an-id"))).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal("status:pending", Describe(first));
        Assert.True(bad.GetProperty("errors").TryGetProperty("Last-Event-ID", out _));
    }

    [SkippableFact]
    public async Task The_OpenAPI_document_describes_the_wait_and_the_event_stream()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var paths = (await (await app.Client().GetAsync("/swagger/v1/swagger.json")).ShouldBe(HttpStatusCode.OK)).GetProperty("paths");
        var get = paths.GetProperty("/api/v1/tasks/{taskId}").GetProperty("get");
        var events = paths.GetProperty("/api/v1/tasks/{taskId}/events").GetProperty("get");

        var wait = Assert.Single(get.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "wait");
        Assert.Equal("query", wait.GetProperty("in").GetString());
        Assert.Contains("0-60", wait.GetProperty("description").GetString(), StringComparison.Ordinal);
        var lastEventId = Assert.Single(events.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "Last-Event-ID");
        Assert.Equal("header", lastEventId.GetProperty("in").GetString());
        Assert.Contains("resume", lastEventId.GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.True(events.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("text/event-stream", out _));
        Assert.Contains("Last-Event-ID", events.GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    private static async Task AppendAsync(TestApp app, Guid agent, Guid task, params string[] messages)
    {
        await app.WithAsync(sp => sp.GetRequiredService<TaskCommands>().AppendLogsAsync(agent, task,
            [.. messages.Select(m => new TaskLogEntry(null, "info", m))], null, CancellationToken.None));
    }

    [SkippableTheory, BothProviders]
    public async Task A_task_that_cannot_move_says_why_its_agent_is_offline_or_draining(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var offline = await app.SeedAgentAsync(name: SharedApps.Unique("web-off"));
        var draining = await app.SeedAgentAsync(name: SharedApps.Unique("web-drain"));
        var forOffline = await app.CreateTaskForAsync(offline);
        var forDraining = await app.CreateTaskForAsync(draining);
        await app.QueryAsync(db => db.Agents.Where(a => a.Id == offline)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, AgentStatus.Offline)));
        await (await app.AdminClient().PostJson($"/api/v1/agents/{draining}/drain", new { reason = "kernel upgrade" })).ShouldBe(HttpStatusCode.OK);

        await using var offlineStream = await EventStream.OpenAsync(app.AdminClient(), forOffline);
        await using var drainingStream = await EventStream.OpenAsync(app.AdminClient(), forDraining);
        var offlineEvents = new[] { await offlineStream.NextAsync(), await offlineStream.NextAsync() };
        var drainingEvents = new[] { await drainingStream.NextAsync(), await drainingStream.NextAsync() };

        Assert.Equal("pending", Status(offlineEvents[0]));
        Assert.Equal("waiting", offlineEvents[1].EventType);
        var why = Data(offlineEvents[1]);
        Assert.Equal(offline, why.GetProperty("agentId").GetGuid());
        Assert.Equal("offline", why.GetProperty("agentStatus").GetString());
        Assert.Contains("is offline since", why.GetProperty("reason").GetString());
        Assert.Equal("waiting", drainingEvents[1].EventType);
        Assert.True(Data(drainingEvents[1]).GetProperty("draining").GetBoolean());
        Assert.Contains("is draining (kernel upgrade)", Data(drainingEvents[1]).GetProperty("reason").GetString());
    }

    private static JsonElement Data(SseItem<string> item) => JsonDocument.Parse(item.Data).RootElement;

    private static string? Status(SseItem<string> item)
    {
        Assert.Equal("status", item.EventType);
        return Data(item).GetProperty("status").GetString();
    }

    private static string Describe(SseItem<string> item) => item.EventType switch
    {
        "status" => $"status:{Data(item).GetProperty("status").GetString()}",
        "log" => $"log:{Data(item).GetProperty("message").GetString()}",
        "progress" => $"progress:{Data(item).GetProperty("progress").GetInt32()}",
        _ => item.EventType,
    };
}

/// <summary>An open event stream: the events in order, each awaited with a bound so a missing event fails the test
/// instead of hanging it.</summary>
internal sealed class EventStream : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly HttpResponseMessage _response;
    private readonly IAsyncEnumerator<SseItem<string>> _items;

    private EventStream(HttpResponseMessage response, IAsyncEnumerator<SseItem<string>> items)
    {
        _response = response;
        _items = items;
    }

    public List<SseItem<string>> Received { get; } = [];

    public static HttpRequestMessage Request(Guid task, string? lastEventId) => Request($"/api/v1/tasks/{task}/events", lastEventId);

    public static HttpRequestMessage Request(string path, string? lastEventId)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        return request;
    }

    public static Task<EventStream> OpenAsync(HttpClient client, Guid task, string? lastEventId = null) =>
        OpenAsync(client, $"/api/v1/tasks/{task}/events", lastEventId);

    /// <summary>Any event stream of the API, by its path (a rollout's, for one).</summary>
    public static async Task<EventStream> OpenAsync(HttpClient client, string path, string? lastEventId = null)
    {
        var response = await client.SendAsync(Request(path, lastEventId), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStreamAsync();
        return new EventStream(response, SseParser.Create(body).EnumerateAsync().GetAsyncEnumerator());
    }

    public async Task<SseItem<string>> NextAsync()
    {
        Assert.True(await _items.MoveNextAsync().AsTask().WaitAsync(Bound), "The stream ended early.");
        Received.Add(_items.Current);
        return _items.Current;
    }

    public async Task<bool> EndedAsync() => !await _items.MoveNextAsync().AsTask().WaitAsync(Bound);

    public async Task<List<SseItem<string>>> ReadToEndAsync()
    {
        while (await _items.MoveNextAsync().AsTask().WaitAsync(Bound))
        {
            Received.Add(_items.Current);
        }

        return Received;
    }

    public async ValueTask DisposeAsync()
    {
        await _items.DisposeAsync();
        _response.Dispose();
    }
}
