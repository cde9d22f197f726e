using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agents;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Reliability;

/// <summary>Defect 1 of issue 12: a restart marked the whole fleet offline, because the liveness grace window started
/// when the monitor was built, before migrations, the CA, revocations and the server certificate, and Kestrel started
/// last. With a slow start (a long migration) the window was over before any agent could call in.</summary>
public sealed class RestartTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan OfflineAfter = 3 * Interval;

    [SkippableTheory, BothProviders]
    public async Task A_start_slower_than_the_offline_window_marks_no_agent_offline_before_agents_can_call_in(DatabaseProvider provider)
    {
        var clock = AgentTestSupport.NewClock();
        using var storage = await TestStorage.CreateAsync(provider);
        var fleet = new List<Guid>();
        await using (var before = TestApp.StartOn(storage, clock))
        {
            for (var i = 0; i < 20; i++)
            {
                fleet.Add(await before.SeedAgentAsync($"fleet-{i:00}"));
            }
        }

        // The restart itself takes twice the offline window before Kestrel listens (a long migration): the monitor
        // runs a check at that time, before any agent could have reached the service.
        await using var after = TestApp.StartOn(storage, clock, services: services =>
            services.AddHostedService(sp => new SlowStart(clock, sp.GetRequiredService<LivenessMonitor>(), 2 * OfflineAfter)));

        var offline = await after.QueryAsync(db => db.Agents.CountAsync(a => fleet.Contains(a.Id) && a.Status == AgentStatus.Offline));
        Assert.Equal(0, offline);

        // Agents that call in within their window after the service accepts them stay online; one that does not is
        // offline once that window has passed.
        await after.AdvanceAsync(Interval);
        foreach (var id in fleet.Skip(1))
        {
            Assert.True(await after.HeartbeatAsync(id, AgentTestSupport.Healthy()));
        }

        await after.AdvanceAsync(OfflineAfter - Interval + TimeSpan.FromSeconds(5));
        Assert.Equal([fleet[0]], await after.QueryAsync(db => db.Agents.Where(a => fleet.Contains(a.Id) && a.Status == AgentStatus.Offline)
            .Select(a => a.Id).ToListAsync()));
    }

    /// <summary>Runs after every hosted service of the service and before Kestrel: the clock moves on by
    /// <paramref name="takes"/>, and the liveness monitor's check at that time is allowed to finish.</summary>
    private sealed class SlowStart(FakeTimeProvider clock, LivenessMonitor monitor, TimeSpan takes) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            clock.Advance(takes);
            var due = clock.GetUtcNow().UtcDateTime;
            await Poll.Until(() => monitor.LastCheck >= due, "the liveness check during the slow start");
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
