using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Reliability;

/// <summary>Defect 2 of issue 12: with PostgreSQL stopped, every call that touched the database answered 500 "An error
/// occurred". A database that is down or locked is passing trouble: 503 problem details with Retry-After, and the
/// agent API keeps answering what it can from memory (a heartbeat is answered, its work waits for the next one). A
/// database that stalls instead of failing: <see cref="DatabaseStallTests"/>.</summary>
public sealed class DatabaseOutageTests
{
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
        EachFailureIsLoggedOnceAsAWarning(app);
    }

    /// <summary>SQLite's file held by another writer (a backup tool, a stuck process): every call that writes waits out
    /// the busy timeout and answers 503; reads carry on, as SQLite lets them. The first heartbeat that tries to hand out
    /// the waiting task finds the database not answering; the heartbeats after it do not ask it again (one probe every
    /// <see cref="DatabaseAvailability.RetryEvery"/>), so they neither wait out the busy timeout nor hold a connection.</summary>
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

        using var roundTrips = new MetricCollector<int>(
            app.Services.GetRequiredService<IMeterFactory>(), Telemetry.Name, "orchestrator.agent.heartbeat.db.round_trips");
        using (new Outages.SqliteWriteLock(storage))
        {
            await HeartbeatIsAnsweredWithoutWorkAsync(agent);
            await HeartbeatIsAnsweredWithoutWorkAsync(agent);
            await HeartbeatIsAnsweredWithoutWorkAsync(agent);
            Assert.True(app.Logs.Events.Any(e => e.MessageTemplate.Text.StartsWith("The database did not answer", StringComparison.Ordinal)),
                "the failed hand-out was not logged as the database not answering");
            var asked = roundTrips.GetMeasurementSnapshot().Select(m => m.Value).ToList();
            Assert.True(asked is [> 0, 0, 0], $"statements sent by each heartbeat: {string.Join(", ", asked)}");
            await (await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id })).ShouldBeUnavailableAsync("create a task");
            await (await admin.PostJson("/api/v1/registration-tokens", new { maxUses = 1 })).ShouldBeUnavailableAsync("create a registration token");
            await (await RegisterAsync(app, registrationToken)).ShouldBeUnavailableAsync("register an agent");
            await (await admin.GetAsync($"/api/v1/tasks/{task}")).ShouldBe(HttpStatusCode.OK);
        }

        await TheHeldBackTaskIsDeliveredAsync(agent, task);
        EachFailureIsLoggedOnceAsAWarning(app);
    }

    /// <summary>Each 503 is logged once, by the service, as a warning naming the failure: EF Core's own error line with a
    /// stack trace for the same failure is not written above it.</summary>
    private static void EachFailureIsLoggedOnceAsAWarning(TestApp app)
    {
        Assert.DoesNotContain(app.Logs.Events, e => e.Level >= Serilog.Events.LogEventLevel.Error &&
            e.Properties.TryGetValue("SourceContext", out var source) && source.ToString().Contains("Microsoft.EntityFrameworkCore", StringComparison.Ordinal));
        Assert.Contains(app.Logs.Events, e => e.Level == Serilog.Events.LogEventLevel.Warning &&
            e.MessageTemplate.Text.Contains("answered 503", StringComparison.Ordinal));
    }

    /// <summary>An agent that has heartbeated, a task for it not yet delivered, and an unused registration token.</summary>
    private static async Task<(TestAgent Agent, Guid Task, string RegistrationToken)> PrepareAsync(TestApp app)
    {
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", Outages.Healthy)).ShouldBe(HttpStatusCode.OK);
        return (agent, await Outages.CreateTaskAsync(app, agent), await app.CreateRegistrationTokenAsync());
    }

    private static Task<HttpResponseMessage> RegisterAsync(TestApp app, string registrationToken) =>
        app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(
            new { name = SharedApps.Unique("late"), version = "1.0.0", capabilities = new[] { "docker" } }, registrationToken));

    private static async Task HeartbeatIsAnsweredWithoutWorkAsync(TestAgent agent)
    {
        var work = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", Outages.Healthy)).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(0, work.GetProperty("tasks").GetArrayLength());
    }

    /// <summary>Back: the task the outage held back goes out with a following heartbeat.</summary>
    private static async Task TheHeldBackTaskIsDeliveredAsync(TestAgent agent, Guid task)
    {
        JsonElement delivered = default;
        await Poll.Until(async () =>
        {
            var response = await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", Outages.Healthy);
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
