namespace Orchestrator.Contracts;

/// <summary>The events of <c>GET /api/v1/tasks/{taskId}/events</c> (Server-Sent Events), told apart by the SSE
/// <c>event:</c> field. Every event has an <c>id:</c>, an opaque cursor: sent back as <c>Last-Event-ID</c>, the stream
/// resumes after that event. The stream ends after the <c>status</c> event of a final state.</summary>
public static class TaskEventTypes
{
    /// <summary><see cref="TaskStatusEvent"/>: the task reached a state.</summary>
    public const string Status = "status";

    /// <summary><see cref="TaskProgressEvent"/>: the task's latest progress.</summary>
    public const string Progress = "progress";

    /// <summary><see cref="TaskLogResponse"/>: one stored (redacted) log line.</summary>
    public const string Log = "log";

    /// <summary><see cref="TaskWaitingEvent"/>: the task cannot move now because its agent is offline or draining. Sent
    /// when that is first seen and whenever the reason changes; its id is the position of the event before it.</summary>
    public const string Waiting = "waiting";
}

/// <summary>A state the task reached, when, and (on the state it is in now) why.</summary>
public sealed record TaskStatusEvent(AgentTaskStatus Status, DateTime At, string? StatusReason);

/// <summary>Why a task that has not started waits: its agent's name, status (offline, or draining) and since when.</summary>
public sealed record TaskWaitingEvent(string Reason, Guid AgentId, string AgentName, AgentStatus AgentStatus, bool Draining, DateTime Since);

/// <summary>The latest progress the agent reported: a whole percentage and an optional message.</summary>
public sealed record TaskProgressEvent(int Progress, string? Message);
