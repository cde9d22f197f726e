using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Tasks;

public sealed class TaskLifecycleTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private static readonly Dictionary<string, string> Secret = new() { ["registry.password"] = "pa55-w0rd-XYZ" };

    [SkippableTheory, BothProviders]
    public async Task A_successful_completion_stores_result_and_logs_shows_full_progress_and_erases_credentials(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent, credentials: Secret);
        await app.TakeAsync(agent);

        var done = await app.CompleteAsync(agent, task, true, new { imageId = "sha256:abc" },
            new TaskLogEntry(new DateTime(2026, 1, 10, 14, 23, 45, DateTimeKind.Utc), "info", "Pulling image..."),
            new TaskLogEntry(null, null, "login with pa55-w0rd-XYZ ok"));

        Assert.Equal(TaskOutcome.Ok, done.Outcome);
        var json = await app.GetTaskAsync(task);
        Assert.Equal("succeeded", json.GetProperty("status").GetString());
        Assert.Equal(100, json.GetProperty("progress").GetInt32());
        Assert.Equal("sha256:abc", json.GetProperty("result").GetProperty("imageId").GetString());
        Assert.NotEqual(JsonValueKind.Null, json.GetProperty("completedAt").ValueKind);
        var logs = json.GetProperty("logs").EnumerateArray().Select(l => l.GetProperty("message").GetString()).ToList();
        Assert.Equal(["Pulling image...", $"login with {CredentialRedactor.Mask} ok"], logs);
        Assert.DoesNotContain("pa55-w0rd-XYZ", json.GetRawText());
        Assert.Null(await app.WithAsync(async sp => (await sp.GetRequiredService<OrchestratorDbContext>().Tasks.FindAsync(task))!.ProtectedCredentials));
    }

    [SkippableTheory, BothProviders]
    public async Task A_secret_the_agent_echoes_in_its_result_is_stored_masked_and_the_same_completion_still_replays(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent, credentials: Secret);
        await app.TakeAsync(agent);

        Assert.Equal(TaskOutcome.Ok, (await app.CompleteAsync(agent, task, true, new { output = "login with pa55-w0rd-XYZ ok", exitCode = 0 })).Outcome);

        // The same completion again (members in another order) replays; the masked text is a different result.
        Assert.Equal(TaskOutcome.Replayed, (await app.CompleteAsync(agent, task, true, new { exitCode = 0, output = "login with pa55-w0rd-XYZ ok" })).Outcome);
        Assert.Equal(TaskOutcome.Conflict,
            (await app.CompleteAsync(agent, task, true, new { output = $"login with {CredentialRedactor.Mask} ok", exitCode = 0 })).Outcome);
        var json = await app.GetTaskAsync(task);
        Assert.Equal($"login with {CredentialRedactor.Mask} ok", json.GetProperty("result").GetProperty("output").GetString());
        Assert.Equal(0, json.GetProperty("result").GetProperty("exitCode").GetInt32());
        Assert.DoesNotContain("pa55-w0rd-XYZ", json.GetRawText());
    }

    [SkippableTheory, BothProviders]
    public async Task A_failed_completion_ends_failed(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);

        await app.ProgressAsync(agent, task, 40);
        await app.CompleteAsync(agent, task, false, new { error = "image not found" });

        var json = await app.GetTaskAsync(task);
        Assert.Equal("failed", json.GetProperty("status").GetString());
        Assert.Equal(40, json.GetProperty("progress").GetInt32());
    }

    [SkippableTheory, BothProviders]
    public async Task Completion_is_idempotent_and_a_different_outcome_afterwards_conflicts(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var other = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);

        Assert.Equal(TaskOutcome.Forbidden, (await app.CompleteAsync(other, task, true)).Outcome);
        Assert.Equal(TaskOutcome.NotFound, (await app.CompleteAsync(agent, Guid.NewGuid(), true)).Outcome);
        Assert.Equal(TaskOutcome.Ok, (await app.CompleteAsync(agent, task, true, new { a = 1, b = new[] { 1, 2 } })).Outcome);
        Assert.Equal(TaskOutcome.Replayed, (await app.CompleteAsync(agent, task, true, new { b = new[] { 1, 2 }, a = 1 }, new TaskLogEntry(null, "info", "again"))).Outcome);
        Assert.Equal(TaskOutcome.Conflict, (await app.CompleteAsync(agent, task, true, new { a = 2 })).Outcome);
        Assert.Equal(TaskOutcome.Conflict, (await app.CompleteAsync(agent, task, false, new { a = 1, b = new[] { 1, 2 } })).Outcome);
        Assert.Equal(TaskOutcome.Forbidden, (await app.CompleteAsync(other, task, true, new { a = 1, b = new[] { 1, 2 } })).Outcome);
        Assert.Equal(0, (await app.GetTaskAsync(task)).GetProperty("logs").GetArrayLength());
    }

    [SkippableTheory, BothProviders]
    public async Task Racing_completions_record_one_outcome(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => Task.Run(() => app.CompleteAsync(agent, task, i % 2 == 0, new { i }))));

        Assert.Single(outcomes, o => o.Outcome == TaskOutcome.Ok);
        Assert.All(outcomes, o => Assert.Contains(o.Outcome, new[] { TaskOutcome.Ok, TaskOutcome.Conflict }));
    }

    [SkippableTheory, BothProviders]
    public async Task Stored_logs_are_capped_with_a_marker_line(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider, settings: new Dictionary<string, string?> { ["Orchestrator:Tasks:MaxStoredLogLines"] = "3" });
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);
        await app.WithAsync(sp => sp.GetRequiredService<TaskCommands>().AppendLogsAsync(agent, task, [new TaskLogEntry(null, "info", "streamed")], null, CancellationToken.None));

        await app.CompleteAsync(agent, task, true, null, [.. Enumerable.Range(1, 5).Select(i => new TaskLogEntry(null, "info", $"line {i}"))]);

        var logs = (await app.GetTaskAsync(task)).GetProperty("logs").EnumerateArray().Select(l => l.GetProperty("message").GetString()!).ToList();
        Assert.Equal(["streamed", "line 1", "line 2"], logs.Take(3));
        Assert.Contains("3 more log lines were dropped", logs[3]);
        Assert.Contains("Orchestrator:Tasks:MaxStoredLogLines", logs[3]);
    }

    [SkippableTheory, BothProviders]
    public async Task Cancelling_a_pending_task_ends_it_at_once(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent, credentials: Secret);

        var answer = await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);

        Assert.Equal("cancelled", answer.GetProperty("status").GetString());
        Assert.Empty((await app.TakeAsync(agent)).Tasks);
        Assert.Empty((await app.TakeAsync(agent)).CancelledTasks);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBeProblem(HttpStatusCode.Conflict);
        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=task.cancelled&subjectId={task}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(1, audit.GetArrayLength());
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{Guid.NewGuid()}/cancel", null)).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [SkippableTheory]
    [InlineData(DatabaseProvider.Sqlite, false)]
    [InlineData(DatabaseProvider.Sqlite, true)]
    [InlineData(DatabaseProvider.Postgres, false)]
    [InlineData(DatabaseProvider.Postgres, true)]
    public async Task A_delivered_or_running_task_is_cancelling_until_its_agent_confirms(DatabaseProvider provider, bool running)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);
        if (running)
        {
            await app.ProgressAsync(agent, task, 40);
        }

        var heard = new ConcurrentQueue<string>();
        using var _ = app.Services.GetRequiredService<IClusterEvents>().Subscribe(TaskEvents.Cancelled, heard.Enqueue);

        var answer = await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);

        Assert.Equal("cancelling", answer.GetProperty("status").GetString());
        Assert.Single(heard, h => TaskEvents.Parse(h).TaskId == task);
        var work = await app.TakeAsync(agent);
        Assert.Equal(task, Assert.Single(work.CancelledTasks));
        Assert.Empty(work.Tasks);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);

        Assert.Equal(TaskOutcome.Ok, (await app.CompleteAsync(agent, task, false, new { stopped = true })).Outcome);

        var ended = await app.GetTaskAsync(task);
        Assert.Equal("cancelled", ended.GetProperty("status").GetString());
        Assert.Contains("the agent stopped it", ended.GetProperty("statusReason").GetString());
        Assert.Empty((await app.TakeAsync(agent)).CancelledTasks);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBeProblem(HttpStatusCode.Conflict);
    }

    [SkippableTheory, BothProviders]
    public async Task A_cancelling_task_ends_cancelled_after_the_grace_period(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        await using var app = await TestApp.StartAsync(provider, clock, new Dictionary<string, string?> { ["Orchestrator:Tasks:CancelGracePeriod"] = "00:02:00" });
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent, credentials: Secret, timeout: 3600);
        await app.TakeAsync(agent);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);

        clock.Advance(TimeSpan.FromSeconds(119));
        await app.RunMonitorAsync();
        Assert.Equal("cancelling", await app.StatusOfAsync(task));
        clock.Advance(TimeSpan.FromSeconds(2));
        await app.RunMonitorAsync();

        var ended = await app.GetTaskAsync(task);
        Assert.Equal("cancelled", ended.GetProperty("status").GetString());
        Assert.Contains("grace period", ended.GetProperty("statusReason").GetString());
        Assert.Equal(TaskOutcome.Conflict, (await app.CompleteAsync(agent, task, true)).Outcome);
    }

    [SkippableTheory, BothProviders]
    public async Task A_task_not_finished_within_its_timeout_after_delivery_times_out_once_and_the_agent_is_told(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        await using var app = await TestApp.StartAsync(provider, clock);
        await using var replica = provider == DatabaseProvider.Postgres ? TestApp.StartOn(app.Storage, clock) : null;
        var agent = await app.SeedAgentAsync();
        var slow = await app.CreateTaskForAsync(agent, timeout: 60, credentials: Secret);
        var running = await app.CreateTaskForAsync(agent, timeout: 90);
        await app.TakeAsync(agent);
        await app.ProgressAsync(agent, running, 5);
        var undelivered = await app.CreateTaskForAsync(agent, timeout: 60);
        var heard = new ConcurrentQueue<string>();
        using var _ = app.Services.GetRequiredService<IClusterEvents>().Subscribe(TaskEvents.Cancelled, heard.Enqueue);

        clock.Advance(TimeSpan.FromSeconds(61));
        await Task.WhenAll(app.RunMonitorAsync(), replica?.RunMonitorAsync() ?? Task.CompletedTask);

        Assert.Equal("timed_out", await app.StatusOfAsync(slow));
        Assert.Equal("running", await app.StatusOfAsync(running));
        Assert.Equal("pending", await app.StatusOfAsync(undelivered));
        Assert.Contains(slow, (await app.TakeAsync(agent)).CancelledTasks);
        await Poll.Until(() => heard.Any(h => TaskEvents.Parse(h).TaskId == slow), "the cancellation event of the timed-out task");
        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=task.timed_out&subjectId={slow}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(1, audit.GetArrayLength());

        clock.Advance(TimeSpan.FromSeconds(30));
        await app.RunMonitorAsync();
        Assert.Equal("timed_out", await app.StatusOfAsync(running));
        Assert.Equal(TaskOutcome.Conflict, (await app.CompleteAsync(agent, running, true)).Outcome);
        Assert.DoesNotContain("pa55-w0rd-XYZ", app.Logs.AllText);
    }

    [SkippableTheory, BothProviders]
    public async Task A_task_its_agent_never_collects_times_out_once_after_the_undelivered_timeout(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        var settings = new Dictionary<string, string?> { ["Orchestrator:Tasks:UndeliveredTimeout"] = "02:00:00" };
        await using var app = await TestApp.StartAsync(provider, clock, settings);
        await using var replica = provider == DatabaseProvider.Postgres ? TestApp.StartOn(app.Storage, clock, settings) : null;
        var stranded = await app.CreateTaskForAsync(await app.SeedAgentAsync(), credentials: Secret);

        clock.Advance(TimeSpan.FromHours(2) - TimeSpan.FromSeconds(1));
        await app.RunMonitorAsync();
        Assert.Equal("pending", await app.StatusOfAsync(stranded));

        clock.Advance(TimeSpan.FromSeconds(1));
        await Task.WhenAll(app.RunMonitorAsync(), replica?.RunMonitorAsync() ?? Task.CompletedTask);

        var task = await app.GetTaskAsync(stranded);
        Assert.Equal("timed_out", task.GetProperty("status").GetString());
        Assert.Contains("never collected", task.GetProperty("statusReason").GetString());
        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=task.timed_out&subjectId={stranded}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(1, audit.GetArrayLength());
        Assert.Null(await app.WithAsync(async sp =>
            await sp.GetRequiredService<OrchestratorDbContext>().Tasks.Where(t => t.Id == stranded).Select(t => t.ProtectedCredentials).SingleAsync()));
    }

    [SkippableFact]
    public async Task The_monitor_runs_on_its_own_timer()
    {
        var clock = TaskKit.Clock();
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, clock, new Dictionary<string, string?> { ["Orchestrator:Tasks:MonitorInterval"] = "00:00:05" });
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent, timeout: 10);
        await app.TakeAsync(agent);

        // Nothing here runs the monitor by hand: only its own timer, firing as the clock moves, can time the task out.
        await Poll.Until(async () =>
        {
            clock.Advance(TimeSpan.FromSeconds(5));
            return await app.StatusOfAsync(task) == "timed_out";
        }, "the task to time out");
    }

    [SkippableTheory, BothProviders]
    public async Task Deleting_an_agent_cancels_its_unfinished_tasks_with_that_reason(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var pending = await app.CreateTaskForAsync(agent, credentials: Secret);
        var delivered = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);
        var extra = await app.CreateTaskForAsync(agent);
        var done = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);
        await app.CompleteAsync(agent, done, true);

        await (await app.AdminClient().DeleteAsync($"/api/v1/agents/{agent}")).ShouldBe(HttpStatusCode.OK);

        var deletedBy = (await (await app.AdminClient().GetAsync($"/api/v1/audit?action=agent.deleted&subjectId={agent}")).ShouldBe(HttpStatusCode.OK))[0]
            .GetProperty("actor").GetString();
        foreach (var task in new[] { pending, delivered, extra })
        {
            var json = await app.GetTaskAsync(task);
            Assert.Equal("cancelled", json.GetProperty("status").GetString());
            Assert.Contains("deleted", json.GetProperty("statusReason").GetString());
            var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=task.cancelled&subjectId={task}")).ShouldBe(HttpStatusCode.OK);
            Assert.Equal(deletedBy, Assert.Single(audit.EnumerateArray()).GetProperty("actor").GetString());
        }

        Assert.Equal("succeeded", await app.StatusOfAsync(done));
    }
}
