using System.Text.Json;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Http;

namespace Orchestrator.Rollouts;

/// <summary>Every change of a rollout and its targets goes through here, inside the caller's transaction: the row
/// changes, the event <c>/events</c> replays (written in the same unit of work, so an event exists exactly when its
/// change does), and for an end the audit event. What must wait for the commit (metrics, log lines) is queued and
/// done by <see cref="CommittedAsync"/>.</summary>
public sealed class RolloutRecorder(OrchestratorDbContext db, AuditLog audit, TimeProvider time, RolloutMetrics metrics,
    RolloutChanges changes, ILogger<RolloutRecorder> logger)
{
    public const string SystemActor = "system:rollouts";

    private readonly List<Action> _afterCommit = [];
    private readonly HashSet<Guid> _changed = [];
    private readonly HashSet<Guid> _ended = [];

    public DateTime Now => time.GetUtcNow().UtcDateTime;

    public static RolloutCounts Count(IEnumerable<RolloutTarget> targets) =>
        RolloutResponses.Counts(targets.CountBy(t => t.Status).ToDictionary());

    /// <summary>The rollout is now in <paramref name="status"/> for <paramref name="reason"/>.</summary>
    public void Status(Rollout rollout, RolloutStatus status, string reason)
    {
        rollout.Status = status;
        rollout.StatusReason = Cut(reason);
        Add(rollout.Id, RolloutEventTypes.Status, new RolloutStatusEvent(status, Now, rollout.StatusReason, Count(rollout.Targets)));
        _afterCommit.Add(() => logger.RolloutStatusChanged(rollout.Id, status.WireName(), rollout.StatusReason));
    }

    /// <summary>Ends the rollout: no batch starts any more, and its credentials are erased.</summary>
    public void End(Rollout rollout, RolloutStatus status, string reason)
    {
        rollout.CompletedAt = Now;
        rollout.NextBatchAt = null;
        rollout.ProtectedCredentials = null;
        Status(rollout, status, reason);
        audit.Record(SystemActor, "rollout.ended", "rollout", rollout.Id.ToString(),
            new { status = status.WireName(), reason = rollout.StatusReason, counts = Count(rollout.Targets) });
        _ended.Add(rollout.Id);
        _afterCommit.Add(() => metrics.Ended(status));
    }

    public void Target(RolloutTarget target, RolloutTargetStatus status, string? reason, Guid? taskId = null, DateTime? endedAt = null)
    {
        target.Status = status;
        target.StatusReason = reason is null ? null : Cut(reason);
        target.TaskId ??= taskId;
        if (status.IsFinal())
        {
            target.EndedAt = endedAt ?? Now;
            _afterCommit.Add(() => metrics.TargetEnded(status));
        }

        Add(target.RolloutId, RolloutEventTypes.Target, new RolloutTargetEvent(
            target.AgentId, target.AgentName, target.Batch, target.TaskId, status, target.StatusReason, target.EndedAt ?? Now));
    }

    public void BatchStarted(Rollout rollout, int targets) =>
        Add(rollout.Id, RolloutEventTypes.Batch, new RolloutBatchEvent(rollout.CurrentBatch, rollout.BatchCount, Now, targets));

    public void BatchEnded(TimeSpan took) => _afterCommit.Add(() => metrics.BatchEnded(took));

    public void AfterCommit(Action action) => _afterCommit.Add(action);

    /// <summary>After the commit: metrics and log lines, then every replica told which rollouts changed.</summary>
    public async Task CommittedAsync()
    {
        foreach (var action in _afterCommit)
        {
            action();
        }

        foreach (var id in _changed)
        {
            await changes.PublishAsync(id, _ended.Contains(id));
        }

        Forget();
    }

    /// <summary>The transaction was rolled back: nothing of it happened.</summary>
    public void Forget()
    {
        _afterCommit.Clear();
        _changed.Clear();
        _ended.Clear();
    }

    private void Add<T>(Guid rolloutId, string type, T data)
    {
        _changed.Add(rolloutId);
        db.RolloutEvents.Add(new RolloutEvent
        {
            RolloutId = rolloutId, At = Now, Type = type, DataJson = JsonSerializer.Serialize(data, WireJson.Options),
        });
    }

    private static string Cut(string text) => text.Length <= 512 ? text : text[..509] + "...";
}
