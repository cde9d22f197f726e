using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Npgsql;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Xunit.Abstractions;

namespace Orchestrator.Tests.Reliability;

/// <summary>Defect 2 of issue 12: with PostgreSQL stopped, every call that touched the database answered 500 "An error
/// occurred". A database that is down or locked is passing trouble: 503 problem details with Retry-After, and the
/// agent API keeps answering what it can from memory (a heartbeat is answered, its work waits for the next one).</summary>
public sealed class DatabaseOutageTests(ITestOutputHelper output)
{
    private static readonly object Healthy = new { status = "healthy", resourceUsage = new { cpu = 10.0, memory = 20.0, disk = 30.0 } };

    [SkippableFact]
    public async Task While_PostgreSQL_is_stopped_calls_that_need_it_answer_503_with_retry_after_and_heartbeats_still_answer()
    {
        await using var cluster = await PostgresCluster.StartOrSkipAsync();
        using var storage = TestStorage.OnCluster(cluster);
        await using var app = TestApp.StartOn(storage);
        var (agent, task, registrationToken) = await PrepareAsync(app);
        var admin = app.AdminClient();

        await cluster.StopAsync();

        await HeartbeatIsAnsweredWithoutWorkAsync(agent);
        await (await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id })).ShouldBeUnavailableAsync("create a task");
        await (await admin.PostJson("/api/v1/registration-tokens", new { maxUses = 1 })).ShouldBeUnavailableAsync("create a registration token");
        await (await RegisterAsync(app, registrationToken)).ShouldBeUnavailableAsync("register an agent");
        await (await admin.GetAsync("/api/v1/agents")).ShouldBeUnavailableAsync("list agents");
        await (await admin.GetAsync($"/api/v1/tasks/{task}")).ShouldBeUnavailableAsync("read a task");
        // Metrics are served from memory (issue 17), so operators keep seeing the fleet while the database is away.
        Assert.Equal(HttpStatusCode.OK, (await app.Client().GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await app.Client().GetAsync("/health/ready")).StatusCode);
        Assert.DoesNotContain(app.Logs.Events, e => e.RenderMessage().Contains("responded 500", StringComparison.Ordinal));

        await cluster.StartAgainAsync();
        await TheHeldBackTaskIsDeliveredAsync(agent, task);
    }

    /// <summary>Issue 25, item 3: a database that accepts connections and answers nothing. Measured from outside, with
    /// <c>Agents</c>, <c>Tasks</c> and <c>RegistrationTokens</c> locked by another session, operator calls hung as long
    /// as the lock was held. With the statement timeout (5 s by default) they answer 503 with Retry-After within 10 s;
    /// heartbeats keep being answered; the liveness monitor's ticks fail and retry rather than hang, and no agent goes
    /// offline for heartbeats that could not be written (the window is 3 s here, the stall longer); it heals by itself.</summary>
    [SkippableFact]
    public async Task While_PostgreSQL_tables_are_locked_by_another_session_calls_answer_503_within_ten_seconds_and_no_agent_goes_offline()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Postgres);
        // The service's own timeouts, as an operator who gives only the server, user and database gets them (the test
        // server's connection string sets longer ones for the other tests).
        var given = new NpgsqlConnectionStringBuilder(storage.ConnectionString);
        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?>
        {
            ["ConnectionStrings:Orchestrator"] =
                $"Host={given.Host};Port={given.Port};Username={given.Username};Password={given.Password};Database={given.Database}",
            ["Orchestrator:Agents:HeartbeatInterval"] = "00:00:01",
            ["Orchestrator:Agents:MissedHeartbeats"] = "3",
        });
        var (agent, task, _) = await PrepareAsync(app);
        var admin = app.AdminClient();
        using var stopBeating = new CancellationTokenSource();
        var heartbeating = HeartbeatEveryHalfSecondAsync(agent, stopBeating.Token);
        int LivenessFailures() => app.Logs.Events.Count(e => e.MessageTemplate.Text.StartsWith("Liveness check failed", StringComparison.Ordinal));
        var failuresBefore = LivenessFailures();

        TimeSpan[] took;
        DateTime stalledFrom, stalledUntil;
        await using (var locker = new NpgsqlConnection(storage.ConnectionString))
        {
            await locker.OpenAsync();
            await using var stall = await locker.BeginTransactionAsync();
            await using (var lockTables = new NpgsqlCommand(
                "LOCK TABLE \"Agents\", \"Tasks\", \"RegistrationTokens\" IN ACCESS EXCLUSIVE MODE", locker, stall))
            {
                await lockTables.ExecuteNonQueryAsync();
            }

            stalledFrom = DateTime.UtcNow;
            async Task<TimeSpan> UnavailableAsync(Func<Task<HttpResponseMessage>> call, string what)
            {
                var started = Stopwatch.StartNew();
                await (await call()).ShouldBeUnavailableAsync(what);
                return started.Elapsed;
            }

            // Bounded here so that, without the timeout, the test fails instead of waiting for the lock it holds.
            took = await Task.WhenAll(
                UnavailableAsync(() => admin.GetAsync("/api/v1/agents"), "list agents"),
                UnavailableAsync(() => admin.GetAsync($"/api/v1/tasks/{task}"), "read a task"),
                UnavailableAsync(() => admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id }), "create a task"),
                UnavailableAsync(() => admin.PostJson("/api/v1/registration-tokens", new { maxUses = 1 }), "create a registration token"))
                .WaitAsync(TimeSpan.FromSeconds(20));
            // The monitor meets the stall, gives up on its tick (at 5 s, past the 3 s window) and goes on ticking.
            await Poll.Until(() => LivenessFailures() > failuresBefore, "a liveness tick to give up on the stalled database",
                TimeSpan.FromSeconds(30));
            stalledUntil = DateTime.UtcNow;
            await stall.RollbackAsync();
        }

        // Healed by itself, and the agent, which heartbeated all along, never went offline.
        await Poll.Until(async () => (await admin.GetAsync("/api/v1/agents")).StatusCode == HttpStatusCode.OK, "the service to answer again");
        await (await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id })).ShouldBe(HttpStatusCode.Created);
        await stopBeating.CancelAsync();
        var beats = (await heartbeating).Where(b => b.SentAt >= stalledFrom && b.SentAt < stalledUntil).ToList();
        output.WriteLine($"stall {(stalledUntil - stalledFrom).TotalSeconds:F1} s; 503 after {string.Join(", ", took.Select(t => $"{t.TotalSeconds:F1} s"))}; " +
                         $"heartbeats sent during the stall: {string.Join(", ", beats.Select(b => $"{(int)b.Status} in {b.Took.TotalSeconds:F1} s"))}");
        Assert.All(took, t => Assert.True(t < TimeSpan.FromSeconds(10), $"answered after {t}"));
        Assert.NotEmpty(beats);
        Assert.All(beats, b => Assert.True(b is { Status: HttpStatusCode.OK } && b.Took < TimeSpan.FromSeconds(10), $"heartbeat {b}"));
        var details = await (await admin.GetAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("online", details.GetProperty("status").GetString());
        Assert.DoesNotContain(app.Logs.Events, e => e.MessageTemplate.Text.Contains("is offline", StringComparison.Ordinal));
    }

    /// <summary>SQLite's file held by another writer (a backup tool, a stuck process): every call that writes waits out
    /// the busy timeout and answers 503; reads carry on, as SQLite lets them.</summary>
    [Fact]
    public async Task While_the_SQLite_file_is_locked_by_another_writer_writes_answer_503_with_retry_after_and_heartbeats_still_answer()
    {
        using var storage = await TestStorage.CreateAsync(Hosting.DatabaseProvider.Sqlite);
        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?>
        {
            // One second instead of thirty, so that each write gives up quickly.
            ["ConnectionStrings:Orchestrator"] = $"Data Source={Outages.SqliteFile(storage)};Default Timeout=1",
        });
        var (agent, task, registrationToken) = await PrepareAsync(app);
        var admin = app.AdminClient();

        using (new Outages.SqliteWriteLock(storage))
        {
            await HeartbeatIsAnsweredWithoutWorkAsync(agent);
            await (await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id })).ShouldBeUnavailableAsync("create a task");
            await (await admin.PostJson("/api/v1/registration-tokens", new { maxUses = 1 })).ShouldBeUnavailableAsync("create a registration token");
            await (await RegisterAsync(app, registrationToken)).ShouldBeUnavailableAsync("register an agent");
            await (await admin.GetAsync($"/api/v1/tasks/{task}")).ShouldBe(HttpStatusCode.OK);
        }

        await TheHeldBackTaskIsDeliveredAsync(agent, task);
    }

    /// <summary>An agent that has heartbeated, a task for it not yet delivered, and an unused registration token.</summary>
    private static async Task<(TestAgent Agent, Guid Task, string RegistrationToken)> PrepareAsync(TestApp app)
    {
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", Healthy)).ShouldBe(HttpStatusCode.OK);
        var task = (await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id }))
            .ShouldBe(HttpStatusCode.Created)).GetProperty("taskId").GetGuid();
        return (agent, task, await app.CreateRegistrationTokenAsync());
    }

    /// <summary>An agent's heartbeats, two a second on its own timer whether or not the last one was answered yet, until
    /// stopped; each one's answer and how long it took.</summary>
    private static async Task<(HttpStatusCode Status, TimeSpan Took, DateTime SentAt)[]> HeartbeatEveryHalfSecondAsync(
        TestAgent agent, CancellationToken stop)
    {
        async Task<(HttpStatusCode, TimeSpan, DateTime)> BeatAsync()
        {
            var sentAt = DateTime.UtcNow;
            var started = Stopwatch.StartNew();
            var response = await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", Healthy);
            return (response.StatusCode, started.Elapsed, sentAt);
        }

        var beats = new List<Task<(HttpStatusCode, TimeSpan, DateTime)>>();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        do
        {
            beats.Add(BeatAsync());
        }
        while (await WaitForTickAsync(timer, stop));

        return await Task.WhenAll(beats);
    }

    private static async Task<bool> WaitForTickAsync(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static Task<HttpResponseMessage> RegisterAsync(TestApp app, string registrationToken) =>
        app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(
            new { name = SharedApps.Unique("late"), version = "1.0.0", capabilities = new[] { "docker" } }, registrationToken));

    private static async Task HeartbeatIsAnsweredWithoutWorkAsync(TestAgent agent)
    {
        var work = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", Healthy)).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(0, work.GetProperty("tasks").GetArrayLength());
    }

    /// <summary>Back: the task the outage held back goes out with a following heartbeat.</summary>
    private static async Task TheHeldBackTaskIsDeliveredAsync(TestAgent agent, Guid task)
    {
        JsonElement delivered = default;
        await Poll.Until(async () =>
        {
            var response = await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", Healthy);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return false;
            }

            delivered = await response.ShouldBe(HttpStatusCode.OK);
            return delivered.GetProperty("tasks").GetArrayLength() == 1;
        }, "the held-back task to be delivered after the outage", TimeSpan.FromSeconds(30));
        Assert.Equal(task, delivered.GetProperty("tasks")[0].GetProperty("taskId").GetGuid());
    }
}
