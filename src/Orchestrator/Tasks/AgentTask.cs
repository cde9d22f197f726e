namespace Orchestrator.Tasks;

public static class AgentTaskStatuses
{
    /// <summary>States a task can still leave; everything else is final.</summary>
    public static readonly AgentTaskStatus[] Unfinished =
        [AgentTaskStatus.Pending, AgentTaskStatus.Assigned, AgentTaskStatus.Running, AgentTaskStatus.Cancelling];

    public static bool IsEnded(this AgentTaskStatus status) => !Unfinished.Contains(status);

    /// <summary>The name clients use (<c>timed_out</c>), as serialised.</summary>
    public static string WireName(this AgentTaskStatus status) => WireNames.Of(status);

    public static bool TryParseWireName(string value, out AgentTaskStatus status) => WireNames.TryParse(value, out status);
}

public sealed class AgentTask
{
    public Guid Id { get; set; }
    public required string TaskType { get; set; }

    /// <summary>The agent the task belongs to. Not a foreign key: the task outlives a deleted agent.</summary>
    public Guid AgentId { get; set; }

    /// <summary>The rollout that created the task, or null. A plain column: rollouts sit above tasks and follow them
    /// through task changes; tasks know nothing else of rollouts.</summary>
    public Guid? RolloutId { get; set; }
    public AgentTaskStatus Status { get; set; }
    public int Priority { get; set; }
    public int TimeoutSeconds { get; set; }
    public string? PayloadJson { get; set; }

    /// <summary>Credentials encrypted with Data Protection; null once the task ended.</summary>
    public string? ProtectedCredentials { get; set; }
    public string? IdempotencyKey { get; set; }
    public required string CreatedBy { get; set; }

    /// <summary>The W3C <c>traceparent</c> of the span that created the task (a request's, or a rollout batch's), or
    /// null: its delivery, the agent's work and its completion continue that trace.</summary>
    public string? TraceParent { get; set; }
    public const int MaxTraceParentLength = 55;

    public DateTime CreatedAt { get; set; }
    public DateTime? AssignedAt { get; set; }
    public DateTime? LastDeliveredAt { get; set; }
    public int DeliveryCount { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? CancelRequestedAt { get; set; }
    public DateTime? CompletedAt { get; set; }

    public int? Progress { get; set; }
    public string? ProgressMessage { get; set; }
    public bool? Success { get; set; }
    /// <summary>The agent's result with the task's credential values masked.</summary>
    public string? ResultJson { get; set; }

    /// <summary>SHA-256 (hex) of the result as the agent sent it, canonical (<see cref="TaskResultJson"/>): what a
    /// repeated completion is compared with, since the stored result is masked. Null for results stored before it.</summary>
    public string? ResultHash { get; set; }
    public const int MaxStatusReasonLength = 512;

    public string? StatusReason { get; set; }
    public int LogCount { get; set; }
    public int DroppedLogCount { get; set; }

    /// <summary>The highest number (<c>seq</c>) of the task's numbered log lines taken so far, stored or dropped by the cap;
    /// null until one came. A numbered line at or below it is a repeat and is not stored again (<see cref="LogNumbering"/>).</summary>
    public long? LastLogSeq { get; set; }

    public List<TaskLog> Logs { get; set; } = [];
}

public sealed class TaskLog
{
    /// <summary>Longest level stored; longer ones are cut.</summary>
    public const int MaxLevelLength = 16;

    public long Id { get; set; }
    public Guid TaskId { get; set; }
    public DateTime Timestamp { get; set; }
    public required string Level { get; set; }
    public required string Message { get; set; }
}
