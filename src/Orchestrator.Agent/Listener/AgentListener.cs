using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Identity;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Listener;

/// <summary>The agent's side that talks to the server (as actions/runner's listener): heartbeats with renewal, the task
/// stream with its reconnects, and the poll while the stream is down. It hands tasks to the
/// <see cref="TaskDispatcher"/> and decides when the agent ends: drained after SIGTERM (0), or revoked (3).</summary>
public sealed partial class AgentListener
{
    private readonly AgentSettings _settings;
    private readonly AgentClient _client;
    private readonly Enrolment _enrolment;
    private readonly CredentialStore _credentials;
    private readonly KeyStore _keys;
    private readonly TaskDispatcher _dispatcher;

    /// <summary>Sent with every heartbeat, as capabilities are: a service that lost or never had them learns them again.</summary>
    private List<string?> TaskTypes { get; }
    private readonly TaskLedger _ledger;
    private readonly CompletionOutbox _outbox;
    private readonly LogShipper _shipper;
    private readonly CapabilityDetector _capabilities;
    private readonly ResourceMonitor _resources;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _beatNow = new(0, int.MaxValue);
    private readonly TaskCompletionSource<(int Code, string Message)> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private StoredIdentity _identity;
    private volatile TaskStream? _stream;
    private int _heartbeatFailures;

    // The server renewed the current key unasked (its renewal window came before the agent's two-thirds point, as with
    // short lifetimes): the next heartbeat asks for a new key, so the key rotates whatever the server's settings.
    private bool _rotateKey;

    public AgentListener(AgentSettings settings, AgentClient client, Enrolment enrolment, CredentialStore credentials, KeyStore keys,
        StoredIdentity identity, TaskDispatcher dispatcher, TaskLedger ledger, CompletionOutbox outbox, LogShipper shipper,
        CapabilityDetector capabilities, ResourceMonitor resources, TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _client = client;
        _enrolment = enrolment;
        _credentials = credentials;
        _keys = keys;
        _identity = identity;
        _dispatcher = dispatcher;
        TaskTypes = [.. dispatcher.TaskTypes.Order(StringComparer.Ordinal)];
        _ledger = ledger;
        _outbox = outbox;
        _shipper = shipper;
        _capabilities = capabilities;
        _resources = resources;
        _time = time;
        _logger = logger;
        _outbox.Unauthorized += () => _beatNow.Release();
    }

    public TaskStream? Stream => _stream;
    private TimeSpan HeartbeatInterval => TimeSpan.FromSeconds(_identity.HeartbeatIntervalSeconds);
    private TimeSpan PollInterval => TimeSpan.FromSeconds(_identity.TaskPollIntervalSeconds);

    /// <summary>Runs until <paramref name="shutdown"/> (drains, then 0) or until the agent must end (revoked: 3).</summary>
    public async Task<int> RunAsync(CancellationToken shutdown)
    {
        using var intake = new CancellationTokenSource();   // heartbeats and polls: they deliver work
        using var connection = new CancellationTokenSource(); // the stream, the log shipper and the outbox
        var loops = new[]
        {
            Guard("heartbeat", HeartbeatLoopAsync(intake.Token)),
            Guard("poll", PollLoopAsync(intake.Token)),
            Guard("stream", StreamLoopAsync(connection.Token)),
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

        if (_stream is { } open)
        {
            await open.CloseAsync(WebSocketCloseStatus.NormalClosure, "The agent is shutting down.", CancellationToken.None);
        }

        await connection.CancelAsync();
        await Task.WhenAll(loops);
        LogStopped(_logger, _outbox.Count);
        return ExitCodes.Ok;
    }

    private void End(int code, string message) => _ended.TrySetResult((code, message));

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
        var now = _time.GetUtcNow().UtcDateTime;
        var decision = RenewalDecision.Decide(now, _identity.ReceivedAt, _identity.ExpiresAt);
        if (decision == RenewalDecision.Action.Expired)
        {
            await ReenrolAsync(stopping);
            return;
        }

        using var newKey = decision == RenewalDecision.Action.Renew || _rotateKey ? KeyStore.NewKey() : null;
        var (cpu, memory, disk) = _resources.Read();
        var detected = await _capabilities.CurrentAsync(stopping);
        try
        {
            // Capabilities, task types and missing capabilities go with every heartbeat: the service keeps them only
            // when they change, and one that lost them (or never had them) learns them again.
            var answer = await _client.HeartbeatAsync(new HeartbeatRequest(detected.Degraded ? "degraded" : "healthy",
                new HeartbeatResourceUsage(cpu, memory, disk), [.. detected.Capabilities.Cast<string?>()], _dispatcher.RunningCount,
                newKey is null ? null : CertificateRequests.CreatePem(newKey, _identity.Name), TaskTypes,
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
                await ApplyRenewalAsync(renewal, newKey);
                _rotateKey = newKey is null;
            }
        }
        catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Unauthorized)
        {
            if (RenewalDecision.Decide(_time.GetUtcNow().UtcDateTime, _identity.ReceivedAt, _identity.ExpiresAt) == RenewalDecision.Action.Expired)
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

    /// <summary>Takes a renewal: the certificate (for the new key when the heartbeat carried a CSR), the token bound to
    /// it and the CA bundle go to disk in one rename, then to the client, then the stream moves over.</summary>
    private async Task ApplyRenewalAsync(RenewalResponse renewal, System.Security.Cryptography.ECDsa? newKey)
    {
        var previousKeyFile = _identity.KeyFile;
        string keyFile;
        if (newKey is not null && Enrolment.Certifies(renewal.Cert, newKey))
        {
            keyFile = _keys.Save(newKey);
        }
        else
        {
            keyFile = _identity.KeyFile;
            using var current = _keys.Load(keyFile);
            if (!Enrolment.Certifies(renewal.Cert, current))
            {
                LogRenewalMismatch(_logger);
                return;
            }
        }

        var renewed = _identity with
        {
            CertificatePem = renewal.Cert,
            Token = renewal.Token,
            KeyFile = keyFile,
            ReceivedAt = _time.GetUtcNow().UtcDateTime,
            ExpiresAt = renewal.ExpiresAt,
        };
        _credentials.Save(renewed);
        _credentials.SaveCaBundle(renewal.Ca);
        _identity = renewed;
        _client.UseCredentials(_enrolment.Load(renewed));
        _keys.DeleteAllBut(keyFile);
        LogRenewed(_logger, renewal.ExpiresAt, keyFile != previousKeyFile);
        _outbox.RetryNow();

        // The open stream was authorised with the old pair: close it so the stream loop reconnects with the new one.
        if (_stream is { } old)
        {
            await old.CloseAsync(WebSocketCloseStatus.NormalClosure, "Renewed credentials.", CancellationToken.None);
        }
    }

    private async Task ReenrolAsync(CancellationToken stopping)
    {
        if (_settings.Token is null)
        {
            End(ExitCodes.CannotStart, $"The agent's certificate expired at {_identity.ExpiresAt:u} before it could be renewed; " +
                "restart it with a fresh registration token (--token-file or --token) to enrol it again under the same id.");
            return;
        }

        try
        {
            _identity = await _enrolment.RegisterAsync(_identity.Name, stopping);
            _client.UseCredentials(_enrolment.Load(_identity));
            _outbox.RetryNow();
        }
        catch (AgentExitException ex)
        {
            End(ex.ExitCode, ex.Message);
        }
    }

    // The longest wait between stream reconnects (full jitter from 1 s, doubling). At 30 s, half a fleet bound to a replica
    // that took 9 s to restart was back only after 35 s (bench: reconnecting herd); at 10 s an agent is back at most
    // 10 s after its replica is, and a refused connection costs a down replica nothing.
    private static readonly TimeSpan StreamReconnectCeiling = TimeSpan.FromSeconds(10);

    private async Task StreamLoopAsync(CancellationToken stopping)
    {
        var attempt = 0;
        while (!stopping.IsCancellationRequested)
        {
            var reconnectAtOnce = false;
            try
            {
                await using var stream = await _client.ConnectTaskStreamAsync(stopping);
                _stream = stream;
                if (attempt > 0)
                {
                    LogStreamConnected(_logger, attempt);
                }

                attempt = 0;
                _shipper.Wake();
                while (await stream.ReceiveAsync(stopping) is { } message)
                {
                    switch (message)
                    {
                        case TaskAssignedMessage assigned:
                            _dispatcher.Offer(assigned.Task);
                            break;
                        case TaskCancelledMessage cancelled:
                            _dispatcher.Cancel(cancelled.TaskId, "The task was cancelled.");
                            break;
                        case TaskLogAckMessage acknowledged:
                            _shipper.Acknowledged(acknowledged.TaskId, acknowledged.Seq);
                            break;
                        case StreamErrorMessage error when error.TaskId is { } id && !_ledger.IsActive(id):
                            // About a task that has ended here meanwhile (its last progress crossed the completion).
                            LogLateStreamError(_logger, error.Message, id);
                            break;
                        case StreamErrorMessage error:
                            LogStreamError(_logger, error.Message, error.TaskId);
                            break;
                    }
                }

                // Closed. Renewed credentials: reconnect at once. Revoked (1008) or anything odd: a heartbeat tells.
                reconnectAtOnce = !ReferenceEquals(stream.Credentials, _client.Credentials);
                if (stream.CloseStatus is WebSocketCloseStatus.PolicyViolation)
                {
                    _beatNow.Release();
                }

                if (!reconnectAtOnce && !stopping.IsCancellationRequested)
                {
                    LogStreamClosed(_logger, (int?)stream.CloseStatus, stream.CloseStatusDescription);
                }
            }
            catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Unauthorized)
            {
                _beatNow.Release();
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException or OrchestratorApiException or
                                           OperationCanceledException && !stopping.IsCancellationRequested)
            {
                if (attempt == 0)
                {
                    LogStreamDown(_logger, ex.Message);
                }
            }
            catch (OperationCanceledException)
            {
                // Shutting down.
            }
            finally
            {
                _stream = null;
            }

            if (stopping.IsCancellationRequested)
            {
                return;
            }

            if (!reconnectAtOnce)
            {
                attempt++;
                await Task.Delay(Backoff.Jittered(attempt, TimeSpan.FromSeconds(1), StreamReconnectCeiling) + TimeSpan.FromMilliseconds(100), _time, stopping)
                    .ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }

    /// <summary>While the stream is down, asks for waiting tasks every poll interval and fetches the new ones (a fetch is
    /// the delivery). Heartbeats deliver too; this is quicker when the poll interval is shorter.</summary>
    private async Task PollLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            await Task.Delay(PollInterval * (0.9 + (Random.Shared.NextDouble() * 0.2)), _time, stopping);
            if (_stream is not null)
            {
                continue;
            }

            try
            {
                var pending = await _client.GetPendingTasksAsync(stopping);
                foreach (var taskId in pending.CancelledTasks)
                {
                    _dispatcher.Cancel(taskId, "The task was cancelled.");
                }

                foreach (var summary in pending.Tasks.Where(t => !_ledger.IsActive(t.TaskId)).Take(_settings.MaxTasks * 2))
                {
                    var task = await _client.FetchTaskAsync(summary.TaskId, stopping);
                    if (!task.Status.IsFinal())
                    {
                        _dispatcher.Offer(new DeliveredTask(task.TaskId, task.TaskType, task.Payload, task.Credentials, task.Timeout)
                        {
                            TraceParent = task.TraceParent,
                        });
                    }
                }
            }
            catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Unauthorized)
            {
                _beatNow.Release();
            }
            catch (Exception ex) when (ex is OrchestratorApiException or HttpRequestException or IOException or TaskCanceledException &&
                                       !stopping.IsCancellationRequested)
            {
                LogPollFailed(_logger, ex.Message);
            }
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Renewed the certificate, valid until {ExpiresAt:u} (new key: {NewKey})")]
    private static partial void LogRenewed(ILogger logger, DateTime expiresAt, bool newKey);

    [LoggerMessage(Level = LogLevel.Error, Message = "The renewed certificate certifies neither the current nor the new key; ignored")]
    private static partial void LogRenewalMismatch(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task stream connected again after {Attempts} attempts")]
    private static partial void LogStreamConnected(ILogger logger, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task stream is down ({Reason}); reconnecting with back-off, tasks come by heartbeat and poll meanwhile")]
    private static partial void LogStreamDown(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task stream closed by the server ({Status} {Description}); reconnecting")]
    private static partial void LogStreamClosed(ILogger logger, int? status, string? description);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The server refused a stream message: {Message} (task {TaskId})")]
    private static partial void LogStreamError(ILogger logger, string message, Guid? taskId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "The server refused a late stream message: {Message} (task {TaskId})")]
    private static partial void LogLateStreamError(ILogger logger, string message, Guid taskId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Poll failed: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The agent's {Loop} loop failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, string loop);
}
