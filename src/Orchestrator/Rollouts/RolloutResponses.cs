namespace Orchestrator.Rollouts;

/// <summary>Rollouts as the API shows them.</summary>
public static class RolloutResponses
{
    public static RolloutResponse ToResponse(Rollout rollout, RolloutCounts counts, bool withTargets) =>
        new(rollout.Id, rollout.Name, rollout.Status, rollout.StatusReason, rollout.TaskType, Strategy(rollout), rollout.CreatedAt,
            rollout.StartedAt, rollout.CompletedAt, rollout.CurrentBatch, rollout.BatchCount, counts,
            withTargets
                ? [.. rollout.Targets.OrderBy(t => t.Position)
                    .Select(t => new RolloutTargetResponse(t.AgentId, t.AgentName, t.Batch, t.TaskId, t.Status, t.StatusReason))]
                : []);

    public static RolloutResponse ToResponse(Rollout rollout) => ToResponse(rollout, RolloutRecorder.Count(rollout.Targets), withTargets: true);

    /// <summary>The strategy that applies, defaults filled in at creation.</summary>
    public static RolloutStrategy Strategy(Rollout rollout) =>
        new(rollout.BatchSize, rollout.BatchPercent, rollout.MaxFailures, rollout.MaxFailurePercent, rollout.PauseSeconds, rollout.Canary);

    public static RolloutCounts Counts(IReadOnlyDictionary<RolloutTargetStatus, int> counts)
    {
        int Of(RolloutTargetStatus status) => counts.GetValueOrDefault(status);
        return new RolloutCounts(counts.Values.Sum(), Of(RolloutTargetStatus.Pending), Of(RolloutTargetStatus.Running),
            Of(RolloutTargetStatus.Succeeded), Of(RolloutTargetStatus.Failed), Of(RolloutTargetStatus.Skipped),
            Of(RolloutTargetStatus.Cancelled), Of(RolloutTargetStatus.NotStarted));
    }
}
