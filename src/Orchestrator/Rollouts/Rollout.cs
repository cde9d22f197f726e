namespace Orchestrator.Rollouts;

public static class RolloutStatuses
{
    /// <summary>States the driver still has work in: targets to sync, batches to start, tasks to cancel.</summary>
    public static readonly RolloutStatus[] Active = [RolloutStatus.Pending, RolloutStatus.Running, RolloutStatus.Paused, RolloutStatus.Cancelling];

    public static string WireName(this RolloutStatus status) => WireNames.Of(status);

    public static string WireName(this RolloutTargetStatus status) => WireNames.Of(status);

    /// <summary>A target that will not change any more.</summary>
    public static bool IsFinal(this RolloutTargetStatus status) => status is not (RolloutTargetStatus.Pending or RolloutTargetStatus.Running);

    /// <summary>A target whose task ended failed, timed out or cancelled: it counts against the failure limit.</summary>
    public static bool IsFailure(this RolloutTargetStatus status) => status is RolloutTargetStatus.Failed or RolloutTargetStatus.Cancelled;
}

/// <summary>One task definition for a fixed set of agents, run batch by batch (<see cref="RolloutDriver"/>).</summary>
public sealed class Rollout
{
    public Guid Id { get; set; }
    public string? Name { get; set; }
    public RolloutStatus Status { get; set; }
    public string? StatusReason { get; set; }

    public required string TaskType { get; set; }
    public string? PayloadJson { get; set; }

    /// <summary>The tasks' credentials, encrypted as a task's are, until the rollout ends (later batches need them).</summary>
    public string? ProtectedCredentials { get; set; }
    public int Priority { get; set; }
    public int TimeoutSeconds { get; set; }

    public int? BatchSize { get; set; }
    public int? BatchPercent { get; set; }
    public int? MaxFailures { get; set; }
    public int? MaxFailurePercent { get; set; }
    public int PauseSeconds { get; set; }
    public int? Canary { get; set; }

    /// <summary>Most failed targets the rollout tolerates; one more stops it. Fixed at creation from the strategy.</summary>
    public int FailureLimit { get; set; }
    public int BatchCount { get; set; }

    /// <summary>The last batch started (from 1); 0 before the first.</summary>
    public int CurrentBatch { get; set; }
    public DateTime? BatchStartedAt { get; set; }

    /// <summary>Set once the current batch has ended: when the next may start (its end plus <see cref="PauseSeconds"/>).</summary>
    public DateTime? NextBatchAt { get; set; }

    public string? IdempotencyKey { get; set; }
    public required string CreatedBy { get; set; }
    public string? CancelledBy { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? CompletedAt { get; set; }

    public List<RolloutTarget> Targets { get; set; } = [];
}

/// <summary>One agent of a rollout, fixed at creation: at most one per agent (the key), so at most one task.</summary>
public sealed class RolloutTarget
{
    public Guid RolloutId { get; set; }
    public Guid AgentId { get; set; }

    /// <summary>The agent's name at creation: targets go in name order, and a deleted agent keeps its name here.</summary>
    public required string AgentName { get; set; }
    public int Batch { get; set; }

    /// <summary>Place in name order (from 0).</summary>
    public int Position { get; set; }
    public Guid? TaskId { get; set; }
    public RolloutTargetStatus Status { get; set; }
    public string? StatusReason { get; set; }

    /// <summary>When it reached a final status: a batch ends with its last target, and the pause counts from there.</summary>
    public DateTime? EndedAt { get; set; }
}

/// <summary>What happened to a rollout, in commit order: what <c>/events</c> replays and follows.</summary>
public sealed class RolloutEvent
{
    public const int MaxTypeLength = 16;

    public long Id { get; set; }
    public Guid RolloutId { get; set; }
    public DateTime At { get; set; }
    public required string Type { get; set; }
    public required string DataJson { get; set; }
}
