using System.Text.Json;

namespace Orchestrator.Contracts;

/// <summary>How a rollout goes through its targets. At most one of <c>batchSize</c> (default 1) or <c>batchPercent</c>
/// (1-100, of all targets, rounded up); at most one of <c>maxFailures</c> (default 0) or <c>maxFailurePercent</c>
/// (0-100, of all targets, rounded down); <c>pauseSeconds</c> between batches (default 0); <c>canary</c>: the agents
/// of a first batch after which the rollout pauses until resumed. In answers, what applies (the defaults filled in).</summary>
public sealed record RolloutStrategy(int? BatchSize, int? BatchPercent, int? MaxFailures, int? MaxFailurePercent, int? PauseSeconds, int? Canary);

/// <summary><c>POST /api/v1/rollouts</c>: one task definition (as for <c>POST /api/v1/tasks</c>) for every agent of a
/// target set, exactly one of <c>selector</c> or <c>agentIds</c>.</summary>
public sealed record CreateRolloutRequest(
    string? Name,
    string? TaskType,
    JsonElement? Payload,
    Dictionary<string, string>? Credentials,
    int? Priority,
    int? Timeout,
    TaskSelector? Selector,
    List<Guid>? AgentIds,
    RolloutStrategy? Strategy,
    string? IdempotencyKey);

/// <summary>How many targets are in each state; they add up to <c>total</c>.</summary>
public sealed record RolloutCounts(int Total, int Pending, int Running, int Succeeded, int Failed, int Skipped, int Cancelled, int NotStarted);

/// <summary>One agent of a rollout: its batch (from 1), its task once its batch started, and where it stands.</summary>
public sealed record RolloutTargetResponse(Guid AgentId, string AgentName, int Batch, Guid? TaskId, RolloutTargetStatus Status, string? StatusReason);

/// <summary>A rollout as operators see it. <c>currentBatch</c> is 0 until the first batch starts; <c>targets</c> is null
/// in lists (get the rollout for them).</summary>
public sealed record RolloutResponse(
    Guid RolloutId,
    string? Name,
    RolloutStatus Status,
    string? StatusReason,
    string TaskType,
    RolloutStrategy Strategy,
    DateTime CreatedAt,
    DateTime? StartedAt,
    DateTime? CompletedAt,
    int CurrentBatch,
    int BatchCount,
    RolloutCounts Counts,
    List<RolloutTargetResponse>? Targets);
