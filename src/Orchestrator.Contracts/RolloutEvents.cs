namespace Orchestrator.Contracts;

/// <summary>The events of <c>GET /api/v1/rollouts/{rolloutId}/events</c> (Server-Sent Events), told apart by the SSE
/// <c>event:</c> field, in the order they happened. Every event has an <c>id:</c>: sent back as <c>Last-Event-ID</c>,
/// the stream resumes after that event. The stream ends after the <c>status</c> event of a final state.</summary>
public static class RolloutEventTypes
{
    /// <summary><see cref="RolloutStatusEvent"/>: the rollout reached a state (created, started, paused, resumed, ended).</summary>
    public const string Status = "status";

    /// <summary><see cref="RolloutBatchEvent"/>: a batch started.</summary>
    public const string Batch = "batch";

    /// <summary><see cref="RolloutTargetEvent"/>: a target changed: its task was created or started or ended, or it was
    /// skipped or will not start.</summary>
    public const string Target = "target";
}

public sealed record RolloutStatusEvent(RolloutStatus Status, DateTime At, string? StatusReason, RolloutCounts Counts);

public sealed record RolloutBatchEvent(int Batch, int BatchCount, DateTime At, int Targets);

public sealed record RolloutTargetEvent(
    Guid AgentId, string AgentName, int Batch, Guid? TaskId, RolloutTargetStatus Status, string? StatusReason, DateTime At);
