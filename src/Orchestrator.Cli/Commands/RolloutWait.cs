using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary>Waits for a rollout (the server holds each request; <c>--follow</c> reads its event stream instead), prints
/// it as it ended, and turns its outcome into the exit code. At a terminal the wait shows the batch and the counts.</summary>
public static class RolloutWait
{
    public static async Task<int> RunAsync(Invocation run, OrchestratorClient client, RolloutResponse rollout, TimeSpan? timeout, bool follow)
    {
        RolloutResponse final;
        if (follow)
        {
            await FollowAsync(run, client, rollout, timeout);
            run.Answers.Clear();
            final = await client.Rollouts.WaitAsync(rollout.RolloutId, TimeSpan.Zero, cancellationToken: run.Cancellation);
        }
        else
        {
            var progress = new LiveProgress(rollout);
            using var display = WaitDisplay.For(run, elapsed => $"Rollout {rollout.RolloutId}: {progress}, {Output.Duration(elapsed)}");
            using var stopFollowing = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation);
            // The server holds each wait until the end; at a terminal the rollout's events keep the line current meanwhile.
            var following = display is null ? Task.CompletedTask : progress.FollowAsync(client, stopFollowing.Token);
            run.Answers.Clear();
            final = await client.Rollouts.WaitAsync(rollout.RolloutId, timeout, progress.Update, run.Cancellation);
            await stopFollowing.CancelAsync();
            await following;
        }

        RolloutCommands.Show(run, final);
        return await OutcomeAsync(run, final, timeout);
    }

    /// <summary><c>running, batch 2 of 5: 4 succeeded, 1 failed, 2 running, 13 pending</c>.</summary>
    public static string Progress(RolloutResponse rollout) =>
        Progress(rollout.Status, rollout.CurrentBatch, rollout.BatchCount, rollout.Counts);

    private static string Progress(RolloutStatus status, int batch, int batchCount, RolloutCounts c)
    {
        var parts = new (int Count, string Name)[]
        {
            (c.Succeeded, "succeeded"), (c.Failed, "failed"), (c.Cancelled, "cancelled"), (c.Running, "running"), (c.Pending, "pending"),
            (c.Skipped, "skipped"), (c.NotStarted, "not started"),
        };
        var counts = string.Join(", ", parts.Where(p => p.Count > 0).Select(p => $"{p.Count} {p.Name}"));
        return $"{WireNames.Of(status)}, batch {batch} of {batchCount}: {counts}";
    }

    private static Task FollowAsync(Invocation run, OrchestratorClient client, RolloutResponse rollout, TimeSpan? timeout) =>
        TaskWait.PrintEventsAsync(run,
            $"--- rollout {rollout.RolloutId} ({Output.OneLine(rollout.TaskType)}) on {rollout.Counts.Total} agents in {rollout.BatchCount} batches",
            token => client.Rollouts.FollowAsync(rollout.RolloutId, cancellationToken: token), item => item switch
            {
                { Batch: { } batch } => $"--- batch {batch.Batch} of {batch.BatchCount} started ({batch.Targets} agents)",
                { Target: { Status: not RolloutTargetStatus.Pending } target } =>
                    $"{Output.OneLine(target.AgentName)}: {WireNames.Of(target.Status)}" +
                    (target.Status is RolloutTargetStatus.Running or RolloutTargetStatus.Succeeded || string.IsNullOrEmpty(target.StatusReason)
                        ? ""
                        : $" ({Output.OneLine(target.StatusReason)})"),
                { Status: { Status: not RolloutStatus.Running } status } => $"--- {WireNames.Of(status.Status)}" +
                    (string.IsNullOrEmpty(status.StatusReason) ? "" : $": {Output.OneLine(status.StatusReason)}"),
                _ => null,
            }, timeout);

    private static async Task<int> OutcomeAsync(Invocation run, RolloutResponse rollout, TimeSpan? timeout)
    {
        var reason = string.IsNullOrEmpty(rollout.StatusReason) ? "" : $": {Output.OneLine(rollout.StatusReason)}";
        switch (rollout.Status)
        {
            case RolloutStatus.Succeeded:
                return ExitCodes.Ok;
            case RolloutStatus.Failed or RolloutStatus.Cancelled:
                await run.Error.WriteLineAsync($"rollout {rollout.RolloutId} {WireNames.Of(rollout.Status)}{reason}");
                return ExitCodes.TaskFailed;
            default:
                await run.Error.WriteLineAsync($"rollout {rollout.RolloutId} is still {Progress(rollout)}: the wait ran out after " +
                    $"{Output.Duration(timeout ?? TimeSpan.Zero)}");
                return ExitCodes.WaitTimedOut;
        }
    }

    /// <summary>Where a waited-for rollout stands, from its answers and, between them, its events.</summary>
    private sealed class LiveProgress
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<Guid, RolloutTargetStatus> _targets = [];
        private RolloutStatus _status;
        private int _batch;
        private int _batchCount;

        public LiveProgress(RolloutResponse rollout)
        {
            RolloutId = rollout.RolloutId;
            Update(rollout);
        }

        public Guid RolloutId { get; }

        public void Update(RolloutResponse rollout)
        {
            lock (_lock)
            {
                (_status, _batch, _batchCount) = (rollout.Status, rollout.CurrentBatch, rollout.BatchCount);
                foreach (var target in rollout.Targets ?? [])
                {
                    _targets[target.AgentId] = target.Status;
                }
            }
        }

        /// <summary>Follows the events until stopped; only the display depends on it, so its failures are ignored.</summary>
        public async Task FollowAsync(OrchestratorClient client, CancellationToken stop)
        {
            try
            {
                await foreach (var item in client.Rollouts.FollowAsync(RolloutId, cancellationToken: stop))
                {
                    lock (_lock)
                    {
                        switch (item)
                        {
                            case { Status: { } status }:
                                _status = status.Status;
                                break;
                            case { Batch: { } batch }:
                                (_batch, _batchCount) = (batch.Batch, batch.BatchCount);
                                break;
                            case { Target: { } target }:
                                _targets[target.AgentId] = target.Status;
                                break;
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or OrchestratorApiException or HttpRequestException)
            {
            }
        }

        public override string ToString()
        {
            lock (_lock)
            {
                int Of(RolloutTargetStatus status) => _targets.Values.Count(s => s == status);
                var counts = new RolloutCounts(_targets.Count, Of(RolloutTargetStatus.Pending), Of(RolloutTargetStatus.Running),
                    Of(RolloutTargetStatus.Succeeded), Of(RolloutTargetStatus.Failed), Of(RolloutTargetStatus.Skipped),
                    Of(RolloutTargetStatus.Cancelled), Of(RolloutTargetStatus.NotStarted));
                return Progress(_status, _batch, _batchCount, counts);
            }
        }
    }
}
