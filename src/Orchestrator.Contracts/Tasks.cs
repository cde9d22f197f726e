using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Contracts;

public sealed record TaskSelector(List<string>? Capabilities, Dictionary<string, string>? Labels);

/// <summary><c>POST /api/v1/tasks</c>: exactly one of <c>agentId</c> or <c>selector</c>.</summary>
public sealed record CreateTaskRequest(
    string? TaskType,
    JsonElement? Payload,
    Dictionary<string, string>? Credentials,
    int? Priority,
    int? Timeout,
    Guid? AgentId,
    TaskSelector? Selector,
    string? IdempotencyKey);

public sealed record TaskLogResponse(DateTime Timestamp, string Level, string Message);

/// <summary>What operators see. Never carries credentials. <c>rolloutId</c>: the rollout that created the task, or null.</summary>
public sealed record TaskResponse(
    Guid TaskId,
    string TaskType,
    Guid AgentId,
    Guid? RolloutId,
    AgentTaskStatus Status,
    string? StatusReason,
    int Priority,
    int Timeout,
    DateTime CreatedAt,
    DateTime? AssignedAt,
    DateTime? StartedAt,
    DateTime? CompletedAt,
    int? Progress,
    JsonElement? Result,
    List<TaskLogResponse>? Logs);

/// <summary>A task as it goes to its agent, with the spec's field names, and (beyond the spec, left out when there is
/// none) the W3C <c>traceparent</c> of the trace the task belongs to, for the agent to continue.</summary>
public sealed record DeliveredTask(Guid TaskId, string TaskType, JsonElement? Payload, IReadOnlyDictionary<string, string>? Credentials, int Timeout)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TraceParent { get; init; }
}

/// <summary>A line an agent reports (completion logs).</summary>
public sealed record TaskLogEntry(DateTime? Timestamp, string? Level, string? Message);

/// <summary><c>POST /api/v1/agents/{id}/tasks/{taskId}/complete</c>. <c>logsSeq</c> (beyond the spec, optional) numbers
/// the lines as <c>task_log</c>'s <c>seq</c> does: the first line's number, the others following on, so a line that
/// already came on the stream is not stored twice.</summary>
public sealed record CompleteTaskRequest(bool? Success, JsonElement? Result, List<TaskLogEntry>? Logs)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? LogsSeq { get; init; }
}

public sealed record AcknowledgedResponse(bool Acknowledged);

public sealed record TaskSummary(Guid TaskId, string TaskType, int Priority, DateTime CreatedAt);

/// <summary>The poll answer: summaries only (not a delivery) and ids of tasks to stop.</summary>
public sealed record PendingTasksResponse(IReadOnlyList<TaskSummary> Tasks, IReadOnlyList<Guid> CancelledTasks);

/// <summary>One task fetched by its agent: a delivery, with payload and credentials while it is unfinished.</summary>
public sealed record AgentTaskResponse(
    Guid TaskId, string TaskType, JsonElement? Payload, IReadOnlyDictionary<string, string>? Credentials, int Timeout,
    int Priority, AgentTaskStatus Status, DateTime CreatedAt)
{
    /// <summary>As <see cref="DeliveredTask.TraceParent"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TraceParent { get; init; }
}
