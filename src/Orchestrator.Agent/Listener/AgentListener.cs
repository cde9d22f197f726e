using System.Net;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Listener;

/// <summary>The agent's side that talks to the server (as actions/runner's listener): the heartbeat loop, and the exit
/// policy: drained after SIGTERM (0), or ended when the agent must stop (revoked: 3). Its parts: the
/// <see cref="CredentialKeeper"/> (renewal, key rotation, re-enrolment), the <see cref="StreamConnection"/> (the task
/// stream and its reconnects) and the <see cref="TaskPoller"/> (while the stream is down). Work goes to the
/// <see cref="TaskDispatcher"/>.</summary>
public sealed partial class AgentListener
{
    private readonly AgentSettings _settings;
    private readonly AgentClient _client;
    private readonly CredentialKeeper _keeper;
    private readonly StreamConnection _connection;
    private readonly TaskPoller _poller;
    private readonly TaskDispatcher _dispatcher;

    /// <summary>Sent with every heartbeat, as capabilities are: a service that lost or never had them learns them again.</summary>
    private List<string?> TaskTypes { get; }
    private readonly CompletionOutbox _outbox;
    private readonly LogShipper _shipper;
    private readonly CapabilityDetector _capabilities;
    private readonly ResourceMonitor _resources;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _beatNow = new(0, int.MaxValue);
    private readonly TaskCompletionSource<(int Code, string Message)> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _heartbeatFailures;

    public AgentListener(AgentSettings settings, AgentClient client, CredentialKeeper keeper, TaskDispatcher dispatcher, TaskLedger ledger,
        CompletionOutbox outbox, LogShipper shipper, CapabilityDetector capabilities, ResourceMonitor resources, TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _client = client;
        _keeper = keeper;
        _dispatcher = dispatcher;
        TaskTypes = [.. dispatcher.TaskTypes.Order(StringComparer.Ordinal)];
        _outbox = outbox;
        _shipper = shipper;
        _capabilities = capabilities;
        _resources = resources;
        _time = time;
        _logger = logger;
        _connection = new StreamConnection(client, dispatcher, ledger, shipper, AskForHeartbeat, time, logger);
        _poller = new TaskPoller(client, dispatcher, ledger, () => _connection.Current is not null,
            () => TimeSpan.FromSeconds(_keeper.Identity.TaskPollIntervalSeconds), settings.MaxTasks, AskForHeartbeat, time, logger);
        _outbox.Unauthorized += AskForHeartbeat;
        // New credentials: completions refused with the old ones go again now, and the stream reconnects with them.
        _keeper.Renewed += () =>
        {
            _outbox.RetryNow();
            return _connection.ReopenAsync();
        };
    }

    public TaskStream? Stream => _connection.Current;
    private TimeSpan HeartbeatInterval => TimeSpan.FromSeconds(_keeper.Identity.HeartbeatIntervalSeconds);

    /// <summary>Runs until <paramref name="shutdown"/> (drains, then 0) or until the agent must end (revoked: 3).</summary>
    public async Task<int> RunAsync(CancellationToken shutdown)
    {
        using var intake = new CancellationTokenSource();   // heartbeats and polls: they deliver work
        using var connection = new CancellationTokenSource(); // the stream, the log shipper and the outbox
        var loops = new[]
        {
            Guard("heartbeat", HeartbeatLoopAsync(intake.Token)),
            Guard("poll", _poller.RunAsync(intake.Token)),
            Guard("stream", _connection.RunAsync(connection.Token)),
            Guard("log shipper", _shipper.RunAsync(connection.Token)),
            Guard("outbox", _outbox.RunAsync(connection.Token)),
            Guard("capability probe", _capabilities.RunAsync(connection.Token)),
        };

        var stopped = new TaskCompletionSource();
        await using var onShutdown = shutdown.Register(() => stopped.TrySetResult());
        if (await Task.WhenAny(stopped.Task, _ended.Task) == _ended.Task)
        {
            var (code, message) = await _ended.Task;
            LogEnding(_logger, message);
            await intake.CancelAsync();
            await _dispatcher.AbortAsync(message);
            await connection.CancelAsync();
            await Task.WhenAll(loops);
            return code;
        }

        LogDraining(_logger, _dispatcher.RunningCount, _settings.ShutdownTimeout.TotalSeconds);
        await intake.CancelAsync();
        await _dispatcher.DrainAsync(_settings.ShutdownTimeout, "The agent is shutting down.");
        using (var flush = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                await _outbox.FlushAsync(flush.Token);
            }
            catch (OperationCanceledException)
            {
                // Still on disk: sent at the next start.
            }
        }

        await _connection.CloseAsync("The agent is shutting down.");
        await connection.CancelAsync();
        await Task.WhenAll(loops);
        LogStopped(_logger, _outbox.Count);
        return ExitCodes.Ok;
    }

    private void End(int code, string message) => _ended.TrySetResult((code, message));

    private void AskForHeartbeat() => _beatNow.Release();

    private async Task HeartbeatLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            await BeatAsync(stopping);
            // A little jitter so a fleet restarted together does not beat in step.
            var wait = HeartbeatInterval * (0.9 + (Random.Shared.NextDouble() * 0.2));
            if (_heartbeatFailures > 0)
            {
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks, Backoff.Jittered(_heartbeatFailures, TimeSpan.FromSeconds(1), HeartbeatInterval).Ticks + 1));
            }

            await _beatNow.WaitAsync(wait, _time, stopping);
        }
    }

    private async Task BeatAsync(CancellationToken stopping)
    {
        if (_keeper.Expired)
        {
            await ReenrolAsync(stopping);
            return;
        }

        using var newKey = _keeper.KeyForNextHeartbeat();
        var (cpu, memory, disk) = _resources.Read();
        var detected = await _capabilities.CurrentAsync(stopping);
        try
        {
            // Capabilities, task types and missing capabilities go with every heartbeat: the service keeps them only
            // when they change, and one that lost them (or never had them) learns them again.
            var answer = await _client.HeartbeatAsync(new HeartbeatRequest(detected.Degraded ? "degraded" : "healthy",
                new HeartbeatResourceUsage(cpu, memory, disk), [.. detected.Capabilities.Cast<string?>()], _dispatcher.RunningCount,
                newKey is null ? null : CertificateRequests.CreatePem(newKey, _keeper.Identity.Name), TaskTypes,
                detected.Missing.ToDictionary(m => m.Key, m => (string?)m.Value)), stopping);
            if (_heartbeatFailures > 0)
            {
                LogHeartbeatRecovered(_logger, _heartbeatFailures);
            }

            _heartbeatFailures = 0;
            foreach (var task in answer.Tasks)
            {
                _dispatcher.Offer(task);
            }

            foreach (var taskId in answer.CancelledTasks)
            {
                _dispatcher.Cancel(taskId, "The task was cancelled.");
            }

            if (answer.CertificateRenewal is { } renewal)
            {
                await _keeper.ApplyAsync(renewal, newKey);
            }
        }
        catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Unauthorized)
        {
            if (_keeper.Expired)
            {
                await ReenrolAsync(stopping);
                return;
            }

            End(ExitCodes.Revoked, $"The server refused this agent's credentials ({ex.Detail ?? ex.Title}): it was deleted or its " +
                "certificate revoked. Stopping; register it again with a new token and an empty state directory.");
        }
        catch (Exception ex) when (ex is OrchestratorApiException or HttpRequestException or IOException or TaskCanceledException &&
                                   !stopping.IsCancellationRequested)
        {
            _heartbeatFailures++;
            if (_heartbeatFailures == 1 || _heartbeatFailures % 10 == 0)
            {
                LogHeartbeatFailed(_logger, _heartbeatFailures, ex.Message);
            }
        }
    }

    private async Task ReenrolAsync(CancellationToken stopping)
    {
        if (await _keeper.ReenrolAsync(stopping) is { } cannot)
        {
            End(cannot.ExitCode, cannot.Message);
        }
    }

    /// <summary>A loop that throws by mistake ends the agent (a restart by systemd is better than a half-working agent).</summary>
    private async Task Guard(string name, Task loop)
    {
        try
        {
            await loop;
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            LogLoopFailed(_logger, ex, name);
            End(ExitCodes.Failure, $"The agent's {name} loop failed: {ex.Message}");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: waiting up to {Seconds} s for {Running} running tasks")]
    private static partial void LogDraining(ILogger logger, int running, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped ({Unreported} completions still to report at the next start)")]
    private static partial void LogStopped(ILogger logger, int unreported);

    [LoggerMessage(Level = LogLevel.Critical, Message = "{Message}")]
    private static partial void LogEnding(ILogger logger, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat failed ({Failures} in a row): {Reason}")]
    private static partial void LogHeartbeatFailed(ILogger logger, int failures, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Heartbeats go through again after {Failures} failures")]
    private static partial void LogHeartbeatRecovered(ILogger logger, int failures);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The agent's {Loop} loop failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, string loop);
}
