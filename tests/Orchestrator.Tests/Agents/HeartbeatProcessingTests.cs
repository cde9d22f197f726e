using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Agents;
using Orchestrator.Audit;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

/// <summary>Heartbeats on a fake clock. The tests share one such service per provider and look only at their own agents;
/// the ones that count every agent's row or must not meet a flush, and the restart, start their own.</summary>
public sealed class HeartbeatProcessingTests(ClockApps apps) : IClassFixture<ClockApps>
{
    [SkippableTheory, BothProviders]
    public async Task Degraded_and_healthy_heartbeats_switch_the_status_at_once_and_are_audited(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync();

        await app.HeartbeatAsync(id, AgentTestSupport.Degraded());
        Assert.Equal(AgentStatus.Degraded, (await app.LoadAgentAsync(id)).Status);

        await app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        Assert.Equal(AgentStatus.Online, (await app.LoadAgentAsync(id)).Status);

        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=agent.status_changed&subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["online", "degraded"], audit.EnumerateArray().Select(e => e.GetProperty("details").GetProperty("to").GetString()));
    }

    [SkippableTheory, BothProviders]
    public async Task Routine_heartbeats_are_coalesced_and_written_within_a_flush(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider, AgentTestSupport.NewClock());
        var ids = new List<Guid>();
        for (var i = 0; i < 20; i++)
        {
            ids.Add(await app.SeedAgentAsync($"agent-{i:00}"));
        }

        var seeded = app.Now();
        app.Time!.Advance(TimeSpan.FromMilliseconds(500));
        for (var round = 0; round < 10; round++)
        {
            foreach (var id in ids)
            {
                Assert.True(await app.HeartbeatAsync(id, AgentTestSupport.Healthy(cpu: round, runningTasks: round)));
            }
        }

        // Nothing was committed per heartbeat, yet reads on this replica already show the newest values.
        Assert.True(await app.QueryAsync(db => db.Agents.AllAsync(a => a.LastHeartbeat == seeded)));
        var listed = await (await app.AdminClient().GetAsync("/api/v1/agents?limit=1")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(9, listed[0].GetProperty("resourceUsage").GetProperty("cpu").GetDouble());

        var heartbeatAt = app.Now();
        app.Time.Advance(TimeSpan.FromMilliseconds(500));
        await Poll.Until(
            () => app.QueryAsync(db => db.Agents.AllAsync(a => a.LastHeartbeat == heartbeatAt && a.CpuPercent == 9 && a.RunningTasks == 9)),
            "the flush");
    }

    [SkippableTheory, BothProviders]
    public async Task A_heartbeat_without_resource_values_keeps_the_newest_reported_ones_whether_buffered_or_committed(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync();
        var bare = new Heartbeat(AgentStatus.Online, null, null, null, null, null, null);
        app.Time!.Advance(TimeSpan.FromMilliseconds(100));

        await app.HeartbeatAsync(id, AgentTestSupport.Healthy(cpu: 15.5, runningTasks: 2));
        app.Time.Advance(TimeSpan.FromSeconds(2));
        await Poll.Until(() => app.QueryAsync(db => db.Agents.AnyAsync(a => a.Id == id && a.CpuPercent == 15.5)), "the first flush");
        await app.HeartbeatAsync(id, AgentTestSupport.Healthy(cpu: 20, runningTasks: 3));
        await app.HeartbeatAsync(id, bare);
        app.Time.Advance(TimeSpan.FromSeconds(2));
        await Poll.Until(() => app.QueryAsync(db => db.Agents.AnyAsync(a => a.Id == id && a.CpuPercent == 20 && a.RunningTasks == 3)), "the buffered values to be flushed");

        await app.HeartbeatAsync(id, AgentTestSupport.Healthy(cpu: 30, runningTasks: 4));
        await app.HeartbeatAsync(id, bare with { Status = AgentStatus.Degraded });

        var agent = await app.LoadAgentAsync(id);
        Assert.Equal(AgentStatus.Degraded, agent.Status);
        Assert.Equal(30, agent.CpuPercent);
        Assert.Equal(4, agent.RunningTasks);
    }

    [SkippableFact]
    public async Task A_status_change_is_visible_at_once_while_routine_values_wait_for_the_flush()
    {
        // A host of its own: where the shared clock stands against the buffer's flush timer is not known, and this test
        // must not see a flush.
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, AgentTestSupport.NewClock());
        var id = await app.SeedAgentAsync();
        var seeded = app.Now();
        app.Time!.Advance(TimeSpan.FromMilliseconds(100));

        await app.HeartbeatAsync(id, AgentTestSupport.Healthy(cpu: 42));
        var routine = await app.LoadAgentAsync(id);
        Assert.Equal(seeded, routine.LastHeartbeat);

        await app.HeartbeatAsync(id, AgentTestSupport.Degraded());
        var changed = await app.LoadAgentAsync(id);
        Assert.Equal(AgentStatus.Degraded, changed.Status);
        Assert.Equal(app.Now(), changed.LastHeartbeat);
    }

    [SkippableTheory, BothProviders]
    public async Task Reported_capabilities_replace_the_stored_ones_and_absent_ones_keep_them(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync(capabilities: ["docker"]);

        await app.HeartbeatAsync(id, AgentTestSupport.Healthy(capabilities: ["ssh", "compose"]));
        Assert.Equal(["compose", "ssh"], (await app.LoadAgentAsync(id)).Capabilities.Select(c => c.Name).Order());

        await app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        Assert.Equal(["compose", "ssh"], (await app.LoadAgentAsync(id)).Capabilities.Select(c => c.Name).Order());
    }

    [SkippableFact]
    public async Task An_operator_update_holds_until_the_agent_reports_capabilities_again()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync(capabilities: ["docker"]);
        await app.HeartbeatAsync(id, AgentTestSupport.Healthy(capabilities: ["docker"]));

        await (await app.AdminClient().PutAsync($"/api/v1/agents/{id}",
            new StringContent("""{"capabilities":["ssh"]}""", System.Text.Encoding.UTF8, "application/json"))).ShouldBe(HttpStatusCode.OK);
        await app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        Assert.Equal(["ssh"], (await app.LoadAgentAsync(id)).Capabilities.Select(c => c.Name));

        await app.HeartbeatAsync(id, AgentTestSupport.Healthy(capabilities: ["docker"]));
        Assert.Equal(["docker"], (await app.LoadAgentAsync(id)).Capabilities.Select(c => c.Name));
    }

    [SkippableTheory, BothProviders]
    public async Task A_flush_brings_back_an_agent_another_replica_marked_offline_behind_this_ones_back(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync();
        await app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        app.Time!.Advance(TimeSpan.FromSeconds(1));
        await app.Services.GetRequiredService<HeartbeatBuffer>().FlushAsync(CancellationToken.None);

        // Another replica's monitor, as this replica's cache never hears about it.
        await app.QueryAsync(db => db.Agents.Where(a => a.Id == id)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, AgentStatus.Offline).SetProperty(a => a.StatusChangedAt, a => a.LastHeartbeat!.Value)));
        app.Time.Advance(TimeSpan.FromSeconds(1));
        await app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        await app.Services.GetRequiredService<HeartbeatBuffer>().FlushAsync(CancellationToken.None);

        Assert.Equal(AgentStatus.Online, (await app.LoadAgentAsync(id)).Status);
        Assert.Equal(1, await app.QueryAsync(db => db.AuditEvents.CountAsync(e => e.Action == "agent.status_changed" && e.SubjectId == id.ToString())));
    }

    [SkippableFact]
    public async Task Buffered_heartbeats_are_written_when_the_service_stops()
    {
        var clock = AgentTestSupport.NewClock();
        var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        using var _ = storage;
        Guid id;
        DateTime heartbeatAt;
        await using (var app = TestApp.StartOn(storage, clock))
        {
            id = await app.SeedAgentAsync("agent-1");
            clock.Advance(TimeSpan.FromMilliseconds(300));
            heartbeatAt = app.Now();
            await app.HeartbeatAsync(id, AgentTestSupport.Healthy());
        }

        await using var restarted = TestApp.StartOn(storage, clock);
        Assert.Equal(heartbeatAt, (await restarted.LoadAgentAsync(id)).LastHeartbeat);
    }
}
