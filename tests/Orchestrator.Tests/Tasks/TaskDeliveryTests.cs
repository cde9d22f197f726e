using System.Text.Json;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Http;
using Orchestrator.Tasks;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Tasks;

/// <summary>Delivery rules. Tests that move time share a fake-clock service per provider (<see cref="ClockApps"/>), the
/// others a real-clock one; tests with settings of their own, replicas or a reconnect start their own.</summary>
public sealed class TaskDeliveryTests(SharedApps apps, ClockApps clocks) : IClassFixture<SharedApps>, IClassFixture<ClockApps>
{
    [SkippableTheory, BothProviders]
    public async Task A_heartbeat_delivers_tasks_in_the_spec_shape_highest_priority_first_then_oldest(DatabaseProvider provider)
    {
        var app = await clocks.For(provider);
        var clock = app.Time!;
        var agent = await app.SeedAgentAsync();
        var low = await app.CreateTaskForAsync(agent, priority: 0);
        clock.Advance(TimeSpan.FromSeconds(1));
        var highOld = await app.CreateTaskForAsync(agent, priority: 50, credentials: new Dictionary<string, string> { ["registry.password"] = "token" });
        clock.Advance(TimeSpan.FromSeconds(1));
        var highNew = await app.CreateTaskForAsync(agent, priority: 50);

        var work = await app.TakeAsync(agent);

        Assert.Equal([highOld, highNew, low], work.Tasks.Select(t => t.TaskId));
        var json = JsonSerializer.SerializeToElement(work, WireJson.Options);
        var first = json.GetProperty("tasks")[0];
        Assert.Equal(["taskId", "taskType", "payload", "credentials", "timeout"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal("docker.pull", first.GetProperty("taskType").GetString());
        Assert.Equal("myapp", first.GetProperty("payload").GetProperty("image").GetString());
        Assert.Equal("token", first.GetProperty("credentials").GetProperty("registry.password").GetString());
        Assert.Equal(300, first.GetProperty("timeout").GetInt32());
        Assert.Equal(0, json.GetProperty("cancelledTasks").GetArrayLength());
        Assert.Equal("assigned", await app.StatusOfAsync(low));
        Assert.NotEqual(JsonValueKind.Null, (await app.GetTaskAsync(low)).GetProperty("assignedAt").ValueKind);
    }

    [SkippableTheory, BothProviders]
    public async Task An_unstarted_task_is_delivered_again_after_the_redelivery_window_and_a_started_one_is_not(DatabaseProvider provider)
    {
        // The default redelivery window, one minute.
        var app = await clocks.For(provider);
        var clock = app.Time!;
        var agent = await app.SeedAgentAsync();
        var ignored = await app.CreateTaskForAsync(agent);
        var started = await app.CreateTaskForAsync(agent);

        Assert.Equal(2, (await app.TakeAsync(agent)).Tasks.Count);
        await app.ProgressAsync(agent, started, 10, "pulling");
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Empty((await app.TakeAsync(agent)).Tasks);
        clock.Advance(TimeSpan.FromSeconds(31));
        var again = await app.TakeAsync(agent);

        Assert.Equal(ignored, Assert.Single(again.Tasks).TaskId);
        Assert.Equal("running", await app.StatusOfAsync(started));
        Assert.Equal(10, (await app.GetTaskAsync(started)).GetProperty("progress").GetInt32());
        Assert.Empty((await app.TakeAsync(agent)).Tasks);
    }

    [SkippableTheory, BothProviders]
    public async Task Concurrent_claims_hand_each_task_out_once_per_redelivery_window(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        await using var app = await TestApp.StartAsync(provider, clock, new Dictionary<string, string?> { ["Orchestrator:Tasks:MaxTasksPerDelivery"] = "7" });
        var agent = await app.SeedAgentAsync();
        var other = await app.SeedAgentAsync();
        var created = new List<Guid>();
        for (var i = 0; i < 40; i++)
        {
            created.Add(await app.CreateTaskForAsync(agent, priority: i % 5));
        }

        var foreign = await app.CreateTaskForAsync(other);

        var rounds = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => Task.Run(() => app.TakeAsync(agent))));
        var delivered = rounds.SelectMany(r => r.Tasks.Select(t => t.TaskId)).ToList();

        Assert.Equal(delivered.Count, delivered.Distinct().Count());
        Assert.Equal(created.Order(), delivered.Order());
        Assert.All(rounds, r => Assert.True(r.Tasks.Count <= 7));
        Assert.Equal("pending", await app.StatusOfAsync(foreign));

        clock.Advance(TimeSpan.FromMinutes(1));
        var redelivered = (await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => Task.Run(() => app.TakeAsync(agent)))))
            .SelectMany(r => r.Tasks.Select(t => t.TaskId)).ToList();
        Assert.Equal(created.Order(), redelivered.Order());
    }

    /// <summary>Replicas share one database on PostgreSQL only; SQLite serves one instance.</summary>
    [SkippableFact]
    public async Task Concurrent_claims_from_two_replicas_on_postgres_hand_each_task_out_once()
    {
        const DatabaseProvider provider = DatabaseProvider.Postgres;
        var clock = TaskKit.Clock();
        await using var one = await TestApp.StartAsync(provider, clock);
        await using var two = TestApp.StartOn(one.Storage, clock);
        var agent = await one.SeedAgentAsync();
        var created = new List<Guid>();
        for (var i = 0; i < 30; i++)
        {
            created.Add(await one.CreateTaskForAsync(agent));
        }

        var rounds = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => (i % 2 == 0 ? one : two).TakeAsync(agent))));
        var delivered = rounds.SelectMany(r => r.Tasks.Select(t => t.TaskId)).ToList();

        Assert.Equal(created.Order(), delivered.Order());
    }

    [SkippableTheory, BothProviders]
    public async Task An_idle_agent_gets_a_new_task_and_a_cancellation_in_its_very_next_heartbeat(DatabaseProvider provider)
    {
        var app = await clocks.For(provider);
        var agent = await app.SeedAgentAsync();
        Assert.Empty((await app.TakeAsync(agent)).Tasks);
        Assert.Empty((await app.TakeAsync(agent)).Tasks);

        var task = await app.CreateTaskForAsync(agent);
        Assert.Equal(task, Assert.Single((await app.TakeAsync(agent)).Tasks).TaskId);
        Assert.Empty((await app.TakeAsync(agent)).Tasks);

        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);
        Assert.Equal([task], (await app.TakeAsync(agent)).CancelledTasks);
    }

    [SkippableFact]
    public async Task A_task_created_on_one_replica_reaches_a_heartbeat_on_the_other_though_the_agent_was_idle_there()
    {
        var clock = TaskKit.Clock();
        await using var one = await TestApp.StartAsync(DatabaseProvider.Postgres, clock);
        await using var two = TestApp.StartOn(one.Storage, clock);
        var agent = await one.SeedAgentAsync();
        Assert.Empty((await two.TakeAsync(agent)).Tasks);

        var task = await one.CreateTaskForAsync(agent);

        // Only the NOTIFY can tell replica two: its clock stands still, so its idle answer never expires by itself.
        Assert.Equal([task], await two.TakeUntilDeliveredAsync(agent, "replica two hands out the task"));
    }

    [SkippableTheory, BothProviders]
    public async Task A_task_whose_event_was_lost_is_delivered_after_the_next_idle_sweep(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        await using var app = await TestApp.StartAsync(provider, clock, new Dictionary<string, string?> { ["Orchestrator:Tasks:IdleRecheckInterval"] = "00:00:20" });
        var agent = await app.SeedAgentAsync();
        Assert.Empty((await app.TakeAsync(agent)).Tasks);
        var task = await app.CreateTaskForAsync(agent);
        Assert.Single((await app.TakeAsync(agent)).Tasks);
        Assert.Empty((await app.TakeAsync(agent)).Tasks);

        // A task row whose event never went out (a replica that died between commit and publish).
        await app.PutBackUnannouncedAsync(task);
        clock.Advance(TimeSpan.FromSeconds(19));
        Assert.Empty((await app.TakeAsync(agent)).Tasks);

        // The sweep is due 20 s after the start; it runs on its own once the clock passes that, and the agent's next
        // read then finds the task.
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal([task], await app.TakeUntilDeliveredAsync(agent, "the agent's read after the sweep hands out the task"));
    }

    [SkippableTheory, BothProviders]
    public async Task An_idle_agent_stays_known_idle_while_time_passes_and_the_sweep_forgets_only_agents_with_work(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        await using var app = await TestApp.StartAsync(provider, clock, new Dictionary<string, string?> { ["Orchestrator:Tasks:IdleRecheckInterval"] = "00:00:20" });
        var sweep = app.Services.GetRequiredService<IdleSweep>();
        var hints = app.Services.GetRequiredService<AgentWorkHints>();
        var idle = await app.SeedAgentAsync();
        var busy = await app.SeedAgentAsync();
        Assert.Empty((await app.TakeAsync(idle)).Tasks);

        // Three sweeps' worth of time with nothing for it (short of its going offline, which forgets it): its
        // heartbeats and stream ticks keep being answered from memory.
        clock.Advance(TimeSpan.FromSeconds(60));
        await sweep.RunOnceAsync(CancellationToken.None);
        Assert.True(hints.KnowsIdle(idle));

        // Another agent gets a task whose event is lost (a delivered task put back to pending behind the service's back).
        var task = await app.CreateTaskForAsync(busy);
        Assert.Single((await app.TakeAsync(busy)).Tasks);
        Assert.Empty((await app.TakeAsync(busy)).Tasks);
        await app.PutBackUnannouncedAsync(task);
        Assert.True(hints.KnowsIdle(busy));
        Assert.True(hints.KnowsIdle(idle));

        await sweep.RunOnceAsync(CancellationToken.None);

        Assert.True(hints.KnowsIdle(idle));
        Assert.False(hints.KnowsIdle(busy));
        Assert.Equal(task, Assert.Single((await app.TakeAsync(busy)).Tasks).TaskId);
    }

    [SkippableFact]
    public async Task After_the_event_listener_reconnects_idle_agents_are_read_again_as_events_may_have_been_missed()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Postgres, TaskKit.Clock());
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        Assert.Single((await app.TakeAsync(agent)).Tasks);
        Assert.Empty((await app.TakeAsync(agent)).Tasks);
        // A task whose event was published while this replica was not listening.
        await app.PutBackUnannouncedAsync(task);
        Assert.Empty((await app.TakeAsync(agent)).Tasks);

        int Reconnects() => app.Logs.Events.Count(e => e.MessageTemplate.Text.StartsWith("Cluster event listener reconnected", StringComparison.Ordinal));
        var reconnectsBefore = Reconnects();
        // By its process id: its last statement is the listener's probe as often as the LISTEN itself.
        var listener = app.Services.GetRequiredService<PostgresClusterEvents>().ListenerProcessId;
        var dropped = await app.WithAsync(async sp => await sp.GetRequiredService<OrchestratorDbContext>().Database
            .SqlQuery<bool>($"SELECT pg_terminate_backend({listener}) AS \"Value\"")
            .ToListAsync());
        Assert.Equal([true], dropped);
        await Poll.Until(() => Task.FromResult(Reconnects() > reconnectsBefore), "the listener reconnects", TimeSpan.FromSeconds(30));

        Assert.Equal(task, Assert.Single((await app.TakeAsync(agent)).Tasks).TaskId);
    }

    /// <summary>A claim's commit does not wait for PostgreSQL's log flush (a lost mark means a redelivery, which
    /// agents de-duplicate), and that is the claim's alone: the pooled connection it ran on commits what comes next
    /// durably again, task creations and completions above all.</summary>
    [SkippableFact]
    public async Task A_claim_relaxes_the_commit_flush_for_itself_only_and_the_connection_commits_durably_after_it()
    {
        var app = await apps.For(DatabaseProvider.Postgres);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);

        var (claimed, afterwards) = await app.WithAsync(async sp =>
        {
            var db = sp.GetRequiredService<OrchestratorDbContext>();
            // Held open, so the claim and the question after it run on the same connection; durable for this session
            // (the test cluster's default is not: it runs without fsync).
            await db.Database.OpenConnectionAsync();
            await db.Database.ExecuteSqlAsync($"SET synchronous_commit = on");
            var claimed = await sp.GetRequiredService<TaskClaims>()
                .ClaimDeliverableAsync(agent, includePending: true, resendUnstarted: false, CancellationToken.None);
            var setting = await db.Database.SqlQuery<string>($"SELECT current_setting('synchronous_commit') AS \"Value\"").SingleAsync();
            return (claimed, setting);
        });

        Assert.Equal(task, Assert.Single(claimed).Id);
        Assert.Equal("assigned", await app.StatusOfAsync(task));
        Assert.Equal("on", afterwards);
    }

    [SkippableTheory, BothProviders]
    public async Task A_draining_agent_gets_no_waiting_task_until_resumed_but_still_gets_redeliveries(DatabaseProvider provider)
    {
        var app = await clocks.For(provider);
        var clock = app.Time!;
        var agent = await app.SeedAgentAsync();
        var delivered = await app.CreateTaskForAsync(agent);
        Assert.Single((await app.TakeAsync(agent)).Tasks);
        var waiting = await app.CreateTaskForAsync(agent);
        await (await app.AdminClient().PostJson($"/api/v1/agents/{agent}/drain", new { reason = "reboot" })).ShouldBe(HttpStatusCode.OK);

        Assert.Empty((await app.TakeAsync(agent)).Tasks);
        var poll = await app.WithAsync(sp => sp.GetRequiredService<TaskDelivery>().PendingForAgentAsync(agent, CancellationToken.None));
        Assert.Empty(poll.Tasks);
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal([delivered], (await app.TakeAsync(agent)).Tasks.Select(t => t.TaskId));
        Assert.Equal("pending", await app.StatusOfAsync(waiting));

        await (await app.AdminClient().PostAsync($"/api/v1/agents/{agent}/resume", null)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal([waiting], (await app.TakeAsync(agent)).Tasks.Select(t => t.TaskId));
    }

    /// <summary>The stream's claim when an event wakes it is one statement with the drain rule inside it, and hands out
    /// what the view and claim of a heartbeat would: a waiting task once per window, nothing new to a draining agent,
    /// which still gets its unstarted task again after the window, and the waiting task once resumed.</summary>
    [SkippableTheory, BothProviders]
    public async Task A_claim_woken_by_an_event_follows_the_delivery_and_drain_rules(DatabaseProvider provider)
    {
        var app = await clocks.For(provider);
        var clock = app.Time!;
        var agent = await app.SeedAgentAsync();
        Task<IReadOnlyList<DeliveredTask>> Woken() =>
            app.WithAsync(sp => sp.GetRequiredService<TaskDelivery>().ClaimWokenAsync(agent, "stream", CancellationToken.None));
        var delivered = await app.CreateTaskForAsync(agent);

        Assert.Equal([delivered], (await Woken()).Select(t => t.TaskId));
        Assert.Empty(await Woken());
        var waiting = await app.CreateTaskForAsync(agent);
        await (await app.AdminClient().PostJson($"/api/v1/agents/{agent}/drain", new { reason = "reboot" })).ShouldBe(HttpStatusCode.OK);
        Assert.Empty(await Woken());
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal([delivered], (await Woken()).Select(t => t.TaskId));
        Assert.Equal("pending", await app.StatusOfAsync(waiting));

        await (await app.AdminClient().PostAsync($"/api/v1/agents/{agent}/resume", null)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal([waiting], (await Woken()).Select(t => t.TaskId));
        Assert.Equal("assigned", await app.StatusOfAsync(waiting));
    }

    [SkippableTheory, BothProviders]
    public async Task Polling_lists_summaries_without_delivering(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent, priority: 10);

        var poll = await app.WithAsync(sp => sp.GetRequiredService<TaskDelivery>().PendingForAgentAsync(agent, CancellationToken.None));

        var summary = Assert.Single(poll.Tasks);
        Assert.Equal((task, "docker.pull", 10), (summary.TaskId, summary.TaskType, summary.Priority));
        Assert.Equal("pending", await app.StatusOfAsync(task));
        var json = JsonSerializer.SerializeToElement(poll, WireJson.Options);
        Assert.Equal(["taskId", "taskType", "priority", "createdAt"], json.GetProperty("tasks")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(task, Assert.Single((await app.TakeAsync(agent)).Tasks).TaskId);
    }

    [SkippableTheory, BothProviders]
    public async Task Fetching_one_task_delivers_it_only_to_its_own_agent(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var other = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent, credentials: new Dictionary<string, string> { ["ssh.key"] = "private-key-material" });

        var stranger = await app.WithAsync(sp => sp.GetRequiredService<TaskDelivery>().FetchAsync(other, task, CancellationToken.None));
        Assert.Equal(TaskOutcome.Forbidden, stranger.Outcome);
        Assert.Equal("pending", await app.StatusOfAsync(task));

        var fetched = await app.WithAsync(async sp =>
        {
            var delivery = sp.GetRequiredService<TaskDelivery>();
            var result = await delivery.FetchAsync(agent, task, CancellationToken.None);
            return delivery.ToAgentResponse(result.Task!);
        });
        Assert.Equal("private-key-material", fetched.Credentials!["ssh.key"]);
        Assert.Equal("assigned", await app.StatusOfAsync(task));
        Assert.Equal(TaskOutcome.NotFound, (await app.WithAsync(sp => sp.GetRequiredService<TaskDelivery>().FetchAsync(agent, Guid.NewGuid(), CancellationToken.None))).Outcome);
        Assert.DoesNotContain("private-key-material", app.Logs.AllText);
    }

    /// <summary>A delivery is announced to the other replicas' watchers (a <c>task.changed</c> event), but the agent does
    /// not wait for that: with the announcement held, as a slow NOTIFY on a loaded database holds it, the heartbeat still
    /// hands the task out at once, and the announcement goes out once released.</summary>
    [Fact]
    public async Task A_delivered_task_goes_to_its_agent_without_waiting_for_its_announcement_to_be_sent()
    {
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, services: services =>
        {
            var cluster = services.Last(d => d.ServiceType == typeof(IClusterEvents));
            services.AddSingleton<IClusterEvents>(sp => new HoldingTaskChanges((IClusterEvents)cluster.ImplementationFactory!(sp), held.Task));
        });
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        var announced = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var _ = app.Services.GetRequiredService<IClusterEvents>().Subscribe(ClusterChannels.TaskChanged, p => announced.TrySetResult(p));

        var work = await app.TakeAsync(agent).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(task, Assert.Single(work.Tasks).TaskId);
        Assert.False(announced.Task.IsCompleted, "the delivery was announced while its announcement was held");
        held.SetResult();
        Assert.Equal(task, TaskChanges.Parse(await announced.Task.WaitAsync(TimeSpan.FromSeconds(30)))!.TaskId);
    }

    /// <summary>Holds every <c>task.changed</c> announcement until <paramref name="release"/> completes.</summary>
    private sealed class HoldingTaskChanges(IClusterEvents inner, Task release) : IClusterEvents
    {
        public async Task PublishAsync(string channel, string payload, CancellationToken cancellationToken)
        {
            if (channel == ClusterChannels.TaskChanged)
            {
                await release;
            }

            await inner.PublishAsync(channel, payload, cancellationToken);
        }

        public IDisposable Subscribe(string channel, Action<string> handler, Action? resync = null) => inner.Subscribe(channel, handler, resync);
    }
}
