using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Simulation;

/// <summary><c>orchestrator-agent simulate</c>: N lightweight agents in one process on the same client library, for
/// load tests. Each registers (with its own key, through a CSR), heartbeats at the server's interval, holds a task
/// stream and completes every task it gets at once, as <c>agent.noop</c> does. Identities live in memory only.</summary>
public sealed partial class FleetSimulator(Uri server, ServerTrust trust, string token, int agents, string namePrefix, ILogger logger,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private long _heartbeats;
    private long _heartbeatFailures;
    private long _completed;
    private int _connected;

    public long Completed => Interlocked.Read(ref _completed);
    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    /// <summary>Agents holding their task stream now.</summary>
    public int Connected => Volatile.Read(ref _connected);

    /// <summary>Registers every agent (a few at a time), then runs them until <paramref name="stopping"/>.</summary>
    public async Task<int> RunAsync(CancellationToken stopping)
    {
        var options = new OrchestratorClientOptions { Server = server, Trust = trust, Time = _time, UserAgent = "orchestrator-agent-simulator" };
        var clients = new List<(AgentClient Client, int HeartbeatSeconds)>();
        var watch = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(8);
        var registrations = Enumerable.Range(0, agents).Select(async i =>
        {
            await gate.WaitAsync(stopping);
            try
            {
                var client = new AgentClient(options);
                using var key = CertificateRequests.NewKey();
                var name = $"{namePrefix}-{i:D5}";
                var answer = await client.RegisterAsync(token, new RegisterRequest(name, "sim", [], new() { ["simulated"] = "true" },
                    CertificateRequests.CreatePem(key, name)), stopping);
                client.UseCredentials(new AgentCredentials(answer.AgentId, CertificateRequests.WithKey(answer.Certificate.Cert, key), answer.Token));
                lock (clients)
                {
                    clients.Add((client, Math.Max(1, answer.Config.HeartbeatInterval)));
                }
            }
            finally
            {
                gate.Release();
            }
        }).ToList();

        try
        {
            await Task.WhenAll(registrations);
        }
        catch (OrchestratorApiException ex)
        {
            LogRegistrationRefused(logger, ex.Message);
            return ExitCodes.CannotStart;
        }

        LogRegistered(logger, clients.Count, watch.Elapsed.TotalSeconds);
        var runs = clients.Select(c => Task.WhenAll(HeartbeatAsync(c.Client, c.HeartbeatSeconds, stopping), StreamAsync(c.Client, stopping))).ToList();
        var report = ReportAsync(stopping);
        try
        {
            await Task.WhenAll(runs);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        await report;
        foreach (var (client, _) in clients)
        {
            client.Dispose();
        }

        LogSummary(logger, Heartbeats, Interlocked.Read(ref _heartbeatFailures), Completed);
        return ExitCodes.Ok;
    }

    private async Task HeartbeatAsync(AgentClient client, int seconds, CancellationToken stopping)
    {
        // Spread the fleet's beats over the interval.
        await Delay(TimeSpan.FromSeconds(seconds * Random.Shared.NextDouble()), stopping);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var answer = await client.HeartbeatAsync(new HeartbeatRequest("healthy", new HeartbeatResourceUsage(1, 1, 1), [], 0, null), stopping);
                Interlocked.Increment(ref _heartbeats);
                foreach (var task in answer.Tasks)
                {
                    await CompleteAsync(client, task.TaskId, stopping);
                }
            }
            catch (Exception ex) when (ex is OrchestratorApiException or HttpRequestException or IOException && !stopping.IsCancellationRequested)
            {
                Interlocked.Increment(ref _heartbeatFailures);
            }

            await Delay(TimeSpan.FromSeconds(seconds * (0.9 + (Random.Shared.NextDouble() * 0.2))), stopping);
        }
    }

    private async Task StreamAsync(AgentClient client, CancellationToken stopping)
    {
        var attempt = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var stream = await client.ConnectTaskStreamAsync(stopping);
                Interlocked.Increment(ref _connected);
                attempt = 0;
                try
                {
                    while (await stream.ReceiveAsync(stopping) is { } message)
                    {
                        if (message is TaskAssignedMessage assigned)
                        {
                            await CompleteAsync(client, assigned.Task.TaskId, stopping);
                        }
                    }
                }
                finally
                {
                    Interlocked.Decrement(ref _connected);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                // Reconnect below.
            }

            await Delay(Backoff.Jittered(++attempt, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)), stopping);
        }
    }

    private async Task CompleteAsync(AgentClient client, Guid taskId, CancellationToken stopping)
    {
        try
        {
            await client.CompleteTaskAsync(taskId, new CompleteTaskRequest(true, null, []), stopping);
            Interlocked.Increment(ref _completed);
        }
        catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Conflict)
        {
            // Completed already (a repeated delivery).
        }
    }

    private async Task ReportAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            await Delay(TimeSpan.FromSeconds(10), stopping);
            LogProgress(logger, Volatile.Read(ref _connected), Heartbeats, Interlocked.Read(ref _heartbeatFailures), Completed);
        }
    }

    private async Task Delay(TimeSpan delay, CancellationToken stopping)
    {
        try
        {
            await Task.Delay(delay, _time, stopping);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered {Agents} simulated agents in {Seconds:0.0} s")]
    private static partial void LogRegistered(ILogger logger, int agents, double seconds);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Registration refused: {Reason} (the token needs maxUses of at least the agent count)")]
    private static partial void LogRegistrationRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Streams} streams open; {Heartbeats} heartbeats ({Failures} failed); {Completed} tasks completed")]
    private static partial void LogProgress(ILogger logger, int streams, long heartbeats, long failures, long completed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Done: {Heartbeats} heartbeats ({Failures} failed), {Completed} tasks completed")]
    private static partial void LogSummary(ILogger logger, long heartbeats, long failures, long completed);
}
