using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orchestrator.Agents;
using Orchestrator.Audit;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

/// <summary>Default timings: heartbeat every 30 s, offline after 3 missed (90 s), monitor tick 5 s. Tests share one
/// fake-clock service per provider and judge only their own agents; restarts and replicas start their own.</summary>
public sealed class LivenessTests(ClockApps apps) : IClassFixture<ClockApps>
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(5);

    [SkippableTheory, BothProviders]
    public async Task An_agent_is_offline_after_three_missed_intervals_and_not_after_two(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var quiet = await app.SeedAgentAsync();

        await app.AdvanceAsync(2 * Interval + 5 * Tick);
        Assert.Equal(AgentStatus.Online, (await app.LoadAgentAsync(quiet)).Status);

        await app.AdvanceAsync(Tick);
        Assert.Equal(AgentStatus.Online, (await app.LoadAgentAsync(quiet)).Status);

        await app.AdvanceAsync(Tick);
        Assert.Equal(AgentStatus.Offline, (await app.LoadAgentAsync(quiet)).Status);
    }

    [SkippableTheory, BothProviders]
    public async Task Going_offline_is_logged_and_audited_once(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var name = SharedApps.Unique("quiet");
        var id = await app.SeedAgentAsync(name);

        await app.AdvanceAsync(3 * Interval + 2 * Tick);

        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=agent.status_changed&subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(1, audit.GetArrayLength());
        Assert.Equal("offline", audit[0].GetProperty("details").GetProperty("to").GetString());
        Assert.Equal("system", audit[0].GetProperty("actor").GetString());
        Assert.Single(app.Logs.Events, e =>
            e.RenderMessage().Contains($"\"{name}\"", StringComparison.Ordinal) && e.RenderMessage().Contains("is offline", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Two_replicas_mark_an_agent_offline_once()
    {
        var clock = AgentTestSupport.NewClock();
        await using var first = await TestApp.StartAsync(DatabaseProvider.Postgres, clock);
        await using var second = TestApp.StartOn(first.Storage, clock);
        var id = await first.SeedAgentAsync("quiet");
        // Both replicas' timers fire on this advance; the test's own checks race them as well.
        clock.Advance(3 * Interval + 2 * Tick);
        await Task.WhenAll(first.Monitor().CheckAsync(CancellationToken.None), second.Monitor().CheckAsync(CancellationToken.None));
        var due = first.Now();
        await Poll.Until(() => Task.FromResult(first.Monitor().LastCheck >= due && second.Monitor().LastCheck >= due), "both replicas' checks");

        Assert.Equal(AgentStatus.Offline, (await first.LoadAgentAsync(id)).Status);
        var audits = await first.QueryAsync(db => db.AuditEvents.CountAsync(e => e.Action == "agent.status_changed" && e.SubjectId == id.ToString()));
        Assert.Equal(1, audits);
        Assert.Equal(1, new[] { first, second }.Sum(app => app.Logs.Events.Count(e => e.RenderMessage().Contains("is offline", StringComparison.Ordinal))));
    }

    [SkippableTheory, BothProviders]
    public async Task After_the_service_was_down_agents_get_a_full_window_from_its_start(DatabaseProvider provider)
    {
        var clock = AgentTestSupport.NewClock();
        var storage = await TestStorage.CreateAsync(provider);
        using var _ = storage;
        Guid id;
        await using (var before = TestApp.StartOn(storage, clock))
        {
            id = await before.SeedAgentAsync("survivor");
        }

        clock.Advance(TimeSpan.FromHours(1));
        await using var after = TestApp.StartOn(storage, clock);

        await after.AdvanceAsync(3 * Interval - Tick);
        Assert.Equal(AgentStatus.Online, (await after.LoadAgentAsync(id)).Status);

        await after.AdvanceAsync(Tick);
        Assert.Equal(AgentStatus.Offline, (await after.LoadAgentAsync(id)).Status);
    }

    [SkippableTheory, BothProviders]
    public async Task An_offline_agent_that_heartbeats_is_online_at_once(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync();
        await app.AdvanceAsync(3 * Interval + 2 * Tick);
        Assert.Equal(AgentStatus.Offline, (await app.LoadAgentAsync(id)).Status);

        Assert.True(await app.HeartbeatAsync(id, AgentTestSupport.Healthy()));

        var agent = await app.LoadAgentAsync(id);
        Assert.Equal(AgentStatus.Online, agent.Status);
        Assert.Equal(app.Now(), agent.LastHeartbeat!.Value, TimeSpan.FromMilliseconds(1));
    }

    [SkippableFact]
    public async Task A_heartbeat_buffered_when_the_monitor_runs_keeps_the_agent_online()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync();
        await app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        await app.AdvanceAsync(3 * Interval - Tick);

        // Late, but inside its window, and not yet written when the monitor looks.
        Assert.True(await app.HeartbeatAsync(id, AgentTestSupport.Healthy()));
        await app.AdvanceAsync(2 * Tick);

        Assert.Equal(AgentStatus.Online, (await app.LoadAgentAsync(id)).Status);
    }

    /// <summary>A heartbeat that must read the database before it is applied (this replica does not hold the agent's
    /// state: another replica changed the agent, or cluster events were resynchronised) and waits there on a locked
    /// table counts from when it arrived: the check that runs meanwhile, after the window of the heartbeat before has
    /// closed, does not mark the agent offline. Before, it did: a CI run saw an agent that heartbeated all along marked
    /// offline during a database stall.</summary>
    [SkippableFact]
    public async Task A_heartbeat_waiting_for_a_locked_table_counts_for_liveness_from_when_it_arrived()
    {
        var app = await apps.For(DatabaseProvider.Postgres);
        var id = await app.SeedAgentAsync();
        Assert.True(await app.HeartbeatAsync(id, AgentTestSupport.Healthy()));
        await app.AdvanceAsync(Interval);
        app.Services.GetRequiredService<AgentStateCache>().Forget(id);

        await using var locker = new NpgsqlConnection(app.Storage.ConnectionString);
        await locker.OpenAsync();
        await using var stall = await locker.BeginTransactionAsync();
        await using (var lockAgents = new NpgsqlCommand("""LOCK TABLE "Agents" IN ACCESS EXCLUSIVE MODE""", locker, stall))
        {
            await lockAgents.ExecuteNonQueryAsync();
        }

        var heartbeat = app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        await ASessionWaitsForTheLockAsync(app, "", "the heartbeat's read of the agent");
        // Past the window of the heartbeat before (three intervals), not of the one waiting. The monitor's check waits
        // for the table too, in its UPDATE or in the flush it runs first (both name "StatusChangedAt", the read of the
        // waiting heartbeat does not).
        app.Time!.Advance(2 * Interval + 2 * Tick);
        var due = app.Now();
        await ASessionWaitsForTheLockAsync(app, "StatusChangedAt", "the liveness check, or the flush before it,");
        await stall.RollbackAsync();

        Assert.True(await heartbeat);
        await Poll.Until(() => Task.FromResult(app.Monitor().LastCheck >= due), "the liveness check after the lock");
        // Not marked offline and brought back by the flush after: not marked at all.
        Assert.DoesNotContain(app.Logs.Events, e => e.RenderMessage().Contains($"({id}) is offline", StringComparison.Ordinal));
        Assert.Equal(AgentStatus.Online, (await app.LoadAgentAsync(id)).Status);
    }

    private static async Task ASessionWaitsForTheLockAsync(TestApp app, string naming, string what)
    {
        await using var observer = new NpgsqlConnection(app.Storage.ConnectionString);
        await observer.OpenAsync();
        await using var waiting = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, @naming) > 0",
            observer);
        waiting.Parameters.AddWithValue("naming", naming);
        await Poll.Until(async () => (long)(await waiting.ExecuteScalarAsync())! > 0, $"{what} to wait for the locked table");
    }

    [SkippableFact]
    public async Task A_failing_check_does_not_stop_the_monitor()
    {
        var clock = AgentTestSupport.NewClock();
        var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        using var _ = storage;
        await using var app = TestApp.StartOn(storage, clock);
        var id = await app.SeedAgentAsync("quiet");
        await app.QueryAsync(db => db.Database.ExecuteSqlRawAsync("""ALTER TABLE "Agents" RENAME TO "AgentsAway" """));

        clock.Advance(3 * Interval + Tick);
        await Poll.Until(() => Task.FromResult(app.Logs.AllText.Contains("Liveness check failed", StringComparison.Ordinal)), "a failed check");
        await app.QueryAsync(db => db.Database.ExecuteSqlRawAsync("""ALTER TABLE "AgentsAway" RENAME TO "Agents" """));

        await app.AdvanceAsync(Tick);
        Assert.Equal(AgentStatus.Offline, (await app.LoadAgentAsync(id)).Status);
    }
}
