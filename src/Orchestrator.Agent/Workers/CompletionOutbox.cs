using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Identity;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Workers;

/// <summary>Completions on their way to the server. Each is written to <c>outbox/&lt;taskId&gt;.json</c> before it is
/// sent and deleted once the server acknowledged it, so a result survives a restart of the agent or an unreachable
/// server. A 409 (the task ended another way, e.g. timed out) or 404/403 is final: the completion is dropped.</summary>
public sealed partial class CompletionOutbox
{
    private readonly string _directory;
    private readonly AgentClient _client;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private int _failures;

    public CompletionOutbox(StateDirectory state, AgentClient client, TimeProvider time, ILogger logger)
    {
        _directory = state.Subdirectory("outbox");
        _client = client;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised when the server refuses the agent's credentials (401) while flushing.</summary>
    public event Action? Unauthorized;

    public IReadOnlyList<Guid> PendingTaskIds =>
        [.. Directory.EnumerateFiles(_directory, "*.json").Select(f => Guid.TryParse(Path.GetFileNameWithoutExtension(f), out var id) ? id : Guid.Empty)
            .Where(id => id != Guid.Empty)];

    public int Count => Directory.EnumerateFiles(_directory, "*.json").Count();

    /// <summary>The trace each completion reports in (the agent's span of the task), kept in memory only: after a
    /// restart a completion goes out without it, and the server still files it under the task's own trace.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, string> _traces = new();

    public void Add(Guid taskId, CompleteTaskRequest completion, string? traceParent = null)
    {
        if (traceParent is not null)
        {
            _traces[taskId] = traceParent;
        }

        StateDirectory.WriteAtomically(PathOf(taskId), JsonSerializer.SerializeToUtf8Bytes(completion, OrchestratorJsonContext.Default.CompleteTaskRequest));
        _signal.Release();
    }

    /// <summary>New credentials: whatever failed with the old ones goes out now, not after the back-off it had reached.</summary>
    public void RetryNow()
    {
        Interlocked.Exchange(ref _failures, 0);
        _signal.Release();
    }

    /// <summary>Sends until the outbox is empty, retrying failures with back-off.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var delay = await FlushAsync(stopping)
                    ? TimeSpan.FromSeconds(30)
                    : Backoff.Jittered(_failures, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
                await _signal.WaitAsync(delay < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : delay, _time, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One pass over the outbox; true when it is empty afterwards.</summary>
    public async Task<bool> FlushAsync(CancellationToken cancellationToken)
    {
        await _flushing.WaitAsync(cancellationToken);
        try
        {
            foreach (var file in Directory.EnumerateFiles(_directory, "*.json").ToList())
            {
                if (!Guid.TryParse(Path.GetFileNameWithoutExtension(file), out var taskId))
                {
                    continue;
                }

                CompleteTaskRequest? completion;
                try
                {
                    completion = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(file, cancellationToken),
                        OrchestratorJsonContext.Default.CompleteTaskRequest);
                }
                catch (JsonException ex)
                {
                    LogDamaged(_logger, taskId, ex.Message);
                    File.Delete(file);
                    continue;
                }

                try
                {
                    using var span = AgentTelemetry.Continue("task.report", _traces.GetValueOrDefault(taskId), ActivityKind.Producer);
                    span?.SetTag("orchestrator.task.id", taskId);
                    await _client.CompleteTaskAsync(taskId, completion!, cancellationToken);
                    _traces.TryRemove(taskId, out _);
                    File.Delete(file);
                    Interlocked.Exchange(ref _failures, 0);
                    LogCompleted(_logger, taskId, completion!.Success == true ? "succeeded" : "failed");
                }
                catch (OrchestratorApiException ex) when (ex.Status is HttpStatusCode.Conflict or HttpStatusCode.NotFound or HttpStatusCode.Forbidden)
                {
                    // Final: the task ended another way (timed out, cancelled by the grace period) or is not ours any more.
                    _traces.TryRemove(taskId, out _);
                    File.Delete(file);
                    LogRefused(_logger, taskId, (int)ex.Status, ex.Detail ?? ex.Title);
                }
                catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Unauthorized)
                {
                    Interlocked.Increment(ref _failures);
                    Unauthorized?.Invoke();
                    return false;
                }
                catch (Exception ex) when (ex is OrchestratorApiException or HttpRequestException or IOException or TaskCanceledException &&
                                           !cancellationToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _failures);
                    LogRetry(_logger, taskId, ex.Message);
                    return false;
                }
            }

            return true;
        }
        finally
        {
            _flushing.Release();
        }
    }

    private string PathOf(Guid taskId) => Path.Combine(_directory, $"{taskId}.json");

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} reported: {Outcome}")]
    private static partial void LogCompleted(ILogger logger, Guid taskId, string outcome);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The server refused the completion of task {TaskId} ({Status}: {Reason}); it is final, not retried")]
    private static partial void LogRefused(ILogger logger, Guid taskId, int status, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not report task {TaskId} yet ({Reason}); kept on disk and retried")]
    private static partial void LogRetry(ILogger logger, Guid taskId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The stored completion of task {TaskId} is damaged ({Reason}); dropped")]
    private static partial void LogDamaged(ILogger logger, Guid taskId, string reason);
}
