using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>The reads and claims of delivery: what an agent has waiting or must stop, and marking tasks delivered. A
/// claim is atomic and returns the rows it claimed, so a task goes to one caller per redelivery window however many
/// requests or replicas ask at once, and a delivery costs two statements: the view, then the claim.</summary>
public sealed class TaskClaims(
    OrchestratorDbContext db, TimeProvider time, IOptions<TaskOptions> options, ITaskAgents agents, TaskMetrics metrics)
{
    private TaskOptions Options => options.Value;

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>Marks the agent's deliverable tasks delivered (pending ones, and delivered ones not started within
    /// <c>RedeliverAfter</c>) and returns them, highest priority first, then oldest, at most <c>MaxTasksPerDelivery</c>.
    /// With <paramref name="includePending"/> false (a draining agent) only redeliveries go out; null decides it in the
    /// statement itself, from whether the agent drains now. With <paramref name="resendUnstarted"/> every delivered but
    /// unstarted task is due at once (see <see cref="TaskDelivery.TakeForAgentAsync"/>).</summary>
    public async Task<List<AgentTask>> ClaimDeliverableAsync(
        Guid agentId, bool? includePending, bool resendUnstarted, CancellationToken cancellationToken)
    {
        using var span = Telemetry.Source.StartActivity("task.claim");
        span?.SetTag(TaskSpans.AgentId, agentId);
        var now = Now;
        var pending = includePending is { } given ? (given ? "TRUE" : "FALSE") : $"NOT {agents.DrainingCondition(TaskSql.ClaimAgentId)}";
        var claim = TaskSql.For(db.Database).Claim(agentId, pending, now, RedeliveryCutoff(now, resendUnstarted), Options.MaxTasksPerDelivery);
        var claimed = await db.Tasks.FromSql(claim).AsNoTracking().ToListAsync(cancellationToken);
        foreach (var task in claimed)
        {
            metrics.Delivered(task, now);
        }

        span?.SetTag(TaskSpans.Claimed, claimed.Count);

        return [.. claimed.OrderByDescending(t => t.Priority).ThenBy(t => t.CreatedAt).ThenBy(t => t.Id)];
    }

    /// <summary>Marks one task delivered because its agent fetched it; only an unstarted task changes. A draining agent
    /// gets no new task this way either (409, the task keeps waiting), only one it was handed before.</summary>
    public async Task<TaskResult> ClaimOneAsync(Guid agentId, Guid taskId, CancellationToken cancellationToken)
    {
        var now = Now;
        var draining = agents.Draining(agentId);
        var claimed = await db.Tasks
            .Where(t => t.Id == taskId && t.AgentId == agentId &&
                        ((t.Status == AgentTaskStatus.Pending && !draining.Any()) ||
                         (t.Status == AgentTaskStatus.Assigned && t.StartedAt == null)))
            .ExecuteUpdateAsync(s => s
                .SetProperty(t => t.Status, AgentTaskStatus.Assigned)
                .SetProperty(t => t.AssignedAt, t => t.AssignedAt ?? now)
                .SetProperty(t => t.LastDeliveredAt, now)
                .SetProperty(t => t.DeliveryCount, t => t.DeliveryCount + 1), cancellationToken);
        var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);
        if (claimed == 1 && task is not null)
        {
            metrics.Delivered(task, now);
        }

        // Still waiting after the claim: only the drain held it back (a cancel would have ended it).
        if (claimed == 0 && task is { Status: AgentTaskStatus.Pending } && task.AgentId == agentId)
        {
            return new TaskResult(TaskOutcome.Conflict, task,
                $"Agent {agentId} is draining: it gets no new tasks until it is resumed; task {taskId} waits.");
        }

        return TaskResult.Owned(task, agentId, taskId);
    }

    /// <summary>What a claim would hand out now, without handing it out (the poll answer).</summary>
    public Task<List<TaskSummary>> DeliverableSummariesAsync(Guid agentId, CancellationToken cancellationToken)
    {
        var cutoff = Now - Options.RedeliverAfter;
        // Polls come every few seconds: the drain check rides in the same statement instead of a round trip of its own.
        var draining = agents.Draining(agentId);
        return db.Tasks.AsNoTracking()
            .Where(t => t.AgentId == agentId &&
                        ((t.Status == AgentTaskStatus.Pending && !draining.Any()) ||
                         (t.Status == AgentTaskStatus.Assigned && t.StartedAt == null && t.LastDeliveredAt <= cutoff)))
            .OrderByDescending(t => t.Priority).ThenBy(t => t.CreatedAt).ThenBy(t => t.Id)
            .Take(Options.MaxTasksPerDelivery)
            .Select(t => new TaskSummary(t.Id, t.TaskType, t.Priority, t.CreatedAt))
            .ToListAsync(cancellationToken);
    }

    /// <param name="HasDeliverable">A claim now would hand something out.</param>
    /// <param name="Draining">The agent drains: its undelivered tasks wait (only redeliveries go out).</param>
    /// <param name="CancelledTasks">Tasks the agent must stop.</param>
    /// <param name="NextRedeliveryAt">When the earliest delivered but unstarted task becomes due again, if any.</param>
    public sealed record AgentTaskView(bool HasDeliverable, bool Draining, List<Guid> CancelledTasks, DateTime? NextRedeliveryAt);

    /// <summary>One read answering the questions a heartbeat asks, so the common answer ("nothing new") takes no
    /// write lock: is anything deliverable, which tasks must the agent stop, and when could that change by itself.
    /// Whether the agent drains rides in the same statement (it only matters when a pending task came back).</summary>
    public async Task<AgentTaskView> ViewForAgentAsync(Guid agentId, bool resendUnstarted, CancellationToken cancellationToken)
    {
        var now = Now;
        var redeliverCutoff = RedeliveryCutoff(now, resendUnstarted);
        var cancelledSince = now - Options.CancelGracePeriod;
        var draining = agents.Draining(agentId);
        var rows = await db.Tasks.AsNoTracking()
            .Where(t => t.AgentId == agentId &&
                        (t.Status == AgentTaskStatus.Pending ||
                         t.Status == AgentTaskStatus.Cancelling ||
                         (t.Status == AgentTaskStatus.Assigned && t.StartedAt == null) ||
                         (t.Status == AgentTaskStatus.TimedOut && t.CompletedAt > cancelledSince)))
            .Select(t => new { t.Id, t.Status, t.LastDeliveredAt, AgentDrains = t.Status == AgentTaskStatus.Pending && draining.Any() })
            .ToListAsync(cancellationToken);
        var waiting = rows.Where(r => r.Status == AgentTaskStatus.Assigned && r.LastDeliveredAt > redeliverCutoff).ToList();
        var drains = rows.Any(r => r.AgentDrains);
        return new AgentTaskView(
            rows.Any(r => (r.Status == AgentTaskStatus.Pending && !drains) ||
                          (r.Status == AgentTaskStatus.Assigned && r.LastDeliveredAt <= redeliverCutoff)),
            drains,
            [.. rows.Where(r => r.Status is AgentTaskStatus.Cancelling or AgentTaskStatus.TimedOut).Select(r => r.Id).Order()],
            waiting.Count == 0 ? null : waiting.Min(r => r.LastDeliveredAt) + Options.RedeliverAfter);
    }

    /// <summary>Every agent that may have something to take: a pending or cancelling task, an unstarted one due for
    /// redelivery, or one that timed out within the grace period. A superset of the agents whose next read hands out or
    /// cancels something (a draining agent's pending task counts), in one statement for the whole fleet
    /// (<see cref="IdleSweep"/>).</summary>
    public Task<List<Guid>> AgentsWithWorkAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        var redeliverCutoff = RedeliveryCutoff(now, resendUnstarted: false);
        var cancelledSince = now - Options.CancelGracePeriod;
        return db.Tasks.AsNoTracking()
            .Where(t => t.Status == AgentTaskStatus.Pending ||
                        t.Status == AgentTaskStatus.Cancelling ||
                        (t.Status == AgentTaskStatus.Assigned && t.StartedAt == null && t.LastDeliveredAt <= redeliverCutoff) ||
                        (t.Status == AgentTaskStatus.TimedOut && t.CompletedAt > cancelledSince))
            .Select(t => t.AgentId)
            .Distinct()
            .ToListAsync(cancellationToken);
    }

    /// <summary>Tasks delivered at or before this are due again: after <c>RedeliverAfter</c>, or at once.</summary>
    private DateTime RedeliveryCutoff(DateTime now, bool resendUnstarted) => resendUnstarted ? now : now - Options.RedeliverAfter;

    /// <summary>Tasks the agent must stop: cancelling ones, and ones that timed out within the last grace period
    /// (repeated on every answer until then, as agents de-duplicate by id).</summary>
    public Task<List<Guid>> CancelledForAgentAsync(Guid agentId, CancellationToken cancellationToken)
    {
        var since = Now - Options.CancelGracePeriod;
        return db.Tasks.AsNoTracking()
            .Where(t => t.AgentId == agentId &&
                        (t.Status == AgentTaskStatus.Cancelling || (t.Status == AgentTaskStatus.TimedOut && t.CompletedAt > since)))
            .OrderBy(t => t.Id)
            .Select(t => t.Id)
            .ToListAsync(cancellationToken);
    }
}
