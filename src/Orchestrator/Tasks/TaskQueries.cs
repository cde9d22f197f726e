using System.Data;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;

namespace Orchestrator.Tasks;

/// <summary>What operators read: one task with its logs, pages of tasks, and the small reads behind waits and event
/// streams (each a short use of a pooled connection, so a waiting request holds none).</summary>
public sealed class TaskQueries(OrchestratorDbContext db)
{
    public Task<AgentTask?> FindAsync(Guid taskId, CancellationToken cancellationToken) =>
        db.Tasks.AsNoTracking().Include(t => t.Logs.OrderBy(l => l.Id)).FirstOrDefaultAsync(t => t.Id == taskId, cancellationToken);

    /// <summary>Newest first, without logs; <paramref name="before"/> is the last id of the previous page.</summary>
    public Task<List<AgentTask>> ListAsync(
        Guid? agentId, Guid? rolloutId, AgentTaskStatus? status, Guid? before, int take, CancellationToken cancellationToken)
    {
        var query = db.Tasks.AsNoTracking();
        if (agentId is { } agent)
        {
            query = query.Where(t => t.AgentId == agent);
        }

        if (rolloutId is { } rollout)
        {
            query = query.Where(t => t.RolloutId == rollout);
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

    /// <summary>A task's state without its logs: what a wait or an event stream checks when woken.</summary>
    public sealed record Snapshot(
        Guid AgentId, AgentTaskStatus Status, string? StatusReason, DateTime CreatedAt, DateTime? AssignedAt, DateTime? StartedAt,
        DateTime? CancelRequestedAt, DateTime? CompletedAt, int? Progress, string? ProgressMessage);

    public Task<Snapshot?> SnapshotAsync(Guid taskId, CancellationToken cancellationToken) =>
        db.Tasks.AsNoTracking().Where(t => t.Id == taskId)
            .Select(t => new Snapshot(t.AgentId, t.Status, t.StatusReason, t.CreatedAt, t.AssignedAt, t.StartedAt, t.CancelRequestedAt,
                t.CompletedAt, t.Progress, t.ProgressMessage))
            .FirstOrDefaultAsync(cancellationToken);

    /// <summary>The task's state and its stored lines after <paramref name="afterId"/>, read as of one moment. Read apart,
    /// a line committed between the two reads would come without the state its own transaction set (a task's first line
    /// makes it running), and an event stream would send the line before that state.</summary>
    public async Task<(Snapshot? Task, List<TaskLog> Lines)> ChangesAsync(Guid taskId, long afterId, int take, CancellationToken cancellationToken)
    {
        // One snapshot for both reads: PostgreSQL's repeatable read; SQLite's transactions always are (WAL).
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        var task = await SnapshotAsync(taskId, cancellationToken);
        var lines = task is null ? [] : await LogsAfterAsync(taskId, afterId, take, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (task, lines);
    }

    /// <summary>The task's stored lines after <paramref name="afterId"/>, oldest first. A task's lines get ids in the
    /// order they are committed: every writer of a task's lines first updates the task's row, which serialises them
    /// (and SQLite has one writer), so reading on from the last id seen never skips a line committed later.</summary>
    public Task<List<TaskLog>> LogsAfterAsync(Guid taskId, long afterId, int take, CancellationToken cancellationToken) =>
        db.TaskLogs.AsNoTracking().Where(l => l.TaskId == taskId && l.Id > afterId).OrderBy(l => l.Id).Take(take).ToListAsync(cancellationToken);
}
