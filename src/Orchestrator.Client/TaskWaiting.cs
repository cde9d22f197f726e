using System.Net.ServerSentEvents;
using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>One event of a task's event stream: its cursor (<see cref="Id"/>), its type (<see cref="TaskEventTypes"/>)
/// and the payload of that type; events of types this client does not know carry no payload.</summary>
public sealed record TaskEvent(
    string? Id, string Type, TaskStatusEvent? Status = null, TaskProgressEvent? Progress = null, TaskLogResponse? Log = null,
    TaskWaitingEvent? Waiting = null)
{
    /// <summary>The status event of a final state: the last event of the stream.</summary>
    public bool IsFinal => Status?.Status.IsFinal() == true;
}

/// <summary>Waiting for a task and following it (see <see cref="Following"/>).</summary>
public sealed partial class TasksApi
{
    /// <summary>The longest wait the server holds a request for.</summary>
    public const int MaxWaitSeconds = Following.MaxWaitSeconds;

    /// <summary>Waits until the task reaches a final state and returns it, or, when <paramref name="timeout"/> runs out
    /// first, returns the task as it is then (not final: check <see cref="WireNames.IsFinal(AgentTaskStatus)"/>). Each request
    /// asks the server to hold it up to 60 s; dropped connections and transient answers (502/503/504, a restarting service)
    /// are retried with back-off until the timeout, other refusals (401, 404) throw <see cref="OrchestratorApiException"/>.
    /// <paramref name="observe"/> sees every non-final answer (for showing what the wait is waiting for).</summary>
    public Task<TaskResponse> WaitAsync(Guid taskId, TimeSpan? timeout = null, Action<TaskResponse>? observe = null,
        CancellationToken cancellationToken = default) =>
        Following.WaitAsync(_client, (seconds, ct) => GetAsync(taskId, seconds, ct), t => t.Status.IsFinal(), timeout, observe, cancellationToken);

    /// <summary>Follows <c>GET /api/v1/tasks/{taskId}/events</c>: status changes, progress and log lines as they happen,
    /// ending after the final status. A dropped stream is reopened with <c>Last-Event-ID</c>, so no event is missed or
    /// repeated; give <paramref name="lastEventId"/> to resume where an earlier follow stopped. Refusals (401, 404)
    /// throw <see cref="OrchestratorApiException"/>.</summary>
    public IAsyncEnumerable<TaskEvent> FollowAsync(Guid taskId, string? lastEventId = null, CancellationToken cancellationToken = default) =>
        Following.FollowAsync(_client, $"/api/v1/tasks/{taskId}/events", lastEventId, Parse, e => e.IsFinal, cancellationToken);

    private static TaskEvent Parse(SseItem<string> item, string? id)
    {
        var json = OrchestratorJsonContext.Default;
        return item.EventType switch
        {
            TaskEventTypes.Status => new TaskEvent(id, item.EventType, Status: JsonSerializer.Deserialize(item.Data, json.TaskStatusEvent)),
            TaskEventTypes.Progress => new TaskEvent(id, item.EventType, Progress: JsonSerializer.Deserialize(item.Data, json.TaskProgressEvent)),
            TaskEventTypes.Log => new TaskEvent(id, item.EventType, Log: JsonSerializer.Deserialize(item.Data, json.TaskLogResponse)),
            TaskEventTypes.Waiting => new TaskEvent(id, item.EventType, Waiting: JsonSerializer.Deserialize(item.Data, json.TaskWaitingEvent)),
            _ => new TaskEvent(id, item.EventType),
        };
    }
}
