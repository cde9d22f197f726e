using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Streams;

/// <summary>Timeouts on receiving stay below the stream's own periodic check (half of <c>RedeliverAfter</c>, 30 s by
/// default), so a message that arrives in time was pushed, not picked up by that check.</summary>
public sealed class TaskStreamTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableFact]
    public async Task The_upgrade_needs_the_agents_token()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, await StreamClient.RefusedAsync(app, agent, withToken: false));
    }

    [SkippableFact]
    public async Task The_upgrade_for_another_agents_route_is_forbidden()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var other = await app.RegisterAgentAsync();

        Assert.Equal(HttpStatusCode.Forbidden, await StreamClient.RefusedAsync(app, agent, route: other.Id));
    }

    [SkippableFact]
    public async Task A_plain_request_to_the_stream_is_a_400_problem()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/task-stream")).ShouldBeProblem(HttpStatusCode.BadRequest);
    }

    [SkippableTheory, BothProviders]
    public async Task Waiting_tasks_are_sent_on_connect_with_the_heartbeat_fields(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var taskId = await app.CreateTaskForAsync(agent.Id, "docker.pull");

        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var message = await stream.ReceiveAsync("task_assigned");

        var task = message.GetProperty("task");
        Assert.Equal(taskId, task.GetProperty("taskId").GetGuid());
        Assert.Equal("docker.pull", task.GetProperty("taskType").GetString());
        Assert.True(task.TryGetProperty("payload", out _));
        Assert.True(task.TryGetProperty("credentials", out _));
        Assert.True(task.TryGetProperty("timeout", out _));
        Assert.Equal("assigned", (await app.GetTaskAsync(taskId)).GetProperty("status").GetString());
    }

    [SkippableTheory, BothProviders]
    public async Task A_new_task_is_pushed_as_soon_as_it_is_created(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        var taskId = await app.CreateTaskForAsync(agent.Id);

        var message = await stream.ReceiveAsync("task_assigned");
        Assert.Equal(taskId, message.GetProperty("task").GetProperty("taskId").GetGuid());
    }

    [SkippableTheory, BothProviders]
    public async Task A_draining_agents_waiting_task_is_held_back_and_pushed_when_it_is_resumed(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await (await app.AdminClient().PostJson($"/api/v1/agents/{agent.Id}/drain", new { })).ShouldBe(HttpStatusCode.OK);
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        // The stream answers in order: had the waiting task gone out on connect, it would come before this error.
        await stream.SendTextAsync("not json");
        Assert.Equal("error", (await stream.ReceiveAsync()).GetProperty("type").GetString());
        await (await app.AdminClient().PostAsync($"/api/v1/agents/{agent.Id}/resume", null)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(taskId, (await stream.ReceiveAsync("task_assigned")).GetProperty("task").GetProperty("taskId").GetGuid());
    }

    [SkippableTheory, BothProviders]
    public async Task Cancelling_a_delivered_task_is_pushed_as_task_cancelled(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await stream.ReceiveAsync("task_assigned");

        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{taskId}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);

        var message = await stream.ReceiveAsync("task_cancelled");
        Assert.Equal(taskId, message.GetProperty("taskId").GetGuid());
    }

    [SkippableTheory, BothProviders]
    public async Task Progress_makes_the_task_running_and_logs_are_stored_redacted(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var created = await app.CreateTaskAsync(new
        {
            taskType = "docker.pull",
            agentId = agent.Id,
            payload = new { image = "registry.example/app" },
            credentials = new Dictionary<string, string> { ["registry.password"] = "hunter2-registry-secret" },
        });
        var taskId = created.GetProperty("taskId").GetGuid();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        await stream.ReceiveAsync("task_assigned");

        await stream.SendAsync(new { type = "task_progress", taskId, progress = 50, message = "Pulling layer 3/5" });
        await stream.SendAsync(new { type = "task_log", taskId, level = "info", message = "login with hunter2-registry-secret ok" });

        await Poll.Until(async () => (await app.GetTaskAsync(taskId)).GetProperty("logs").GetArrayLength() == 1, "the log line to be stored");
        var task = await app.GetTaskAsync(taskId);
        Assert.Equal("running", task.GetProperty("status").GetString());
        Assert.Equal(50, task.GetProperty("progress").GetInt32());
        var line = task.GetProperty("logs")[0];
        Assert.Equal("info", line.GetProperty("level").GetString());
        Assert.DoesNotContain("hunter2-registry-secret", line.GetProperty("message").GetString());
        Assert.Contains("[REDACTED]", line.GetProperty("message").GetString());
        Assert.DoesNotContain("hunter2-registry-secret", app.Logs.AllText);
    }

    [SkippableTheory]
    [InlineData("not json", "JSON")]
    [InlineData("{\"type\":\"task_dance\"}", "task_dance")]
    [InlineData("{\"type\":\"task_progress\",\"taskId\":\"nope\",\"progress\":5}", "taskId")]
    [InlineData("{\"type\":\"task_progress\",\"taskId\":\"5d0c8a4e-4f6b-4a84-9d6c-2b2b7b7a0c11\",\"progress\":101}", "progress")]
    [InlineData("{\"type\":\"task_log\",\"taskId\":\"5d0c8a4e-4f6b-4a84-9d6c-2b2b7b7a0c11\",\"level\":\"info\"}", "message")]
    public async Task An_invalid_message_gets_an_error_naming_the_problem_and_the_stream_stays_open(string text, string named)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        await stream.SendTextAsync(text);
        var error = await stream.ReceiveAsync("error");

        Assert.Contains(named, error.GetProperty("message").GetString());
        var taskId = await app.CreateTaskForAsync(agent.Id);
        Assert.Equal(taskId, (await stream.ReceiveAsync("task_assigned")).GetProperty("task").GetProperty("taskId").GetGuid());
    }

    [SkippableFact]
    public async Task A_message_in_several_frames_is_read_as_one_and_an_empty_one_is_an_error()
    {
        // An idle stream waits for a frame without a buffer and takes one only when a message arrives: the parts of
        // a message still join, and an empty message is answered, not waited past.
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        await stream.ReceiveAsync("task_assigned");

        await stream.SendFramesAsync("{\"type\":\"task_pro", $"gress\",\"taskId\":\"{taskId}\",", "\"progress\":40}");
        await Poll.Until(async () => await ProgressOfAsync(app, taskId) == 40, "the progress to be stored");

        await stream.SendTextAsync("");
        Assert.Contains("JSON", (await stream.ReceiveAsync("error")).GetProperty("message").GetString());
        await stream.SendFramesAsync("{\"type\":\"task_progress\",", $"\"taskId\":\"{taskId}\",\"progress\":60}}");
        await Poll.Until(async () => await ProgressOfAsync(app, taskId) == 60, "the next progress to be stored");
    }

    /// <summary>The task's progress, or null before any was reported.</summary>
    private static async Task<int?> ProgressOfAsync(TestApp app, Guid taskId) =>
        (await app.GetTaskAsync(taskId)).GetProperty("progress") is { ValueKind: JsonValueKind.Number } progress ? progress.GetInt32() : null;

    [SkippableFact]
    public async Task Progress_for_a_task_that_does_not_exist_is_an_error_naming_it()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var unknown = Guid.NewGuid();

        await stream.SendAsync(new { type = "task_progress", taskId = unknown, progress = 10 });

        var error = await stream.ReceiveAsync("error");
        Assert.Equal(unknown, error.GetProperty("taskId").GetGuid());
    }

    [SkippableFact]
    public async Task Progress_for_another_agents_task_is_refused()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var other = await app.RegisterAgentAsync();
        var theirs = await app.CreateTaskForAsync(other.Id);
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        await stream.SendAsync(new { type = "task_progress", taskId = theirs, progress = 10 });

        Assert.Contains("another agent", (await stream.ReceiveAsync("error")).GetProperty("message").GetString());
        Assert.Equal("pending", (await app.GetTaskAsync(theirs)).GetProperty("status").GetString());
    }

    [SkippableFact]
    public async Task A_message_over_the_size_limit_closes_the_stream_with_1009()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?> { ["Orchestrator:Streams:MaxMessageBytes"] = "2048" });
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        await stream.SendTextAsync($"{{\"type\":\"task_log\",\"message\":\"{new string('x', 4000)}\"}}");

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await stream.ClosedAsync());
    }

    [SkippableFact]
    public async Task A_flood_of_messages_closes_the_stream_with_1008()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:Streams:MessagesPerSecond"] = "1",
            ["Orchestrator:Streams:Burst"] = "5",
        });
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        for (var i = 0; i < 20 && stream.State == WebSocketState.Open; i++)
        {
            try
            {
                await stream.SendTextAsync("{}");
            }
            catch (WebSocketException)
            {
                break;
            }
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await stream.ClosedAsync());
    }

    [SkippableFact]
    public async Task A_new_stream_replaces_the_old_one()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await using var first = await StreamClient.ConnectAsync(app, agent);
        await using var second = await StreamClient.ConnectAsync(app, agent);

        Assert.Equal((WebSocketCloseStatus)4000, await first.ClosedAsync());
        var taskId = await app.CreateTaskForAsync(agent.Id);
        Assert.Equal(taskId, (await second.ReceiveAsync("task_assigned")).GetProperty("task").GetProperty("taskId").GetGuid());
    }

    /// <summary>A stream is registered before its upgrade is answered, so a task created meanwhile nudges it before it runs.
    /// Its first take (which re-sends unstarted tasks a lost connection may have carried) must still come first: queued
    /// after the nudge, it sent the task the nudge had just sent a second time (a delivery count of 3 seen in CI).</summary>
    [SkippableFact]
    public async Task A_task_created_while_a_stream_opens_is_sent_once()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var taskId = await app.CreateTaskForAsync(agent);
        await using var stream = await DetachedStream.CreateAsync(app, agent);
        stream.Stream.Nudge(taskCreated: true);
        stream.Run();

        var first = await stream.ReceiveTypeAsync();
        var before = await stream.SettledAsync();

        Assert.Equal("task_assigned", first);
        Assert.Empty(before);
        Assert.Equal(1, (await app.QueryAsync(db => db.Tasks.SingleAsync(t => t.Id == taskId))).DeliveryCount);
    }

    /// <summary>A push counts as a delivery, so a task sent on a connection that died before the agent read it (a stream
    /// replaced while the agent renews its certificate, an agent restarted with the same identity) used to wait out the
    /// whole redelivery window, a minute by default. The agent's next connection gets it at once.</summary>
    [SkippableTheory, BothProviders]
    public async Task A_task_pushed_on_a_connection_that_died_unread_goes_out_again_on_the_next_connection(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var lost = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await Poll.Until(async () => (await app.GetTaskAsync(taskId)).GetProperty("status").GetString() == "assigned", "the push");
        await lost.DisposeAsync();

        await using var next = await StreamClient.ConnectAsync(app, agent);
        var again = await next.ReceiveAsync("task_assigned", TimeSpan.FromSeconds(15));

        Assert.Equal(taskId, again.GetProperty("task").GetProperty("taskId").GetGuid());
        Assert.Equal(2, (await app.QueryAsync(db => db.Tasks.SingleAsync(t => t.Id == taskId))).DeliveryCount);
    }

    /// <summary>An agent restarted with the same identity: the event of a task created as it reconnects can still find
    /// its old stream (whose close the service has not read yet), and that stream's claim can commit after the new
    /// stream's first take looked for unstarted tasks to send again. The task waited out the redelivery window, a minute
    /// (the one way found for a restarted agent's task to stay unstarted in a CI run); the new stream sends it at once.</summary>
    [SkippableTheory, BothProviders]
    public async Task A_task_a_replaced_stream_claims_after_the_new_one_looked_goes_out_on_the_new_one(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await using var old = await DetachedStream.CreateAsync(app, agent.Id);
        old.Run();
        await old.SettledAsync();
        await using var current = await StreamClient.ConnectAsync(app, agent);
        await current.SendTextAsync("not json");
        Assert.Equal("error", (await current.ReceiveAsync()).GetProperty("type").GetString());

        // Stored without the creation's event, which would nudge the current stream: only the old one is told.
        var taskId = await app.InsertTaskAsync(agent.Id);
        old.Stream.Nudge(taskCreated: true);
        Assert.Equal("task_assigned", await old.ReceiveTypeAsync());
        var again = await current.ReceiveAsync("task_assigned", TimeSpan.FromSeconds(15));

        Assert.Equal(taskId, again.GetProperty("task").GetProperty("taskId").GetGuid());
        Assert.Equal(2, (await app.QueryAsync(db => db.Tasks.SingleAsync(t => t.Id == taskId))).DeliveryCount);
    }

    [SkippableTheory, BothProviders]
    public async Task Revoking_the_agent_closes_its_stream_at_once(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AgentCredentials>().RevokeAllAsync(agent.Id, "test", CancellationToken.None);
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await stream.ClosedAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, await StreamClient.RefusedAsync(app, agent));
    }

    [SkippableFact]
    public async Task Stopping_the_service_closes_streams_with_1001()
    {
        var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        var stopping = app.DisposeAsync();

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await stream.ClosedAsync());
        await stopping;
    }

    [SkippableFact]
    public async Task Two_replicas_push_creation_cancellation_and_revocation_across_each_other()
    {
        await using var a = await TestApp.StartAsync(DatabaseProvider.Postgres);
        await using var b = TestApp.StartOn(a.Storage);
        var agent = await a.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(b, agent);

        var taskId = await a.CreateTaskForAsync(agent.Id);
        var assigned = await stream.ReceiveAsync("task_assigned");
        Assert.Equal(taskId, assigned.GetProperty("task").GetProperty("taskId").GetGuid());

        await (await a.AdminClient().PostAsync($"/api/v1/tasks/{taskId}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);
        Assert.Equal(taskId, (await stream.ReceiveAsync("task_cancelled")).GetProperty("taskId").GetGuid());

        await using (var scope = a.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AgentCredentials>().RevokeAllAsync(agent.Id, "test", CancellationToken.None);
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await stream.ClosedAsync());
    }
}
