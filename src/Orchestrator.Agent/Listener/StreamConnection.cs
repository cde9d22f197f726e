using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Listener;

/// <summary>Keeps the task stream open: connects, hands what arrives to the dispatcher and the log shipper, and
/// reconnects with full-jitter back-off when it drops (at once when it closed for renewed credentials). When the server
/// refuses the credentials it asks for a heartbeat (<paramref name="askForHeartbeat"/>), which finds out why.</summary>
public sealed partial class StreamConnection(
    AgentClient client, TaskDispatcher dispatcher, TaskLedger ledger, LogShipper shipper, Action askForHeartbeat, TimeProvider time, ILogger logger)
{
    /// <summary>The longest wait between reconnects (full jitter from 1 s, doubling). At 30 s, half a fleet bound to a
    /// replica that took 9 s to restart was back only after 35 s (bench: reconnecting herd); at 10 s an agent is back at
    /// most 10 s after its replica is, and a refused connection costs a down replica nothing.</summary>
    public static readonly TimeSpan ReconnectCeiling = TimeSpan.FromSeconds(10);

    private volatile TaskStream? _stream;

    /// <summary>The open stream, or null while it is down (the poller fetches work meanwhile).</summary>
    public TaskStream? Current => _stream;

    /// <summary>Closes the open stream (opened with credentials that were just replaced): the loop reconnects at once.</summary>
    public async Task ReopenAsync()
    {
        if (_stream is { } old)
        {
            await old.CloseAsync(WebSocketCloseStatus.NormalClosure, "Renewed credentials.", CancellationToken.None);
        }
    }

    /// <summary>How long closing for good waits for the server's answer to the close: a network wait, on the real clock.</summary>
    public static readonly TimeSpan CloseAnswerTimeout = TimeSpan.FromSeconds(5);

    private volatile bool _closedForGood;
    private TaskCompletionSource _streamEnded = NewStreamEnded();

    /// <summary>Closes the open stream for good (shutting down) and waits for the server's answer to the close, at most
    /// <see cref="CloseAnswerTimeout"/>; the loop then ends instead of reconnecting. The server answers once it has
    /// stopped the stream: an agent that exited before that and started again with the same identity could have a task
    /// created meanwhile claimed by the old connection and sent where nobody reads (the new connection sends it again,
    /// but only what was claimed before it looked).</summary>
    public async Task CloseAsync(string reason)
    {
        _closedForGood = true;
        if (_stream is { } open)
        {
            await open.CloseAsync(WebSocketCloseStatus.NormalClosure, reason, CancellationToken.None);
            await _streamEnded.Task.WaitAsync(CloseAnswerTimeout).ContinueWith(
                _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private static TaskCompletionSource NewStreamEnded() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task RunAsync(CancellationToken stopping)
    {
        var attempt = 0;
        while (!stopping.IsCancellationRequested && !_closedForGood)
        {
            var reconnectAtOnce = false;
            try
            {
                await using var stream = await client.ConnectTaskStreamAsync(stopping);
                _streamEnded = NewStreamEnded();
                _stream = stream;
                if (attempt > 0)
                {
                    LogStreamConnected(logger, attempt);
                }

                attempt = 0;
                shipper.Wake();
                while (await stream.ReceiveAsync(stopping) is { } message)
                {
                    Handle(message);
                }

                // Closed. Renewed credentials: reconnect at once. Revoked (1008) or anything odd: a heartbeat tells.
                reconnectAtOnce = !ReferenceEquals(stream.Credentials, client.Credentials);
                if (stream.CloseStatus is WebSocketCloseStatus.PolicyViolation)
                {
                    askForHeartbeat();
                }

                if (!reconnectAtOnce && !stopping.IsCancellationRequested && !_closedForGood)
                {
                    LogStreamClosed(logger, (int?)stream.CloseStatus, stream.CloseStatusDescription);
                }
            }
            catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Unauthorized)
            {
                askForHeartbeat();
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException or OrchestratorApiException or
                                           OperationCanceledException && !stopping.IsCancellationRequested)
            {
                if (attempt == 0)
                {
                    LogStreamDown(logger, ex.Message);
                }
            }
            catch (OperationCanceledException)
            {
                // Shutting down.
            }
            finally
            {
                _stream = null;
                _streamEnded.TrySetResult();
            }

            if (stopping.IsCancellationRequested || _closedForGood)
            {
                return;
            }

            if (!reconnectAtOnce)
            {
                attempt++;
                await Task.Delay(Backoff.Jittered(attempt, TimeSpan.FromSeconds(1), ReconnectCeiling) + TimeSpan.FromMilliseconds(100), time, stopping)
                    .ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }

    private void Handle(object message)
    {
        switch (message)
        {
            case TaskAssignedMessage assigned:
                dispatcher.Offer(assigned.Task);
                break;
            case TaskCancelledMessage cancelled:
                dispatcher.Cancel(cancelled.TaskId, "The task was cancelled.");
                break;
            case TaskLogAckMessage acknowledged:
                shipper.Acknowledged(acknowledged.TaskId, acknowledged.Seq);
                break;
            case StreamErrorMessage error when error.TaskId is { } id && !ledger.IsActive(id):
                // About a task that has ended here meanwhile (its last progress crossed the completion).
                LogLateStreamError(logger, error.Message, id);
                break;
            case StreamErrorMessage error:
                LogStreamError(logger, error.Message, error.TaskId);
                break;
        }
    }

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
}
