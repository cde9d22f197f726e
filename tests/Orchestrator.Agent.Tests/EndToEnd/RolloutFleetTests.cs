using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Agent.Simulation;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Xunit.Abstractions;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>A rollout over a fleet of 200 simulated agents (the agent's own simulator: one token, a task stream each,
/// every task completed on arrival), in batches of 10 %. It runs after the other classes but the docs
/// pages (<see cref="HeavyLast"/>).</summary>
[Collection(HeavyLast.Name)]
public sealed class RolloutFleetTests(ITestOutputHelper output)
{
    private const int Fleet = 200;

    [SkippableFact]
    public async Task Two_hundred_agents_in_batches_of_ten_percent_each_get_one_task_and_each_batch_follows_the_last_at_once()
    {
        await HeavyLast.WaitForTheOthersAsync(GetType());
        // Heartbeats at the default 30 s (the fleet's tasks come over its streams), and a driver whose safety-net pass is
        // a minute away: a batch that started within seconds of the one before was started by the task events.
        await using var world = await AgentWorld.StartAsync(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["Orchestrator:Agents:HeartbeatInterval"] = "00:00:30",
            ["Orchestrator:Agents:MissedHeartbeats"] = "3",
            ["Orchestrator:RateLimits:RegistrationsPerMinute"] = "100000",
            ["Orchestrator:Rollouts:DriverInterval"] = "00:01:00",
        });
        var token = (await File.ReadAllTextAsync(await world.TokenFileAsync(maxUses: Fleet))).Trim();
        using var stop = new CancellationTokenSource();
        var simulator = new FleetSimulator(world.App.BaseAddress, ServerTrust.FromFile(world.CaFile), token, Fleet, "fleet", NullLogger.Instance);
        var simulation = Task.Run(() => simulator.RunAsync(stop.Token));
        await Poll.Until(async () => (await world.Operators.Agents.ListAsync(limit: 1000)).Items.Count == Fleet || simulation.IsCompleted,
            $"{Fleet} simulated agents to register", TimeSpan.FromSeconds(120));
        // Every agent must hold its stream before its batch: a task created for an agent still connecting would wait
        // for its next heartbeat, and the test would measure heartbeats.
        await Poll.Until(() => simulator.Connected == Fleet, $"{Fleet} task streams", TimeSpan.FromSeconds(60));

        var rollout = await world.Operators.Rollouts.CreateAsync(new CreateRolloutRequest("fleet", "agent.noop", null, null, null, null,
            new TaskSelector(null, new() { ["simulated"] = "true" }), null, new RolloutStrategy(null, 10, null, null, null, null), null));
        var events = await world.Operators.Rollouts.FollowAsync(rollout.RolloutId).ToListAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(120));
        var done = await world.Operators.Rollouts.GetAsync(rollout.RolloutId);
        var tasks = await world.Operators.Tasks.ListAllByRolloutAsync(rollout.RolloutId).ToListAsync();
        await stop.CancelAsync();
        await simulation.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(RolloutStatus.Succeeded, done.Status);
        Assert.Equal((Fleet, Fleet, 10), (done.Counts.Total, done.Counts.Succeeded, done.BatchCount));
        Assert.Equal(Fleet, tasks.Select(t => t.AgentId).Distinct().Count());
        Assert.Equal(Fleet, tasks.Count);
        var batches = events.Where(e => e.Batch is not null).Select(e => e.Batch!).ToList();
        Assert.Equal(Enumerable.Range(1, 10), batches.Select(b => b.Batch));
        Assert.All(batches, b => Assert.Equal(20, b.Targets));

        // A batch ends with its last task; the next starts when the driver hears of it.
        var ends = events.Where(e => e.Target?.Status == RolloutTargetStatus.Succeeded).GroupBy(e => e.Target!.Batch)
            .ToDictionary(g => g.Key, g => g.Max(e => e.Target!.At));
        var took = batches.Select(b => ends[b.Batch] - b.At).ToList();
        var gaps = batches.Skip(1).Select(b => b.At - ends[b.Batch - 1]).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Fleet} agents, 10 batches: batch (start to last task end) mean {took.Average(t => t.TotalMilliseconds):F0} ms, " +
            $"max {took.Max().TotalMilliseconds:F0} ms; next batch after the last end mean {gaps.Average(g => g.TotalMilliseconds):F0} ms, " +
            $"max {gaps.Max().TotalMilliseconds:F0} ms; whole rollout {(done.CompletedAt - done.StartedAt)!.Value.TotalSeconds:F1} s"));
        Assert.All(gaps, gap => Assert.True(gap < TimeSpan.FromSeconds(20), $"A batch started {gap} after the one before ended."));
    }
}
