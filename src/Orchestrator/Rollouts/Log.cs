namespace Orchestrator.Rollouts;

/// <summary>Every log line of rollouts (event ids 1200-1299).</summary>
internal static partial class Log
{
    [LoggerMessage(1200, LogLevel.Error, "Rollout driver pass failed; retrying at the next pass")]
    public static partial void RolloutDriverFailed(this ILogger logger, Exception exception);

    [LoggerMessage(1201, LogLevel.Warning, "Rollout {RolloutId} could not be advanced; retrying at the next pass")]
    public static partial void RolloutStepFailed(this ILogger logger, Exception exception, Guid rolloutId);

    [LoggerMessage(1202, LogLevel.Information, "Rollout {RolloutId} ({TaskType}) created by {Actor}: {Targets} agents in {BatchCount} batches")]
    public static partial void RolloutCreated(this ILogger logger, Guid rolloutId, string taskType, string actor, int targets, int batchCount);

    [LoggerMessage(1203, LogLevel.Information, "Rollout {RolloutId} started batch {Batch} of {BatchCount}: {Tasks} tasks, {Skipped} agents skipped")]
    public static partial void RolloutBatchStarted(this ILogger logger, Guid rolloutId, int batch, int batchCount, int tasks, int skipped);

    [LoggerMessage(1204, LogLevel.Information, "Rollout {RolloutId} is {Status}: {Reason}")]
    public static partial void RolloutStatusChanged(this ILogger logger, Guid rolloutId, string status, string? reason);

    [LoggerMessage(1205, LogLevel.Warning, "Could not publish {Channel} for rollout {RolloutId}")]
    public static partial void RolloutEventNotPublished(this ILogger logger, Exception exception, string channel, Guid rolloutId);
}
