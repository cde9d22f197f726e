using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Audit;
using Orchestrator.Data;

namespace Orchestrator.Tasks;

public enum TaskOutcome
{
    Ok,
    Replayed,
    NotFound,
    Forbidden,
    Conflict,
    Unavailable,
}

public sealed record TaskResult(TaskOutcome Outcome, AgentTask? Task = null, string? Detail = null);

/// <summary>Every query and state change of tasks. Writes are conditional on the state they were decided from, so
/// concurrent requests and several replicas never move a task twice.</summary>
public sealed class TaskStore(
    OrchestratorDbContext db, TimeProvider time, IOptions<TaskOptions> options, TaskCredentials credentials, AuditLog audit, ITaskAgents agents)
{
    public const string SystemActor = "system:tasks";

    private const string Pending = nameof(AgentTaskStatus.Pending);
    private const string Assigned = nameof(AgentTaskStatus.Assigned);
    private const string Running = nameof(AgentTaskStatus.Running);
    private const string Cancelling = nameof(AgentTaskStatus.Cancelling);
    private const string Cancelled = nameof(AgentTaskStatus.Cancelled);
    private const string TimedOut = nameof(AgentTaskStatus.TimedOut);

    private TaskOptions Options => options.Value;

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    // ---- Operators ----------------------------------------------------------------------------------------

    public sealed record NewTask(
        string TaskType, string? PayloadJson, IReadOnlyDictionary<string, string>? Credentials, int Priority, int TimeoutSeconds,
        Guid? AgentId, TaskSelector? Selector, string? IdempotencyKey);

    /// <summary>Creates the task for its agent, or with an idempotency key already used, returns the first task.</summary>
    public async Task<TaskResult> CreateAsync(NewTask request, string actor, CancellationToken cancellationToken)
    {
        if (request.IdempotencyKey is not null)
        {
            var earlier = await ReplayAsync(request, cancellationToken);
            if (earlier is not null)
            {
                return earlier;
            }
        }

        var choice = await agents.ChooseAsync(request.AgentId, request.Selector, cancellationToken);
        if (choice.Outcome != TaskOutcome.Ok)
        {
            return choice;
        }

        var task = new AgentTask
        {
            Id = Guid.CreateVersion7(time.GetUtcNow()),
            TaskType = request.TaskType,
            AgentId = choice.Task!.AgentId,
            Status = AgentTaskStatus.Pending,
            Priority = request.Priority,
            TimeoutSeconds = request.TimeoutSeconds,
            PayloadJson = request.PayloadJson,
            ProtectedCredentials = credentials.Protect(request.Credentials),
            IdempotencyKey = request.IdempotencyKey,
            CreatedBy = actor,
            CreatedAt = Now,
        };
        db.Tasks.Add(task);
        audit.Record(actor, "task.created", "task", task.Id.ToString(), new
        {
            task.TaskType,
            task.AgentId,
            task.Priority,
            timeout = task.TimeoutSeconds,
            task.IdempotencyKey,
            credentialNames = request.Credentials?.Keys.Order(StringComparer.Ordinal).ToArray(),
        });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException) when (request.IdempotencyKey is not null)
        {
            // Another request with the same key won the unique index: answer with its task.
            db.ChangeTracker.Clear();
            return await ReplayAsync(request, cancellationToken) ?? throw new InvalidOperationException("The task could not be stored.");
        }

        return new TaskResult(TaskOutcome.Ok, task);
    }

    private async Task<TaskResult?> ReplayAsync(NewTask request, CancellationToken cancellationToken)
    {
        var earlier = await db.Tasks.AsNoTracking().Include(t => t.Logs.OrderBy(l => l.Id))
            .FirstOrDefaultAsync(t => t.IdempotencyKey == request.IdempotencyKey, cancellationToken);
        if (earlier is null)
        {
            return null;
        }

        return earlier.TaskType == request.TaskType
            ? new TaskResult(TaskOutcome.Replayed, earlier)
            : new TaskResult(TaskOutcome.Conflict, Detail:
                $"The idempotency key was already used for task {earlier.Id} of type '{earlier.TaskType}'; use a new key for a different task.");
    }

    public Task<AgentTask?> FindAsync(Guid taskId, CancellationToken cancellationToken) =>
        db.Tasks.AsNoTracking().Include(t => t.Logs.OrderBy(l => l.Id)).FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);

    /// <summary>Newest first, without logs; <paramref name="before"/> is the last id of the previous page.</summary>
    public Task<List<AgentTask>> ListAsync(Guid? agentId, AgentTaskStatus? status, Guid? before, int take, CancellationToken cancellationToken)
    {
        var query = db.Tasks.AsNoTracking();
        if (agentId is { } agent)
        {
            query = query.Where(t => t.AgentId == agent);
        }

        if (status is { } wanted)
        {
            query = query.Where(t => t.Status == wanted);
        }

        if (before is { } cursor)
        {
            query = query.Where(t => t.Id.CompareTo(cursor) < 0);
        }

        return query.OrderByDescending(t => t.Id).Take(take).ToListAsync(cancellationToken);
    }

    /// <summary>Two-phase cancel: a pending task ends at once; a delivered one becomes cancelling until its agent
    /// confirms or the grace period passes. Asking again while cancelling changes nothing.</summary>
    public async Task<TaskResult> RequestCancelAsync(Guid taskId, string actor, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);
            if (task is null)
            {
                return new TaskResult(TaskOutcome.NotFound, Detail: $"No task has id {taskId}.");
            }

            if (task.Status == AgentTaskStatus.Cancelling)
            {
                return new TaskResult(TaskOutcome.Ok, task);
            }

            if (task.Status.IsEnded())
            {
                return new TaskResult(TaskOutcome.Conflict, task, $"Task {taskId} has already ended ({task.Status.WireName()}).");
            }

            var now = Now;
            var observed = task.Status;
            var next = observed == AgentTaskStatus.Pending ? AgentTaskStatus.Cancelled : AgentTaskStatus.Cancelling;
            var reason = next == AgentTaskStatus.Cancelled
                ? $"Cancelled by {actor} before delivery."
                : $"Cancellation requested by {actor}; waiting for the agent to stop it.";

            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var changed = await db.Tasks.Where(t => t.Id == taskId && t.Status == observed).ExecuteUpdateAsync(s => s
                .SetProperty(t => t.Status, next)
                .SetProperty(t => t.StatusReason, reason)
                .SetProperty(t => t.CancelRequestedAt, now)
                .SetProperty(t => t.CompletedAt, next == AgentTaskStatus.Cancelled ? now : (DateTime?)null)
                .SetProperty(t => t.ProtectedCredentials, t => next == AgentTaskStatus.Cancelled ? null : t.ProtectedCredentials),
                cancellationToken);
            if (changed == 0)
            {
                // The task moved on between the read and the write (delivered, completed): decide again.
                await transaction.RollbackAsync(cancellationToken);
                continue;
            }

            audit.Record(actor, "task.cancelled", "task", taskId.ToString(), new { from = observed.WireName(), to = next.WireName() });
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            task.Status = next;
            task.StatusReason = reason;
            task.CancelRequestedAt = now;
            return new TaskResult(TaskOutcome.Ok, task);
        }

        throw new InvalidOperationException($"Task {taskId} kept changing while it was being cancelled.");
    }

    // ---- Agents -------------------------------------------------------------------------------------------

    /// <summary>Atomically marks the agent's deliverable tasks delivered (pending ones, and delivered ones not started
    /// within <c>RedeliverAfter</c>) and returns their ids. A task is claimed by one caller per redelivery window,
    /// however many requests or replicas ask at once. Without <paramref name="includePending"/> (a draining agent) only
    /// redeliveries go out.</summary>
    public async Task<List<Guid>> ClaimDeliverableAsync(Guid agentId, bool includePending, CancellationToken cancellationToken)
    {
        var now = Now;
        var cutoff = now - Options.RedeliverAfter;
        var limit = Options.MaxTasksPerDelivery;
        // One statement either way. PostgreSQL: rows another claim holds are skipped, not waited for, and a row
        // that changed meanwhile is re-checked against the WHERE clause. SQLite: one writer at a time.
        var claim = db.Database.IsNpgsql()
            ? db.Database.SqlQuery<Guid>($"""
                UPDATE "Tasks" SET "Status" = 'Assigned', "AssignedAt" = COALESCE("AssignedAt", {now}),
                    "LastDeliveredAt" = {now}, "DeliveryCount" = "DeliveryCount" + 1
                WHERE "Id" IN (
                    SELECT "Id" FROM "Tasks"
                    WHERE "AgentId" = {agentId}
                      AND (("Status" = 'Pending' AND {includePending}) OR ("Status" = 'Assigned' AND "StartedAt" IS NULL AND "LastDeliveredAt" <= {cutoff}))
                    ORDER BY "Priority" DESC, "CreatedAt", "Id"
                    LIMIT {limit}
                    FOR UPDATE SKIP LOCKED)
                RETURNING "Id" AS "Value"
                """)
            : db.Database.SqlQuery<Guid>($"""
                UPDATE "Tasks" SET "Status" = 'Assigned', "AssignedAt" = COALESCE("AssignedAt", {now}),
                    "LastDeliveredAt" = {now}, "DeliveryCount" = "DeliveryCount" + 1
                WHERE "Id" IN (
                    SELECT "Id" FROM "Tasks"
                    WHERE "AgentId" = {agentId}
                      AND (("Status" = 'Pending' AND {includePending}) OR ("Status" = 'Assigned' AND "StartedAt" IS NULL AND "LastDeliveredAt" <= {cutoff}))
                    ORDER BY "Priority" DESC, "CreatedAt", "Id"
                    LIMIT {limit})
                RETURNING "Id" AS "Value"
                """);
        return await claim.ToListAsync(cancellationToken);
    }

    /// <summary>Marks one task delivered because its agent fetched it; only an unstarted task changes.</summary>
    public async Task<TaskResult> ClaimOneAsync(Guid agentId, Guid taskId, CancellationToken cancellationToken)
    {
        var now = Now;
        await db.Tasks
            .Where(t => t.Id == taskId && t.AgentId == agentId &&
                        (t.Status == AgentTaskStatus.Pending || (t.Status == AgentTaskStatus.Assigned && t.StartedAt == null)))
            .ExecuteUpdateAsync(s => s
                .SetProperty(t => t.Status, AgentTaskStatus.Assigned)
                .SetProperty(t => t.AssignedAt, t => t.AssignedAt ?? now)
                .SetProperty(t => t.LastDeliveredAt, now)
                .SetProperty(t => t.DeliveryCount, t => t.DeliveryCount + 1), cancellationToken);
        var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);
        return Owned(task, agentId, taskId);
    }

    public Task<List<AgentTask>> LoadAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken) =>
        db.Tasks.AsNoTracking().Where(t => ids.Contains(t.Id))
            .OrderByDescending(t => t.Priority).ThenBy(t => t.CreatedAt).ThenBy(t => t.Id)
            .ToListAsync(cancellationToken);

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
    /// write lock: is anything deliverable, which tasks must the agent stop, and when could that change by itself.</summary>
    public async Task<AgentTaskView> ViewForAgentAsync(Guid agentId, CancellationToken cancellationToken)
    {
        var now = Now;
        var redeliverCutoff = now - Options.RedeliverAfter;
        var cancelledSince = now - Options.CancelGracePeriod;
        var rows = await db.Tasks.AsNoTracking()
            .Where(t => t.AgentId == agentId &&
                        (t.Status == AgentTaskStatus.Pending ||
                         t.Status == AgentTaskStatus.Cancelling ||
                         (t.Status == AgentTaskStatus.Assigned && t.StartedAt == null) ||
                         (t.Status == AgentTaskStatus.TimedOut && t.CompletedAt > cancelledSince)))
            .Select(t => new { t.Id, t.Status, t.LastDeliveredAt })
            .ToListAsync(cancellationToken);
        var waiting = rows.Where(r => r.Status == AgentTaskStatus.Assigned && r.LastDeliveredAt > redeliverCutoff).ToList();
        var draining = rows.Any(r => r.Status == AgentTaskStatus.Pending) && await agents.Draining(agentId).AnyAsync(cancellationToken);
        return new AgentTaskView(
            rows.Any(r => (r.Status == AgentTaskStatus.Pending && !draining) || (r.Status == AgentTaskStatus.Assigned && r.LastDeliveredAt <= redeliverCutoff)),
            draining,
            [.. rows.Where(r => r.Status is AgentTaskStatus.Cancelling or AgentTaskStatus.TimedOut).Select(r => r.Id).Order()],
            waiting.Count == 0 ? null : waiting.Min(r => r.LastDeliveredAt) + Options.RedeliverAfter);
    }

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

    /// <summary>Records the agent's outcome. The same outcome again is acknowledged; a different one for an ended
    /// task is a conflict. A cancelling task ends cancelled. Credentials are erased; logs are redacted and capped.</summary>
    public async Task<TaskResult> CompleteAsync(
        Guid agentId, Guid taskId, bool success, JsonElement? result, IReadOnlyList<TaskLogEntry> logs, CancellationToken cancellationToken)
    {
        var resultJson = result is { ValueKind: not JsonValueKind.Null } r ? r.GetRawText() : null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);
            var owned = Owned(task, agentId, taskId);
            if (owned.Outcome != TaskOutcome.Ok)
            {
                return owned;
            }

            if (task!.Status.IsEnded())
            {
                return task.Success == success && SameJson(task.ResultJson, resultJson)
                    ? new TaskResult(TaskOutcome.Replayed, task)
                    : new TaskResult(TaskOutcome.Conflict, task,
                        $"Task {taskId} has already ended ({task.Status.WireName()}) with a different outcome.");
            }

            var now = Now;
            var observed = task.Status;
            var next = observed == AgentTaskStatus.Cancelling ? AgentTaskStatus.Cancelled
                : success ? AgentTaskStatus.Succeeded : AgentTaskStatus.Failed;
            var reason = next switch
            {
                AgentTaskStatus.Cancelled => $"{task.StatusReason?.Replace("; waiting for the agent to stop it.", "", StringComparison.Ordinal)}; the agent stopped it.",
                AgentTaskStatus.Succeeded => "The agent reported success.",
                _ => "The agent reported failure.",
            };
            var lines = Capped(task, CredentialRedactor.For(credentials.Unprotect(task.ProtectedCredentials)), logs, now);

            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var changed = await db.Tasks.Where(t => t.Id == taskId && t.Status == observed).ExecuteUpdateAsync(s => s
                .SetProperty(t => t.Status, next)
                .SetProperty(t => t.StatusReason, reason)
                .SetProperty(t => t.Success, success)
                .SetProperty(t => t.ResultJson, resultJson)
                .SetProperty(t => t.CompletedAt, now)
                .SetProperty(t => t.StartedAt, t => t.StartedAt ?? now)
                .SetProperty(t => t.ProtectedCredentials, (string?)null)
                .SetProperty(t => t.LogCount, t => t.LogCount + lines.Stored.Count)
                .SetProperty(t => t.DroppedLogCount, t => t.DroppedLogCount + lines.Dropped), cancellationToken);
            if (changed == 0)
            {
                await transaction.RollbackAsync(cancellationToken);
                continue;
            }

            db.TaskLogs.AddRange(lines.Stored);
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            task.Status = next;
            return new TaskResult(TaskOutcome.Ok, task);
        }

        throw new InvalidOperationException($"Task {taskId} kept changing while its completion was recorded.");
    }

    /// <summary>Stream <c>task_progress</c>: the agent started the task (it is no longer redelivered).</summary>
    public async Task<TaskResult> RecordProgressAsync(Guid agentId, Guid taskId, int progress, string? message, CancellationToken cancellationToken)
    {
        var found = await FindUnfinishedOwnedAsync(agentId, taskId, cancellationToken);
        if (found is not { Outcome: TaskOutcome.Ok, Task: { } task })
        {
            return found;
        }

        var now = Now;
        var redacted = CredentialRedactor.For(credentials.Unprotect(task.ProtectedCredentials)).RedactOrNull(message);
        if (redacted is { Length: > 1024 })
        {
            redacted = redacted[..1024];
        }

        var changed = await db.Tasks.Where(t => t.Id == taskId && AgentTaskStatuses.Unfinished.Contains(t.Status)).ExecuteUpdateAsync(s => s
            .SetProperty(t => t.Progress, Math.Clamp(progress, 0, 100))
            .SetProperty(t => t.ProgressMessage, redacted)
            .SetProperty(t => t.StartedAt, t => t.StartedAt ?? now)
            .SetProperty(t => t.Status, t => t.Status == AgentTaskStatus.Pending || t.Status == AgentTaskStatus.Assigned ? AgentTaskStatus.Running : t.Status),
            cancellationToken);
        return changed == 0
            ? new TaskResult(TaskOutcome.Conflict, task, $"Task {taskId} has already ended.")
            : new TaskResult(TaskOutcome.Ok, task);
    }

    /// <summary>Stream <c>task_log</c> (and any other source of lines): redacted, capped, and marks the task started.</summary>
    public async Task<TaskResult> AppendLogsAsync(Guid agentId, Guid taskId, IReadOnlyList<TaskLogEntry> logs, CancellationToken cancellationToken)
    {
        var found = await FindUnfinishedOwnedAsync(agentId, taskId, cancellationToken);
        if (found is not { Outcome: TaskOutcome.Ok, Task: { } task })
        {
            return found;
        }

        var now = Now;
        var lines = Capped(task, CredentialRedactor.For(credentials.Unprotect(task.ProtectedCredentials)), logs, now);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var changed = await db.Tasks.Where(t => t.Id == taskId && AgentTaskStatuses.Unfinished.Contains(t.Status)).ExecuteUpdateAsync(s => s
            .SetProperty(t => t.StartedAt, t => t.StartedAt ?? now)
            .SetProperty(t => t.Status, t => t.Status == AgentTaskStatus.Pending || t.Status == AgentTaskStatus.Assigned ? AgentTaskStatus.Running : t.Status)
            .SetProperty(t => t.LogCount, t => t.LogCount + lines.Stored.Count)
            .SetProperty(t => t.DroppedLogCount, t => t.DroppedLogCount + lines.Dropped), cancellationToken);
        if (changed == 0)
        {
            return new TaskResult(TaskOutcome.Conflict, task, $"Task {taskId} has already ended.");
        }

        db.TaskLogs.AddRange(lines.Stored);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new TaskResult(TaskOutcome.Ok, task);
    }

    /// <summary>Ends every unfinished task of an agent being deleted. Call it inside the delete's transaction so the
    /// tasks end exactly when the agent goes. Each is audited under the operator who deleted the agent.</summary>
    public async Task<int> CancelAllForDeletedAgentAsync(Guid agentId, string actor, CancellationToken cancellationToken)
    {
        var now = Now;
        var reason = $"Cancelled because agent {agentId} was deleted.";
        var cancelled = await db.Database.SqlQuery<Guid>($"""
            UPDATE "Tasks" SET "Status" = 'Cancelled', "StatusReason" = {reason}, "CompletedAt" = {now}, "ProtectedCredentials" = NULL
            WHERE "AgentId" = {agentId} AND "Status" IN ('Pending', 'Assigned', 'Running', 'Cancelling')
            RETURNING "Id" AS "Value"
            """).ToListAsync(cancellationToken);
        foreach (var taskId in cancelled)
        {
            audit.Record(actor, "task.cancelled", "task", taskId.ToString(), new { agentId, to = AgentTaskStatus.Cancelled.WireName(), because = "agent deleted" });
        }

        return cancelled.Count;
    }

    // ---- Monitor ------------------------------------------------------------------------------------------

    public sealed class EndedTask
    {
        public Guid Id { get; set; }
        public Guid AgentId { get; set; }
    }

    public sealed record Overdue(List<EndedTask> TimedOut, List<EndedTask> GraceEnded, List<EndedTask> Undelivered);

    /// <summary>Ends delivered tasks past their timeout (counted from first delivery), cancelling tasks past the grace
    /// period, and tasks never delivered within <c>UndeliveredTimeout</c> (an agent that never came back), so every
    /// accepted task reaches a final state. Each row is returned to exactly one caller, so replicas running this
    /// together audit once.</summary>
    public async Task<Overdue> EndOverdueAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        var graceCutoff = now - Options.CancelGracePeriod;
        const string timeoutReason = "Not finished within its timeout after delivery.";
        const string graceReason = "Cancelled; the agent did not confirm within the grace period.";
        var undeliveredCutoff = now - Options.UndeliveredTimeout;
        var undeliveredReason = $"Not delivered within {Options.UndeliveredTimeout}: its agent never collected it.";

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var timedOut = await (db.Database.IsNpgsql()
            ? db.Database.SqlQuery<EndedTask>($"""
                UPDATE "Tasks" SET "Status" = 'TimedOut', "CompletedAt" = {now}, "StatusReason" = {timeoutReason}, "ProtectedCredentials" = NULL
                WHERE "Status" IN ('Assigned', 'Running') AND "AssignedAt" + make_interval(secs => "TimeoutSeconds") <= {now}
                RETURNING "Id", "AgentId"
                """)
            : db.Database.SqlQuery<EndedTask>($"""
                UPDATE "Tasks" SET "Status" = 'TimedOut', "CompletedAt" = {now}, "StatusReason" = {timeoutReason}, "ProtectedCredentials" = NULL
                WHERE "Status" IN ('Assigned', 'Running') AND julianday("AssignedAt") + "TimeoutSeconds" / 86400.0 <= julianday({now})
                RETURNING "Id", "AgentId"
                """)).ToListAsync(cancellationToken);
        var graceEnded = await db.Database.SqlQuery<EndedTask>($"""
            UPDATE "Tasks" SET "Status" = 'Cancelled', "CompletedAt" = {now}, "StatusReason" = {graceReason}, "ProtectedCredentials" = NULL
            WHERE "Status" = 'Cancelling' AND "CancelRequestedAt" <= {graceCutoff}
            RETURNING "Id", "AgentId"
            """).ToListAsync(cancellationToken);
        var undelivered = await db.Database.SqlQuery<EndedTask>($"""
            UPDATE "Tasks" SET "Status" = 'TimedOut', "CompletedAt" = {now}, "StatusReason" = {undeliveredReason}, "ProtectedCredentials" = NULL
            WHERE "Status" = 'Pending' AND "CreatedAt" <= {undeliveredCutoff}
            RETURNING "Id", "AgentId"
            """).ToListAsync(cancellationToken);

        foreach (var task in undelivered)
        {
            audit.Record(SystemActor, "task.timed_out", "task", task.Id.ToString(), new { task.AgentId, delivered = false });
        }

        foreach (var task in timedOut)
        {
            audit.Record(SystemActor, "task.timed_out", "task", task.Id.ToString(), new { task.AgentId });
        }

        foreach (var task in graceEnded)
        {
            audit.Record(SystemActor, "task.cancel_unconfirmed", "task", task.Id.ToString(), new { task.AgentId });
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new Overdue(timedOut, graceEnded, undelivered);
    }

    // ---- Helpers ------------------------------------------------------------------------------------------

    /// <summary>The agent's own unfinished task, or the answer to give instead: unknown, another agent's, or ended.</summary>
    private async Task<TaskResult> FindUnfinishedOwnedAsync(Guid agentId, Guid taskId, CancellationToken cancellationToken)
    {
        var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);
        var owned = Owned(task, agentId, taskId);
        return owned.Outcome == TaskOutcome.Ok && task!.Status.IsEnded()
            ? new TaskResult(TaskOutcome.Conflict, task, $"Task {taskId} has already ended ({task.Status.WireName()}).")
            : owned;
    }

    private static TaskResult Owned(AgentTask? task, Guid agentId, Guid taskId) =>
        task is null ? new TaskResult(TaskOutcome.NotFound, Detail: $"No task has id {taskId}.")
        : task.AgentId != agentId ? new TaskResult(TaskOutcome.Forbidden, Detail: $"Task {taskId} belongs to another agent.")
        : new TaskResult(TaskOutcome.Ok, task);

    private sealed record CappedLines(List<TaskLog> Stored, int Dropped);

    private CappedLines Capped(AgentTask task, CredentialRedactor redactor, IReadOnlyList<TaskLogEntry> logs, DateTime now)
    {
        var room = Math.Max(0, Options.MaxStoredLogLines - task.LogCount);
        var stored = logs.Take(room).Select(l => new TaskLog
        {
            TaskId = task.Id,
            Timestamp = l.Timestamp?.ToUniversalTime() ?? now,
            Level = string.IsNullOrWhiteSpace(l.Level) ? "info" : Truncate(l.Level.Trim().ToLowerInvariant(), MaxLevelLength),
            // Redacted before it is cut, so a secret straddling the cut is still masked.
            Message = Truncate(redactor.Redact(l.Message ?? ""), Options.MaxLogLineLength),
        }).ToList();
        return new CappedLines(stored, logs.Count - stored.Count);
    }

    public const int MaxLevelLength = 16;

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length];

    private static bool SameJson(string? stored, string? presented)
    {
        if (stored is null || presented is null)
        {
            return stored is null && presented is null;
        }

        using var a = JsonDocument.Parse(stored);
        using var b = JsonDocument.Parse(presented);
        return JsonElement.DeepEquals(a.RootElement, b.RootElement);
    }
}
