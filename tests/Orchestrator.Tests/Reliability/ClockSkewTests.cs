using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agents;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Reliability;

/// <summary>Two replicas on one PostgreSQL database, replica B's clock 30 s ahead of A's (as a replica whose NTP failed):
/// both keep the database's time, so B does not mark offline an agent that heartbeats on time through A, and A marks
/// offline an agent whose last heartbeat B stamped, one window after it, not 30 s later. The clocks are fake and move
/// together, one liveness tick at a time, so each replica's decisions are read at known times.</summary>
public sealed class ClockSkewTests
{
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);

    private static readonly Dictionary<string, string?> Settings = new()
    {
        // Fake clocks stand still while a replica starts and the database's does not: each replica is aligned as of its
        // own start, seconds apart. A 15 s window keeps those seconds from deciding anything.
        ["Orchestrator:Agents:HeartbeatInterval"] = "00:00:05",
        ["Orchestrator:Agents:MissedHeartbeats"] = "3",
        ["Orchestrator:Database:AlignClock"] = "true",
    };

    [SkippableFact]
    public async Task Replicas_whose_clocks_differ_judge_liveness_by_the_databases_clock_and_the_one_that_is_off_says_so()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Postgres);
        var now = DateTimeOffset.UtcNow;
        var sinceNow = Stopwatch.StartNew();
        await using var a = TestApp.StartOn(storage, new FakeTimeProvider(now), Settings);
        await using var b = TestApp.StartOn(storage, new FakeTimeProvider(now + Skew), Settings);
        var started = sinceNow.Elapsed;
        var window = a.Monitor().TickInterval * 3;
        // Each replica takes the database's time as of its own start, somewhere within `started` of `now`; the bounds
        // below are that long (plus half a second for reading two clocks), however long the starts took under load.
        var reading = TimeSpan.FromSeconds(0.5);
        Assert.True(started + reading < Skew, $"The two replicas took {started} to start: too long to tell a {Skew} skew apart.");

        var offsetOfB = b.Services.GetRequiredService<DatabaseClock>().Offset;
        // B's fake clock stands still while B starts: it is 30 s ahead, less the seconds until B took the database's time.
        Assert.InRange(offsetOfB, -Skew - reading, -Skew + started + reading);
        // Both keep the database's time: apart by at most the seconds between their starts, not by the 30 s of B's clock.
        Assert.InRange((a.Now() - b.Now()).Duration(), TimeSpan.Zero, started + reading);
        Assert.Contains(b.Logs.Events, e => e.MessageTemplate.Text.StartsWith("This replica's clock differs from the database's", StringComparison.Ordinal));
        // A's fake clock stood still while B started; a real one would have run on. Bring it to the time B keeps, so what
        // follows does not depend on how long B's start took (under load it took long enough for B to find A's agent late).
        if (b.Now() > a.Now())
        {
            a.Time!.Advance(b.Now() - a.Now());
        }

        // Both replicas past their start-up grace window, an agent heartbeating through A every tick for two windows.
        var viaA = await a.SeedAgentAsync();
        for (var tick = 0; tick < 3 * 3; tick++)
        {
            Assert.True(await a.HeartbeatAsync(viaA, AgentTestSupport.Healthy()));
            await TickAsync(a, b);
        }

        Assert.Equal(AgentStatus.Online, (await a.LoadAgentAsync(viaA)).Status);

        // An agent whose last heartbeat went through B, then B gone: A marks it offline once that heartbeat's window has
        // closed (stamped by B's own clock, it would look 30 s younger to A, and stay online that much longer).
        var viaB = await b.SeedAgentAsync();
        Assert.True(await b.HeartbeatAsync(viaB, AgentTestSupport.Healthy()));
        await b.Services.GetRequiredService<HeartbeatBuffer>().FlushAsync(CancellationToken.None);
        await b.DisposeAsync();
        for (var moved = TimeSpan.Zero; moved <= window + a.Monitor().TickInterval; moved += a.Monitor().TickInterval)
        {
            await TickAsync(a);
        }

        Assert.Equal(AgentStatus.Offline, (await a.LoadAgentAsync(viaB)).Status);
    }

    /// <summary>The replicas' clocks one liveness tick on, then each replica's check at that time done.</summary>
    private static async Task TickAsync(params TestApp[] replicas)
    {
        foreach (var app in replicas)
        {
            app.Time!.Advance(app.Monitor().TickInterval);
        }

        foreach (var app in replicas)
        {
            var due = app.Now();
            await Poll.Until(() => app.Monitor().LastCheck >= due, $"the liveness check at {due:O}", TimeSpan.FromSeconds(30));
        }
    }
}
