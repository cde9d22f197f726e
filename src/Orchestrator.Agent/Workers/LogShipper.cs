using Microsoft.Extensions.Logging;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Workers;

/// <summary>Sends every running task's log lines and progress on the task stream, one sender for the whole agent, paced
/// below the server's flood limit (50 messages a second). Lines are batched: a line goes out once it is
/// <see cref="BatchDelay"/> old, so a short task's output travels whole with its completion instead of racing it on the
/// stream. Each line carries its number and stays in its <see cref="TaskLog"/> until the server acknowledges it
/// (<see cref="Acknowledged"/>); a new stream carries the unacknowledged lines again, and the completion carries whatever
/// is still unacknowledged, so a completion never waits for the stream. While the stream is down lines wait in their
/// <see cref="TaskLog"/> (bounded) and progress keeps only its latest value.</summary>
public sealed partial class LogShipper(Func<TaskStream?> stream, TimeProvider time, ILogger logger)
{
    public const double MessagesPerSecond = 40;
    public static readonly TimeSpan BatchDelay = TimeSpan.FromMilliseconds(250);

    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, TaskLog> _logs = [];
    private readonly Dictionary<Guid, (int Value, string? Message)> _progress = [];
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private TaskStream? _lastStream;

    public void Add(TaskLog log)
    {
        lock (_lock)
        {
            _logs[log.TaskId] = log;
        }
    }

    /// <summary>Stops shipping a task's lines (it completed: the rest go with the completion).</summary>
    public void Remove(Guid taskId)
    {
        lock (_lock)
        {
            _logs.Remove(taskId);
            _progress.Remove(taskId);
        }
    }

    /// <summary>The server's <c>task_log_ack</c>: it has the task's lines up to <paramref name="seq"/>.</summary>
    public void Acknowledged(Guid taskId, long seq)
    {
        lock (_lock)
        {
            _logs.GetValueOrDefault(taskId)?.Acknowledged(seq);
        }
    }

    public void Progress(Guid taskId, int value, string? message)
    {
        lock (_lock)
        {
            if (_logs.ContainsKey(taskId))
            {
                _progress[taskId] = (Math.Clamp(value, 0, 100), message is { Length: > 1000 } ? message[..1000] : message);
            }
        }

        Wake();
    }

    public void Wake()
    {
        if (_signal.CurrentCount == 0)
        {
            _signal.Release();
        }
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        var interval = TimeSpan.FromSeconds(1 / MessagesPerSecond);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _signal.WaitAsync(AnyPending() ? BatchDelay : TimeSpan.FromSeconds(1), time, stopping);
                var sent = await SendWaitingAsync(interval, stopping);
                if (sent == 0)
                {
                    continue;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The stream broke under a send: the line stays waiting and goes on the next stream or with the completion.
                LogSendFailed(logger, ex.Message);
            }
        }
    }

    /// <summary>Sends what waits, paced; returns how many messages went out.</summary>
    private async Task<int> SendWaitingAsync(TimeSpan interval, CancellationToken stopping)
    {
        var sent = 0;
        while (stream() is { } open)
        {
            if (!ReferenceEquals(open, _lastStream))
            {
                // What the last stream carried without an acknowledgement may be lost with it.
                _lastStream = open;
                ResendAll();
            }

            (Guid Id, int Value, string? Message)? progress = null;
            List<TaskLog> logs;
            lock (_lock)
            {
                if (_progress.Count > 0)
                {
                    var first = _progress.First();
                    _progress.Remove(first.Key);
                    progress = (first.Key, first.Value.Value, first.Value.Message);
                }

                logs = progress is null ? [.. _logs.Values] : [];
            }

            TaskLog? log = null;
            NumberedLine? line = null;
            var due = time.GetUtcNow().UtcDateTime - BatchDelay;
            foreach (var candidate in logs)
            {
                if (candidate.Peek(due) is { } next)
                {
                    (log, line) = (candidate, next);
                    break;
                }
            }

            if (progress is { } p)
            {
                await open.SendProgressAsync(new TaskProgressMessage(p.Id, p.Value, p.Message), stopping);
            }
            else if (line is not null)
            {
                try
                {
                    var entry = line.Line;
                    await open.SendLogAsync(new TaskLogMessage(log!.TaskId, entry.Level ?? "info", entry.Message ?? "") { Seq = line.Seq }, stopping);
                }
                catch
                {
                    log!.NotSent();
                    throw;
                }

                log.Sent();
            }
            else
            {
                break;
            }

            sent++;
            await Task.Delay(interval, time, stopping);
        }

        return sent;
    }

    private void ResendAll()
    {
        lock (_lock)
        {
            foreach (var log in _logs.Values)
            {
                log.Resend();
            }
        }
    }

    private bool AnyPending()
    {
        lock (_lock)
        {
            return _logs.Values.Any(l => l.HasPending);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not send a task log line on the stream: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, string reason);
}
