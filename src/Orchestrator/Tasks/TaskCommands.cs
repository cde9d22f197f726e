using System.Diagnostics;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Http;

namespace Orchestrator.Tasks;

/// <summary>Every state change of a task: operators create and cancel, agents report progress, logs and outcome, and
/// an agent's deletion ends its tasks. Writes are conditional on the state they were decided from, so concurrent
/// requests and several replicas never move a task twice.</summary>
public sealed class TaskCommands(
    OrchestratorDbContext db, TimeProvider time, IOptions<TaskOptions> options, TaskCredentials credentials, AuditLog audit,
    ITaskAgents agents, TaskMetrics metrics)
{
    private TaskOptions Options => options.Value;

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    public sealed record NewTask(
        string TaskType, string? PayloadJson, IReadOnlyDictionary<string, string>? Credentials, int Priority, int TimeoutSeconds,
        Guid? AgentId, TaskSelector? Selector, string? IdempotencyKey);

    /// <summary>Creates the task for its agent, or with an idempotency key already used, returns the first task.</summary>
    public async Task<TaskResult> CreateAsync(NewTask request, string actor, CancellationToken cancellationToken)
    {
        using var span = Telemetry.Source.StartActivity("task.create");
        span?.SetTag(TaskSpans.TaskType, request.TaskType);
        var created = await CreateCoreAsync(request, actor, cancellationToken);
        if (created.Task is { } task)
        {
            span?.SetTag(TaskSpans.TaskId, task.Id).SetTag(TaskSpans.AgentId, task.AgentId);
        }

        span?.SetTag(TaskSpans.Outcome, created.Outcome.ToString());
        return created;
    }

    private async Task<TaskResult> CreateCoreAsync(NewTask request, string actor, CancellationToken cancellationToken)
    {
        if (request.IdempotencyKey is not null)
        {
            var earlier = await ReplayAsync(request, cancellationToken);
            if (earlier is not null)
            {
                return earlier;
            }
        }

        // One transaction from choosing the agent to storing the task: the agent's deletion (which cancels its tasks
        // in its own transaction) cannot fall between the two and leave the task pending for an agent that is gone.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var staged = await StageAsync(request, actor, rolloutId: null, cancellationToken);
        if (staged.Outcome != TaskOutcome.Ok)
        {
            return staged;
        }

        var task = staged.Task!;
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException ex) when (request.IdempotencyKey is not null && !TransientFailures.IsTransient(ex))
        {
            // Another request with the same key won the unique index: answer with its task (read after this
            // transaction, which the failed insert has spoilt on PostgreSQL).
            await transaction.RollbackAsync(cancellationToken);
            db.ChangeTracker.Clear();
            return await ReplayAsync(request, cancellationToken) ?? throw new InvalidOperationException("The task could not be stored.");
        }

        metrics.Created();
        return new TaskResult(TaskOutcome.Ok, task);
    }

    /// <summary>Chooses the task's agent and adds the task (and its audit event) to the caller's unit of work, inside the
    /// caller's transaction, which must save and commit it: <see cref="CreateAsync"/> for one task, a rollout for the
    /// tasks of a batch. The caller counts the task created (<see cref="TaskMetrics.Created"/>) once committed. Not
    /// found, draining and offline agents answer as for one task.</summary>
    public async Task<TaskResult> StageAsync(NewTask request, string actor, Guid? rolloutId, CancellationToken cancellationToken)
    {
        var choice = await agents.ChooseAsync(request.AgentId, request.Selector, request.TaskType, cancellationToken);
        if (choice.Outcome != TaskOutcome.Ok)
        {
            return choice;
        }

        var task = new AgentTask
        {
            Id = Guid.CreateVersion7(time.GetUtcNow()),
            TaskType = request.TaskType,
            AgentId = choice.Task!.AgentId,
            RolloutId = rolloutId,
            Status = AgentTaskStatus.Pending,
            Priority = request.Priority,
            TimeoutSeconds = request.TimeoutSeconds,
            PayloadJson = request.PayloadJson,
            ProtectedCredentials = credentials.Protect(request.Credentials),
            IdempotencyKey = request.IdempotencyKey,
            CreatedBy = actor,
            CreatedAt = Now,
            TraceParent = Telemetry.CurrentTraceParent(),
        };
        db.Tasks.Add(task);
        audit.Record(actor, "task.created", "task", task.Id.ToString(), new
        {
            task.TaskType,
            task.AgentId,
            task.RolloutId,
            task.Priority,
            timeout = task.TimeoutSeconds,
            task.IdempotencyKey,
            credentialNames = request.Credentials?.Keys.Order(StringComparer.Ordinal).ToArray(),
        });
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
            if (next == AgentTaskStatus.Cancelled)
            {
                metrics.Ended(next);
            }

            return new TaskResult(TaskOutcome.Ok, task);
        }

        throw new InvalidOperationException($"Task {taskId} kept changing while it was being cancelled.");
    }

    /// <summary>Records the agent's outcome. The same outcome again is acknowledged; a different one for an ended
    /// task is a conflict. A cancelling task ends cancelled. Credentials are erased; logs are redacted and capped, and numbered
    /// ones (<paramref name="logsSeq"/>) that came already on the stream are not stored again.</summary>
    public async Task<TaskResult> CompleteAsync(Guid agentId, Guid taskId, bool success, JsonElement? result, IReadOnlyList<TaskLogEntry> logs,
        long? logsSeq, CancellationToken cancellationToken)
    {
        Activity? span = null;
        try
        {
            var completed = await CompleteCoreAsync(agentId, taskId, success, result, (logs, logsSeq), task =>
                span ??= TaskSpans.Complete(task, success), cancellationToken);
            span?.SetTag(TaskSpans.Outcome, completed.Outcome.ToString());
            if (completed is { Outcome: TaskOutcome.Ok, Task: { } ended })
            {
                span?.SetTag(TaskSpans.Status, ended.Status.WireName());
            }

            return completed;
        }
        finally
        {
            span?.Dispose();
        }
    }

    private async Task<TaskResult> CompleteCoreAsync(Guid agentId, Guid taskId, bool success, JsonElement? result,
        (IReadOnlyList<TaskLogEntry> Lines, long? FirstSeq) logs, Action<AgentTask> found, CancellationToken cancellationToken)
    {
        var presented = result is { ValueKind: not JsonValueKind.Null } r ? r : (JsonElement?)null;
        var resultJson = presented?.GetRawText();
        var resultHash = presented is { } raw ? TaskResultJson.Hash(raw) : null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);
            var owned = TaskResult.Owned(task, agentId, taskId);
            if (owned.Outcome != TaskOutcome.Ok)
            {
                return owned;
            }

            found(task!);

            if (task!.Status.IsEnded())
            {
                // Compared as sent, not as stored (masked); results stored before hashes were kept compare as JSON.
                var same = task.ResultHash is { } stored ? stored == resultHash : SameJson(task.ResultJson, resultJson);
                return task.Success == success && same
                    ? new TaskResult(TaskOutcome.Replayed, task)
                    : new TaskResult(TaskOutcome.Conflict, task,
                        $"Task {taskId} has already ended ({task.Status.WireName()}) with a different outcome.");
            }

            var now = Now;
            var observed = task.Status;
            var next = observed == AgentTaskStatus.Cancelling ? AgentTaskStatus.Cancelled
                : success ? AgentTaskStatus.Succeeded : AgentTaskStatus.Failed;
            var redactor = CredentialRedactor.For(credentials.Unprotect(task.ProtectedCredentials));
            var storedResult = presented is { } sent ? TaskResultJson.Redacted(sent, redactor) : null;
            var reason = next switch
            {
                AgentTaskStatus.Cancelled =>
                    $"{task.StatusReason?.Replace("; waiting for the agent to stop it.", "", StringComparison.Ordinal)}; the agent stopped it.",
                AgentTaskStatus.Succeeded => "The agent reported success.",
                _ => AgentError(resultJson, redactor) ?? "The agent reported failure.",
            };
            var fresh = LogNumbering.Take(task.LastLogSeq, logs.FirstSeq, logs.Lines, final: true);
            var lines = Capped(task, redactor, fresh.Lines, now);
            var succeeded = next == AgentTaskStatus.Succeeded;

            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var changed = await Unchanged(taskId, task.LastLogSeq, logs.FirstSeq).Where(t => t.Status == observed).ExecuteUpdateAsync(s => s
                .SetProperty(t => t.Status, next)
                .SetProperty(t => t.StatusReason, reason)
                .SetProperty(t => t.Success, success)
                .SetProperty(t => t.ResultJson, storedResult)
                .SetProperty(t => t.ResultHash, resultHash)
                .SetProperty(t => t.CompletedAt, now)
                .SetProperty(t => t.StartedAt, t => t.StartedAt ?? now)
                // A task that succeeded is done, whatever progress the agent last reported (or none).
                .SetProperty(t => t.Progress, t => succeeded ? 100 : t.Progress)
                .SetProperty(t => t.ProtectedCredentials, (string?)null)
                .SetProperty(t => t.LogCount, t => t.LogCount + lines.Stored.Count)
                .SetProperty(t => t.DroppedLogCount, t => t.DroppedLogCount + lines.Dropped)
                .SetProperty(t => t.LastLogSeq, t => logs.FirstSeq == null ? t.LastLogSeq : fresh.Last), cancellationToken);
            if (changed == 0)
            {
                await transaction.RollbackAsync(cancellationToken);
                continue;
            }

            db.TaskLogs.AddRange(lines.Stored);
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            task.Status = next;
            metrics.Ended(next);
            return new TaskResult(TaskOutcome.Ok, task);
        }

        throw new InvalidOperationException($"Task {taskId} kept changing while its completion was recorded.");
    }

    /// <summary>Ends an unstarted task that can never be delivered (see <see cref="TaskDelivery"/>); false when it
    /// had moved on meanwhile.</summary>
    public async Task<bool> FailUndeliverableAsync(Guid taskId, string reason, CancellationToken cancellationToken)
    {
        var now = Now;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var changed = await db.Tasks
            .Where(t => t.Id == taskId && (t.Status == AgentTaskStatus.Pending || t.Status == AgentTaskStatus.Assigned) && t.StartedAt == null)
            .ExecuteUpdateAsync(s => s
                .SetProperty(t => t.Status, AgentTaskStatus.Failed)
                .SetProperty(t => t.StatusReason, reason)
                .SetProperty(t => t.Success, false)
                .SetProperty(t => t.CompletedAt, now)
                .SetProperty(t => t.ProtectedCredentials, (string?)null), cancellationToken);
        if (changed == 0)
        {
            return false;
        }

        audit.Record(TaskSweeper.SystemActor, "task.failed", "task", taskId.ToString(), new { reason });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
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
        var redacted = CredentialRedactor.For(credentials.Unprotect(task.ProtectedCredentials))
            .RedactOrNull(message is null ? null : TextRules.Relayed(message));
        if (redacted is { Length: > 1024 })
        {
            redacted = redacted[..1024];
        }

        var changed = await db.Tasks.Where(t => t.Id == taskId && AgentTaskStatuses.Unfinished.Contains(t.Status)).ExecuteUpdateAsync(s => s
            .SetProperty(t => t.Progress, Math.Clamp(progress, 0, 100))
            .SetProperty(t => t.ProgressMessage, redacted)
            .SetProperty(t => t.StartedAt, t => t.StartedAt ?? now)
            .SetProperty(t => t.Status,
                t => t.Status == AgentTaskStatus.Pending || t.Status == AgentTaskStatus.Assigned ? AgentTaskStatus.Running : t.Status),
            cancellationToken);
        return changed == 0
            ? new TaskResult(TaskOutcome.Conflict, task, $"Task {taskId} has already ended.")
            : new TaskResult(TaskOutcome.Ok, task);
    }

    /// <summary>Stream <c>task_log</c> (and any other source of lines): redacted, capped, and marks the task started.
    /// Numbered lines (<paramref name="firstSeq"/>) are taken once each, in order (<see cref="LogNumbering"/>); the task
    /// answered carries the highest number taken.</summary>
    public async Task<TaskResult> AppendLogsAsync(
        Guid agentId, Guid taskId, IReadOnlyList<TaskLogEntry> logs, long? firstSeq, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var found = await FindUnfinishedOwnedAsync(agentId, taskId, cancellationToken);
            if (found is not { Outcome: TaskOutcome.Ok, Task: { } task })
            {
                return found;
            }

            var now = Now;
            var fresh = LogNumbering.Take(task.LastLogSeq, firstSeq, logs, final: false);
            var lines = Capped(task, CredentialRedactor.For(credentials.Unprotect(task.ProtectedCredentials)), fresh.Lines, now);
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var changed = await Unchanged(taskId, task.LastLogSeq, firstSeq).Where(t => AgentTaskStatuses.Unfinished.Contains(t.Status))
                .ExecuteUpdateAsync(s => s
                    .SetProperty(t => t.StartedAt, t => t.StartedAt ?? now)
                    .SetProperty(t => t.Status,
                        t => t.Status == AgentTaskStatus.Pending || t.Status == AgentTaskStatus.Assigned ? AgentTaskStatus.Running : t.Status)
                    .SetProperty(t => t.LogCount, t => t.LogCount + lines.Stored.Count)
                    .SetProperty(t => t.DroppedLogCount, t => t.DroppedLogCount + lines.Dropped)
                    .SetProperty(t => t.LastLogSeq, t => firstSeq == null ? t.LastLogSeq : fresh.Last), cancellationToken);
            if (changed == 0)
            {
                // Ended meanwhile (the next look says so), or the same lines were just taken another way: decide again.
                await transaction.RollbackAsync(cancellationToken);
                continue;
            }

            db.TaskLogs.AddRange(lines.Stored);
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            task.LastLogSeq = firstSeq is null ? task.LastLogSeq : fresh.Last;
            return new TaskResult(TaskOutcome.Ok, task);
        }

        throw new InvalidOperationException($"Task {taskId} kept changing while its log lines were recorded.");
    }

    /// <summary>The task, as long as its numbered lines are still as they were read (when the lines to store are numbered):
    /// the stream and the completion may bring the same line at the same time, and only one of them stores it.</summary>
    private IQueryable<AgentTask> Unchanged(Guid taskId, long? lastLogSeq, long? firstSeq) =>
        firstSeq is null
            ? db.Tasks.Where(t => t.Id == taskId)
            : db.Tasks.Where(t => t.Id == taskId && t.LastLogSeq == lastLogSeq);

    /// <summary>Ends every unfinished task of an agent being deleted. Call it inside the delete's transaction so the
    /// tasks end exactly when the agent goes. Each is audited under the operator who deleted the agent.</summary>
    public async Task<int> CancelAllForDeletedAgentAsync(Guid agentId, string actor, CancellationToken cancellationToken)
    {
        var now = Now;
        var reason = $"Cancelled because agent {agentId} was deleted.";
        var cancelled = await db.Database.SqlQuery<Guid>(TaskSql.For(db.Database).CancelUnfinished(agentId, reason, now))
            .ToListAsync(cancellationToken);
        foreach (var taskId in cancelled)
        {
            audit.Record(actor, "task.cancelled", "task", taskId.ToString(),
                new { agentId, to = AgentTaskStatus.Cancelled.WireName(), because = "agent deleted" });
        }

        metrics.Ended(AgentTaskStatus.Cancelled, cancelled.Count);
        return cancelled.Count;
    }

    /// <summary>The agent's own unfinished task, or the answer to give instead: unknown, another agent's, or ended.</summary>
    private async Task<TaskResult> FindUnfinishedOwnedAsync(Guid agentId, Guid taskId, CancellationToken cancellationToken)
    {
        var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);
        var owned = TaskResult.Owned(task, agentId, taskId);
        return owned.Outcome == TaskOutcome.Ok && task!.Status.IsEnded()
            ? new TaskResult(TaskOutcome.Conflict, task, $"Task {taskId} has already ended ({task.Status.WireName()}).")
            : owned;
    }

    private sealed record CappedLines(List<TaskLog> Stored, int Dropped);

    private CappedLines Capped(AgentTask task, CredentialRedactor redactor, IReadOnlyList<TaskLogEntry> logs, DateTime now)
    {
        var room = Math.Max(0, Options.MaxStoredLogLines - task.LogCount);
        var stored = logs.Take(room).Select(l => new TaskLog
        {
            TaskId = task.Id,
            Timestamp = l.Timestamp?.ToUniversalTime() ?? now,
            Level = string.IsNullOrWhiteSpace(l.Level) ? "info" : Truncate(l.Level.Trim().ToLowerInvariant(), TaskLog.MaxLevelLength),
            // Redacted before it is cut, so a secret straddling the cut is still masked.
            Message = Truncate(redactor.Redact(TextRules.Relayed(l.Message ?? "")), Options.MaxLogLineLength),
        }).ToList();
        return new CappedLines(stored, logs.Count - stored.Count);
    }

    /// <summary>The agent's own words for a failure (<c>result.error</c>, as the reference agent reports it), redacted and
    /// cut to fit <c>statusReason</c>; null when it gave none.</summary>
    private static string? AgentError(string? resultJson, CredentialRedactor redactor)
    {
        if (resultJson is null)
        {
            return null;
        }

        using var result = JsonDocument.Parse(resultJson);
        return result.RootElement.ValueKind == JsonValueKind.Object && result.RootElement.TryGetProperty("error", out var error) &&
               error.ValueKind == JsonValueKind.String && error.GetString() is { Length: > 0 } text
            ? Truncate(redactor.Redact(TextRules.Relayed(text)), AgentTask.MaxStatusReasonLength)
            : null;
    }

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
