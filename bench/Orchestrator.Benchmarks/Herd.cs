using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Npgsql;

namespace Orchestrator.Benchmarks;

/// <summary>The reconnecting herd: N agents hold task streams on two replicas, either behind a round-robin load balancer
/// (each connection attempt goes to the next replica, as a balancer without health checks sends it) or each bound to its
/// replica (sticky: per-replica DNS, source affinity: the herd waits for that replica); one replica is stopped
/// (SIGTERM, as a rolling restart does) and started again while tasks keep being created through the other. Measures how
/// long the agents it held take to be back on a stream, what their attempts were answered, the database connections
/// both replicas held at the peak, and whether every task created meanwhile reached its agent, and only its agent.</summary>
public static class Herd
{
    public sealed record Result(
        bool Sticky, int Agents, int OnRestarted, List<double> BackSeconds, int NotBack, double RestartSeconds, long Refused, long Answered503,
        long Other5xx, int PeakConnections, long Errors53300, int Tasks, int Delivered, int DeliveredTwice, int WrongAgent);

    public static async Task<Result> RunAsync(PostgresCluster postgres, string database, List<ServiceProcess> replicas, Settings settings,
        bool sticky)
    {
        var agents = await Fleet.RegisterAsync(replicas[0].Address, settings.Agents);
        var addresses = replicas.Select(r => r.Address).ToArray();
        var deliveries = new ConcurrentDictionary<Guid, ConcurrentBag<Guid>>();
        var connectedAt = new ConcurrentDictionary<Guid, long>();
        var on = new ConcurrentDictionary<Guid, int>();
        long refused = 0, answered503 = 0, other5xx = 0;
        using var stopping = new CancellationTokenSource();

        async Task HoldAsync(Fleet.Agent agent, int first)
        {
            var next = first;
            for (var attempt = 0; !stopping.IsCancellationRequested;)
            {
                var replica = sticky ? first % addresses.Length : next++ % addresses.Length;
                using var socket = new ClientWebSocket();
                socket.Options.ClientCertificates = [agent.Certificate];
                socket.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
                socket.Options.SetRequestHeader("Authorization", $"Bearer {agent.Token}");
                socket.Options.CollectHttpResponseDetails = true;
                try
                {
                    await socket.ConnectAsync(new Uri($"wss://{addresses[replica].Authority}/api/v1/agents/{agent.Id}/task-stream"), stopping.Token);
                    on[agent.Id] = replica;
                    connectedAt[agent.Id] = Stopwatch.GetTimestamp();
                    attempt = 0;
                    await Streams.ReadAsync(socket, (id, _) => deliveries.GetOrAdd(id, _ => []).Add(agent.Id), stopping.Token);
                }
                catch (Exception) when (!stopping.IsCancellationRequested)
                {
                    var status = (int)socket.HttpStatusCode;
                    if (status == 0)
                    {
                        Interlocked.Increment(ref refused);
                    }
                    else if (status == 503)
                    {
                        Interlocked.Increment(ref answered503);
                    }
                    else if (status >= 500)
                    {
                        Interlocked.Increment(ref other5xx);
                    }
                }
                catch (Exception)
                {
                    return;
                }

                // The reference agent's reconnect (AgentListener.StreamReconnectCeiling): full jitter, 1 s doubling to 10 s, plus 100 ms.
                attempt++;
                var ceiling = Math.Min(10_000, 1000 * Math.Pow(2, Math.Min(attempt - 1, 10)));
                await Task.Delay(TimeSpan.FromMilliseconds((Random.Shared.NextDouble() * ceiling) + 100), stopping.Token)
                    .ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        var holders = agents.Select((a, i) => Task.Run(() => HoldAsync(a, i))).ToList();
        await WaitUntilAsync(() => connectedAt.Count == agents.Count, TimeSpan.FromSeconds(60));
        Console.WriteLine($"  herd: {connectedAt.Count} of {agents.Count} streams open on {replicas.Count} replicas");

        var peak = 0;
        var sampling = Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(postgres.ConnectionString("postgres"));
            await connection.OpenAsync();
            while (!stopping.IsCancellationRequested)
            {
                await using var count = new NpgsqlCommand($"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'", connection);
                peak = Math.Max(peak, (int)(long)(await count.ExecuteScalarAsync())!);
                await Task.Delay(200).ConfigureAwait(false);
            }
        });

        // Tasks for random agents through the replica that stays up, before, during and after the restart.
        var created = new ConcurrentDictionary<Guid, Guid>();
        using var creating = new CancellationTokenSource();
        using var operators = Agents.NewClient(replicas[1].Address, null, null, ServiceProcess.AdminKey);
        var creator = Task.Run(async () =>
        {
            while (!creating.IsCancellationRequested)
            {
                var agent = agents[Random.Shared.Next(agents.Count)];
                var answer = await operators.PostAsJsonAsync("/api/v1/tasks", new { taskType = "bench.noop", agentId = agent.Id, timeout = 3600 });
                if (answer.StatusCode == HttpStatusCode.Created)
                {
                    created[(await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("taskId").GetGuid()] = agent.Id;
                }

                await Task.Delay(100).ConfigureAwait(false);
            }
        });

        await Task.Delay(TimeSpan.FromSeconds(3));
        var restarted = on.Where(o => o.Value == 0).Select(o => o.Key).ToHashSet();
        var stoppedAt = Stopwatch.GetTimestamp();
        await replicas[0].RestartAsync();
        var restartSeconds = Stopwatch.GetElapsedTime(stoppedAt).TotalSeconds;
        bool Back(Guid id) => connectedAt.TryGetValue(id, out var at) && at > stoppedAt;
        await WaitUntilAsync(() => restarted.All(Back), TimeSpan.FromSeconds(60));
        await Task.Delay(TimeSpan.FromSeconds(3));
        await creating.CancelAsync();
        await creator;
        await WaitUntilAsync(() => created.Keys.All(deliveries.ContainsKey), TimeSpan.FromSeconds(30));

        await stopping.CancelAsync();
        await Task.WhenAll(holders.Append(sampling).Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        foreach (var agent in agents)
        {
            agent.Client.Dispose();
        }

        var back = restarted.Where(Back).Select(id => Stopwatch.GetElapsedTime(stoppedAt, connectedAt[id]).TotalSeconds).ToList();
        var result = new Result(sticky, agents.Count, restarted.Count, back, restarted.Count - back.Count, restartSeconds,
            refused, answered503, other5xx, peak, replicas.Sum(r => r.Errors53300), created.Count,
            created.Keys.Count(deliveries.ContainsKey),
            created.Keys.Count(id => deliveries.TryGetValue(id, out var to) && to.Count > 1),
            created.Count(c => deliveries.TryGetValue(c.Key, out var to) && to.Any(a => a != c.Value)));
        Console.WriteLine($"  herd: {back.Count}/{restarted.Count} back, the last {(back.Count > 0 ? back.Max() : double.NaN):F1} s after the stop; " +
            $"{result.Delivered}/{result.Tasks} tasks delivered, {result.DeliveredTwice} twice, {result.WrongAgent} to another agent");
        return result;
    }

    private static async Task WaitUntilAsync(Func<bool> done, TimeSpan within)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(within.TotalSeconds * Stopwatch.Frequency);
        while (!done() && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(100);
        }
    }
}
