namespace Orchestrator.Rollouts;

/// <summary>The arithmetic of a strategy, fixed at creation: which batch each target is in, and how many failures the
/// rollout tolerates.</summary>
public static class RolloutPlan
{
    public const int MaxPauseSeconds = 24 * 60 * 60;

    /// <summary>Agents per batch after the canary: <c>batchSize</c>, or <c>batchPercent</c> of all targets rounded up
    /// (at least 1).</summary>
    public static int BatchSize(int total, int? batchSize, int? batchPercent) =>
        batchSize ?? (batchPercent is { } percent ? Math.Max(1, (int)Math.Ceiling(total * percent / 100.0)) : 1);

    /// <summary>The batch (from 1) of each target, in target order: the canary's agents first, then batches of
    /// <see cref="BatchSize"/>.</summary>
    public static int[] Batches(int total, int? batchSize, int? batchPercent, int? canary)
    {
        var size = BatchSize(total, batchSize, batchPercent);
        var first = Math.Min(canary ?? 0, total);
        var batches = new int[total];
        for (var i = 0; i < total; i++)
        {
            batches[i] = i < first ? 1 : (first > 0 ? 2 : 1) + (i - first) / size;
        }

        return batches;
    }

    /// <summary><c>maxFailures</c>, or <c>maxFailurePercent</c> of all targets rounded down; 0 by default.</summary>
    public static int FailureLimit(int total, int? maxFailures, int? maxFailurePercent) =>
        maxFailures ?? (maxFailurePercent is { } percent ? total * percent / 100 : 0);
}
