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
        // The streams, their reading and the task creation run in a process of their own, as agents do, so neither of a
        // push's two timestamps can wait behind the heartbeat load generator's 64 workers or its collections.
        await using var side = await StreamSide.StartAsync(service.Address, streams);
        Console.WriteLine($"Registered {beating.Count} heartbeating agents and {streams} agents that hold a stream (in a process of their own)");
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

        var (open, notOpened) = await side.OpenAsync();
        Console.WriteLine($"  {open} streams open: {Processes.ResidentMiB(service.Pid):F0} MiB resident (was {memoryBefore:F0} MiB)");

        // Tasks for stream-holding agents, one every 10 ms, while the heartbeat load runs beside them.
        await side.StartPushingAsync();
        var withStreams = await Load.RunAsync($"POST /heartbeat, {open} streams open and tasks pushed", beating, Fleet.HeartbeatAsync, settings);
        var memoryWithStreams = Processes.ResidentMiB(service.Pid);
        await sampling.CancelAsync();
        await sampler;
        Console.WriteLine($"  resident with the streams after the run: {memoryWithStreams:F0} MiB, peak {peak:F0} MiB");
        var pushed = await side.StopAsync();
        foreach (var agent in beating)
        {
            agent.Client.Dispose();
        }

        Console.WriteLine($"  pushes: {pushed.PushMs.Count}/{pushed.Tasks} received, p50 {Stats.Percentile(pushed.PushMs, 50):F2} ms, "
            + $"p99 {Stats.Percentile(pushed.PushMs, 99):F2} ms; creations refused: {string.Join(", ", pushed.Failures.Select(f => $"{f.Key} x{f.Value}"))}");
        return new Result(open, memoryBefore, memoryWithStreams, peak, alone, withStreams, pushed.Tasks, pushed.PushMs, notOpened, pushed.Failures);
    }
}

/// <summary>The stream-holding side of <see cref="ManyStreams"/>, run as a child process of the benchmark
/// (<c>--stream-side ADDRESS COUNT</c>): registers the agents, then on each line of its input opens their streams
/// (<c>open</c>), creates a task for one of them every 10 ms (<c>push</c>), and stops and reports (<c>stop</c>), one
/// JSON line on its output per command.</summary>
public sealed class StreamSide : IAsyncDisposable
{
    public sealed record Opened(int Open, int NotOpened);

    public sealed record Pushed(int Tasks, List<double> PushMs, Dictionary<string, int> Failures);

    private readonly Process _process;

    private StreamSide(Process process) => _process = process;

    /// <summary>Starts the side and waits until its agents are registered.</summary>
    public static async Task<StreamSide> StartAsync(Uri address, int streams)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(StreamSide).Assembly.Location);
        }

        foreach (var argument in new[] { "--stream-side", address.ToString(), streams.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        // Little is allocated here once the streams are open: the workstation collector, with its smaller heap.
        start.Environment["DOTNET_gcServer"] = "0";
        var side = new StreamSide(Process.Start(start)!);
        await side.AnswerAsync<int>();
        return side;
    }

    public async Task<(int Open, int NotOpened)> OpenAsync()
    {
        var opened = await CommandAsync<Opened>("open");
        return (opened.Open, opened.NotOpened);
    }

    public Task StartPushingAsync() => CommandAsync<int>("push");

    public Task<Pushed> StopAsync() => CommandAsync<Pushed>("stop");

    private async Task<T> CommandAsync<T>(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        return await AnswerAsync<T>();
    }

    private async Task<T> AnswerAsync<T>()
    {
        var line = await _process.StandardOutput.ReadLineAsync()
            ?? throw new InvalidOperationException($"the stream side exited ({(_process.HasExited ? _process.ExitCode : -1)}); its errors are above");
        return JsonSerializer.Deserialize<T>(line)!;
    }

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(exited.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
        }

        _process.Dispose();
    }

    /// <summary>The child's side of the conversation.</summary>
    public static async Task RunAsync(Uri address, int streams)
    {
        var holding = await Fleet.RegisterAsync(address, streams);
        foreach (var agent in holding)
        {
            // Only their streams are used: no HTTP connection of their own.
            agent.Client.Dispose();
        }

        Answer(holding.Count);
        using var stopping = new CancellationTokenSource();
        var received = new ConcurrentDictionary<Guid, long>();
        var sockets = new ConcurrentBag<ClientWebSocket>();
        var readers = new ConcurrentBag<Task>();
        var notOpened = 0;
        await Expect("open");
        await Parallel.ForEachAsync(holding, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (agent, ct) =>
        {
            var socket = new ClientWebSocket();
            socket.Options.ClientCertificates = [agent.Certificate];
            socket.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            socket.Options.SetRequestHeader("Authorization", $"Bearer {agent.Token}");
            try
            {
                await socket.ConnectAsync(new Uri($"wss://{address.Authority}/api/v1/agents/{agent.Id}/task-stream"), ct);
                sockets.Add(socket);
                readers.Add(Task.Run(() => Streams.ReadAsync(socket, (id, at) => received.TryAdd(id, at), stopping.Token), CancellationToken.None));
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException)
            {
                if (Interlocked.Increment(ref notOpened) <= 3)
                {
                    await Console.Error.WriteLineAsync($"  stream not opened: {ex.Message}");
                }

                socket.Dispose();
            }
        });
        Answer(new Opened(sockets.Count, notOpened));

        await Expect("push");
        using var admin = Agents.NewClient(address, null, null, ServiceProcess.AdminKey);
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
        Answer(0);

        await Expect("stop");
        await creating.CancelAsync();
        await creator;
        // The last pushes' time to arrive.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var push = answered.Where(a => received.ContainsKey(a.Key))
            .Select(a => Math.Max(0, Stopwatch.GetElapsedTime(a.Value, received[a.Key]).TotalMilliseconds)).ToList();
        Answer(new Pushed(answered.Count, push, new Dictionary<string, int>(failures)));

        await stopping.CancelAsync();
        foreach (var socket in sockets)
        {
            socket.Abort();
            socket.Dispose();
        }

        await Task.WhenAll(readers.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
    }

    private static void Answer<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value));

    private static async Task Expect(string command)
    {
        var line = await Console.In.ReadLineAsync();
        if (line != command)
        {
            throw new InvalidOperationException($"the stream side expected '{command}', read '{line}'");
        }
    }
}
