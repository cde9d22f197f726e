using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Tasks;

namespace Orchestrator.Rollouts;

/// <summary>One step of one rollout, in one transaction holding its row: its targets catch up with their tasks, then
/// the rollout stops (failure limit), ends, pauses for its canary, or starts its next batch when the batch before has
/// ended and the pause has passed. Everything a step decides commits together or not at all, so a replica dying in
/// the middle leaves no half-started batch, and the row lock keeps another replica from deciding the same step.</summary>
public sealed class RolloutSteps(
    OrchestratorDbContext db, RolloutRecorder recorder, TaskCommands tasks, TaskCredentials credentials, TaskEvents taskEvents,
    TaskMetrics taskMetrics, TaskCancellation cancellation, ILogger<RolloutSteps> logger)
{
    private sealed record TaskState(Guid Id, AgentTaskStatus Status, string? StatusReason, DateTime? CompletedAt);

    /// <summary>Advances the rollout as far as it can go now; returns when it next needs a look without being woken (the
    /// end of a pause), if ever. A rollout another replica is changing is left to it. <paramref name="watch"/> is told the
    /// tasks created, before the commit makes them visible to their agents.</summary>
    public async Task<DateTime?> AdvanceAsync(Guid rolloutId, Action<IReadOnlyCollection<Guid>> watch, CancellationToken cancellationToken)
    {
        var created = new List<AgentTask>();
        var toCancel = new List<Guid>();
        Rollout rollout;
        DateTime? wakeAt;
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            if (!await RolloutRows.TryLockAsync(db, rolloutId, cancellationToken))
            {
                return null;
            }

            rollout = await db.Rollouts.Include(r => r.Targets).FirstAsync(r => r.Id == rolloutId, cancellationToken);
            if (rollout.Status.IsFinal())
            {
                return null;
            }

            var states = await SyncAsync(rollout, cancellationToken);
            wakeAt = await DecideAsync(rollout, created, cancellationToken);
            if (rollout.Status == RolloutStatus.Cancelling)
            {
                // The cancel request cancels these after its commit; a replica that died before it did leaves them to us.
                toCancel.AddRange(states.Where(s => s.Status is AgentTaskStatus.Pending or AgentTaskStatus.Assigned or AgentTaskStatus.Running)
                    .Select(s => s.Id));
            }

            if (created.Count > 0)
            {
                watch([.. created.Select(t => t.Id)]);
            }

            if (db.ChangeTracker.HasChanges())
            {
                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
        }

        await recorder.CommittedAsync();
        foreach (var task in created)
        {
            taskMetrics.Created();
            await taskEvents.CreatedAsync(task.Id, task.AgentId, cancellationToken);
        }

        foreach (var taskId in toCancel)
        {
            await cancellation.RequestAsync(taskId, rollout.CancelledBy ?? RolloutRecorder.SystemActor, cancellationToken);
        }

        return wakeAt;
    }

    /// <summary>Targets whose task moved on take its state: a task still waiting for its agent is <c>pending</c>, one
    /// started (or being cancelled) <c>running</c>, and a final one its outcome (<c>timed_out</c> is a failure).
    /// Returns the states of the tasks not yet ended.</summary>
    private async Task<List<TaskState>> SyncAsync(Rollout rollout, CancellationToken cancellationToken)
    {
        var open = rollout.Targets.Where(t => t.TaskId is not null && !t.Status.IsFinal()).ToDictionary(t => t.TaskId!.Value);
        if (open.Count == 0)
        {
            return [];
        }

        var ids = open.Keys.ToList();
        var states = await db.Tasks.AsNoTracking().Where(t => ids.Contains(t.Id))
            .Select(t => new TaskState(t.Id, t.Status, t.StatusReason, t.CompletedAt))
            .ToListAsync(cancellationToken);
        foreach (var state in states)
        {
            var target = open[state.Id];
            var (status, reason) = state.Status switch
            {
                AgentTaskStatus.Pending or AgentTaskStatus.Assigned => (RolloutTargetStatus.Pending, target.StatusReason),
                AgentTaskStatus.Running or AgentTaskStatus.Cancelling => (RolloutTargetStatus.Running, $"Task {state.Status.WireName()}."),
                AgentTaskStatus.Succeeded => (RolloutTargetStatus.Succeeded, state.StatusReason),
                AgentTaskStatus.TimedOut => (RolloutTargetStatus.Failed, $"Task timed out: {state.StatusReason}"),
                AgentTaskStatus.Failed => (RolloutTargetStatus.Failed, $"Task failed: {state.StatusReason}"),
                _ => (RolloutTargetStatus.Cancelled, $"Task cancelled: {state.StatusReason}"),
            };
            if (status != target.Status || (status == RolloutTargetStatus.Running && reason != target.StatusReason))
            {
                recorder.Target(target, status, reason, endedAt: state.CompletedAt);
            }
        }

        foreach (var lost in open.Values.Where(t => states.All(s => s.Id != t.TaskId)))
        {
            // Only retention removes a task, long after it ended; its outcome is unknown.
            recorder.Target(lost, RolloutTargetStatus.Failed, $"Its task {lost.TaskId} no longer exists.");
        }

        return [.. states.Where(s => !s.Status.IsEnded())];
    }

    private async Task<DateTime?> DecideAsync(Rollout rollout, List<AgentTask> created, CancellationToken cancellationToken)
    {
        var targets = rollout.Targets.OrderBy(t => t.Position).ToList();
        var failures = targets.Count(t => t.Status.IsFailure());
        var running = targets.Count(t => t.TaskId is not null && !t.Status.IsFinal());
        if (rollout.Status == RolloutStatus.Cancelling)
        {
            if (running == 0)
            {
                recorder.End(rollout, RolloutStatus.Cancelled, $"Cancelled by {rollout.CancelledBy}; {Summary(targets)}.");
            }

            return null;
        }

        if (failures > rollout.FailureLimit)
        {
            var stopped = $"{failures} of {targets.Count} targets failed, more than the {rollout.FailureLimit} allowed";
            var waiting = targets.Where(t => t.TaskId is null && !t.Status.IsFinal()).ToList();
            foreach (var target in waiting)
            {
                recorder.Target(target, RolloutTargetStatus.NotStarted, $"Not started: {stopped}.");
            }

            if (running == 0)
            {
                CloseBatch(rollout, targets);
                recorder.End(rollout, RolloutStatus.Failed, $"{stopped}; {Summary(targets)}.");
            }
            else if (waiting.Count > 0)
            {
                recorder.Status(rollout, rollout.Status, $"Stopping: {stopped}; waiting for {running} running tasks to end.");
            }

            return null;
        }

        if (rollout.Status == RolloutStatus.Paused)
        {
            return null;
        }

        while (true)
        {
            if (targets.Any(t => t.Batch <= rollout.CurrentBatch && !t.Status.IsFinal()))
            {
                return null;
            }

            if (rollout.CurrentBatch == rollout.BatchCount)
            {
                recorder.End(rollout, RolloutStatus.Succeeded, $"Every batch ended: {Summary(targets)}.");
                return null;
            }

            if (CloseBatch(rollout, targets))
            {
                if (rollout.CurrentBatch == 1 && rollout.Canary > 0)
                {
                    recorder.Status(rollout, RolloutStatus.Paused,
                        $"The canary batch ended ({Summary(targets.Where(t => t.Batch == 1))}); resume the rollout to go on.");
                    return null;
                }
            }

            if (rollout.NextBatchAt is { } due && due > recorder.Now)
            {
                return due;
            }

            await StartBatchAsync(rollout, targets.Where(t => t.Batch == rollout.CurrentBatch + 1).ToList(), created, cancellationToken);
        }
    }

    /// <summary>Notes, once, that the current batch (every target of it final) has ended: its duration, and when the next
    /// may start. False when it was noted before, or no batch has started.</summary>
    private bool CloseBatch(Rollout rollout, List<RolloutTarget> targets)
    {
        if (rollout.CurrentBatch == 0 || rollout.NextBatchAt is not null)
        {
            return false;
        }

        var ended = targets.Where(t => t.Batch == rollout.CurrentBatch).Max(t => t.EndedAt) ?? recorder.Now;
        recorder.BatchEnded(ended - (rollout.BatchStartedAt ?? ended));
        rollout.NextBatchAt = ended.AddSeconds(rollout.PauseSeconds);
        return true;
    }

    /// <summary>Creates the batch's tasks through the task API's own path, in this transaction; an agent that cannot take
    /// one now (offline, draining, deleted) is skipped with the reason.</summary>
    private async Task StartBatchAsync(Rollout rollout, List<RolloutTarget> batch, List<AgentTask> created, CancellationToken cancellationToken)
    {
        // The batch's tasks are created in this span, so each task's trace starts at its batch.
        using var span = Telemetry.Source.StartActivity("rollout.batch");
        var now = recorder.Now;
        rollout.CurrentBatch++;
        span?.SetTag("orchestrator.rollout.id", rollout.Id).SetTag("orchestrator.rollout.batch", rollout.CurrentBatch)
            .SetTag("orchestrator.rollout.targets", batch.Count);
        rollout.BatchStartedAt = now;
        rollout.NextBatchAt = null;
        rollout.StartedAt ??= now;
        recorder.Status(rollout, RolloutStatus.Running, $"Batch {rollout.CurrentBatch} of {rollout.BatchCount} started.");
        recorder.BatchStarted(rollout, batch.Count);

        var taskCredentials = credentials.Unprotect(rollout.ProtectedCredentials);
        var skipped = 0;
        foreach (var target in batch)
        {
            var staged = await tasks.StageAsync(new TaskCommands.NewTask(rollout.TaskType, rollout.PayloadJson, taskCredentials, rollout.Priority,
                rollout.TimeoutSeconds, target.AgentId, Selector: null, IdempotencyKey: null), rollout.CreatedBy, rollout.Id, cancellationToken);
            if (staged is { Outcome: TaskOutcome.Ok, Task: { } task })
            {
                created.Add(task);
                recorder.Target(target, RolloutTargetStatus.Pending, "Task created; waiting for the agent to start it.", task.Id);
                continue;
            }

            skipped++;
            var why = staged.Outcome switch
            {
                TaskOutcome.NotFound => "the agent had been deleted",
                TaskOutcome.Conflict => "the agent was draining",
                TaskOutcome.Unprocessable => $"the agent no longer runs task type '{rollout.TaskType}'",
                _ => "the agent was offline",
            };
            recorder.Target(target, RolloutTargetStatus.Skipped, $"Skipped: {why} when batch {rollout.CurrentBatch} started.");
        }

        span?.SetTag("orchestrator.rollout.skipped", skipped);
        var (id, number, count, started) = (rollout.Id, rollout.CurrentBatch, rollout.BatchCount, batch.Count - skipped);
        recorder.AfterCommit(() => logger.RolloutBatchStarted(id, number, count, started, skipped));
    }

    private static string Summary(IEnumerable<RolloutTarget> targets)
    {
        var counts = RolloutRecorder.Count(targets);
        return $"{counts.Succeeded} succeeded, {counts.Failed} failed, {counts.Cancelled} cancelled, {counts.Skipped} skipped, " +
            $"{counts.NotStarted} not started";
    }
}
