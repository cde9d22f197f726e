using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Audit;
using Orchestrator.Data;

namespace Orchestrator.Tasks;

/// <summary>Ends overdue tasks so every accepted task reaches a final state: delivered ones past their timeout
/// (counted from first delivery), cancelling ones past the grace period, and ones never delivered within
/// <c>UndeliveredTimeout</c> (an agent that never came back). Each row is returned to exactly one caller, so replicas
/// sweeping together audit once.</summary>
public sealed class TaskSweeper(OrchestratorDbContext db, TimeProvider time, IOptions<TaskOptions> options, AuditLog audit)
{
    public const string SystemActor = "system:tasks";

    public sealed class EndedTask
    {
        public Guid Id { get; set; }
        public Guid AgentId { get; set; }
    }

    public sealed record Overdue(List<EndedTask> TimedOut, List<EndedTask> GraceEnded, List<EndedTask> Undelivered);

    public async Task<Overdue> EndOverdueAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var sql = TaskSql.For(db.Database);
        const string timeoutReason = "Not finished within its timeout after delivery.";
        const string graceReason = "Cancelled; the agent did not confirm within the grace period.";
        var undeliveredReason = $"Not delivered within {settings.UndeliveredTimeout}: its agent never collected it.";

        var graceCutoff = now - settings.CancelGracePeriod;
        var createdCutoff = now - settings.UndeliveredTimeout;

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // Every row this pass ends is locked first, in id order, as another replica's pass locks them (TaskSql.LockOverdue).
        var locked = sql.LocksRows
            ? (await db.Database.SqlQuery<Guid>(sql.LockOverdue(now, graceCutoff, createdCutoff)).ToListAsync(cancellationToken)).ToArray()
            : null;
        var timedOut = await db.Database.SqlQuery<EndedTask>(sql.EndTimedOut(now, timeoutReason, locked)).ToListAsync(cancellationToken);
        var graceEnded = await db.Database.SqlQuery<EndedTask>(TaskSql.EndUnconfirmedCancels(now, graceCutoff, graceReason, locked))
            .ToListAsync(cancellationToken);
        var undelivered = await db.Database.SqlQuery<EndedTask>(TaskSql.EndUndelivered(now, createdCutoff, undeliveredReason, locked))
            .ToListAsync(cancellationToken);

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
}
