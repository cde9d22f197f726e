using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;

namespace Orchestrator.Benchmarks;

/// <summary>Issue 26, goal 4: many open task streams on one replica (default 10,000), measured together with other
/// agents' heartbeats: the service's memory before and with the streams open, the push latency of tasks created while
/// the heartbeat load runs, and heartbeat throughput and p99 with the streams open against the same load without them.</summary>
public static class ManyStreams
{
    public sealed record Result(
        int Streams, double MemoryBeforeMiB, double MemoryWithStreamsMiB, double MemoryPeakMiB, Load.Result Alone, Load.Result WithStreams, int Tasks,
        List<double> PushMs, int NotOpened, IReadOnlyDictionary<string, int> CreateFailures);

    public static async Task<Result> RunAsync(ServiceProcess service, int streams, Settings settings)
    {
        var beating = await Fleet.RegisterAsync(service.Address, settings.Agents);
        var holding = await Fleet.RegisterAsync(service.Address, streams);
        foreach (var agent in holding)
        {
            // Only their streams are used: no HTTP connection of their own.
            agent.Client.Dispose();
        }

        Console.WriteLine($"Registered {beating.Count} heartbeating agents and {holding.Count} agents that hold a stream");
        var alone = await Load.RunAsync("POST /heartbeat, no streams open", beating, Fleet.HeartbeatAsync, settings);
        var memoryBefore = Processes.ResidentMiB(service.Pid);
        // The peak from the first stream opened to the end of the heartbeat run beside them: what a host must provide.
        using var sampling = new CancellationTokenSource();
        var peak = 0.0;
        var sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
            try
            {
                do
                {
                    peak = Math.Max(peak, Processes.ResidentMiB(service.Pid));
                }
                while (await timer.WaitForNextTickAsync(sampling.Token));
            }
            catch (OperationCanceledException)
            {
                // Sampling ends with the run.
            }
        });

        using var stopping = new CancellationTokenSource();
        var received = new ConcurrentDictionary<Guid, long>();
        var sockets = new ConcurrentBag<ClientWebSocket>();
        var readers = new ConcurrentBag<Task>();
        var notOpened = 0;
        await Parallel.ForEachAsync(holding, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (agent, ct) =>
        {
            var socket = new ClientWebSocket();
            socket.Options.ClientCertificates = [agent.Certificate];
            socket.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            socket.Options.SetRequestHeader("Authorization", $"Bearer {agent.Token}");
            try
            {
                await socket.ConnectAsync(new Uri($"wss://{service.Address.Authority}/api/v1/agents/{agent.Id}/task-stream"), ct);
                sockets.Add(socket);
                readers.Add(Task.Run(() => Streams.ReadAsync(socket, (id, at) => received.TryAdd(id, at), stopping.Token), CancellationToken.None));
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException)
            {
                if (Interlocked.Increment(ref notOpened) <= 3)
                {
                    Console.Error.WriteLine($"  stream not opened: {ex.Message}");
                }

                socket.Dispose();
            }
        });

        Console.WriteLine($"  {sockets.Count} streams open: {Processes.ResidentMiB(service.Pid):F0} MiB resident (was {memoryBefore:F0} MiB)");

        // Tasks for stream-holding agents, one every 10 ms, while the heartbeat load runs beside them.
        using var admin = Agents.NewClient(service.Address, null, null, ServiceProcess.AdminKey);
        var answered = new ConcurrentDictionary<Guid, long>();
        var failures = new ConcurrentDictionary<string, int>();
        using var creating = new CancellationTokenSource();
        var creator = Task.Run(async () =>
        {
            for (var n = 0; !creating.IsCancellationRequested; n++)
            {
                var agent = holding[(n * 7919) % holding.Count];
                try
                {
                    using var response = await admin.PostAsJsonAsync("/api/v1/tasks",
                        new { taskType = "bench.noop", agentId = agent.Id, timeout = 3600, payload = new { n } });
                    var stamp = Stopwatch.GetTimestamp();
                    if (response.IsSuccessStatusCode)
                    {
                        answered[(await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("taskId").GetGuid()] = stamp;
                    }
                    else
                    {
                        failures.AddOrUpdate(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), 1, (_, c) => c + 1);
                    }
                }
                catch (HttpRequestException ex)
                {
                    failures.AddOrUpdate(ex.GetType().Name, 1, (_, c) => c + 1);
                }

                await Task.Delay(10);
            }
        });
        var withStreams = await Load.RunAsync($"POST /heartbeat, {sockets.Count} streams open and tasks pushed", beating, Fleet.HeartbeatAsync, settings);
        await creating.CancelAsync();
        await creator;
        var memoryWithStreams = Processes.ResidentMiB(service.Pid);
        await sampling.CancelAsync();
        await sampler;
        Console.WriteLine($"  resident with the streams after the run: {memoryWithStreams:F0} MiB, peak {peak:F0} MiB");
        await Task.Delay(TimeSpan.FromSeconds(2));

        await stopping.CancelAsync();
        foreach (var socket in sockets)
        {
            socket.Abort();
            socket.Dispose();
        }

        await Task.WhenAll(readers.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
        foreach (var agent in beating)
        {
            agent.Client.Dispose();
        }

        var push = answered.Where(a => received.ContainsKey(a.Key))
            .Select(a => Math.Max(0, Stopwatch.GetElapsedTime(a.Value, received[a.Key]).TotalMilliseconds)).ToList();
        Console.WriteLine($"  pushes: {push.Count}/{answered.Count} received, p50 {Stats.Percentile(push, 50):F2} ms, p99 {Stats.Percentile(push, 99):F2} ms; "
            + $"creations refused: {string.Join(", ", failures.Select(f => $"{f.Key} x{f.Value}"))}");
        return new Result(sockets.Count, memoryBefore, memoryWithStreams, peak, alone, withStreams, answered.Count, push, notOpened, failures);
    }
}
