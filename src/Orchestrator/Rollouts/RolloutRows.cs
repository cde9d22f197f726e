using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;

namespace Orchestrator.Rollouts;

/// <summary>Row locks on rollouts, inside the caller's transaction: whoever changes a rollout (the driver on any replica,
/// an operator's pause, resume or cancel) holds its row until it commits, so two never decide from the same state and a
/// batch never starts twice. A replica that dies holding it loses its transaction with its connection, and the next
/// driver pass anywhere takes over. On SQLite the transaction already holds the database's only write lock from its
/// start (<c>BEGIN IMMEDIATE</c>), so a plain read is enough there.</summary>
internal static class RolloutRows
{
    /// <summary>Locks the rollout, waiting for another holder: for operators' commands. False when there is none.</summary>
    public static Task<bool> LockAsync(OrchestratorDbContext db, Guid rolloutId, CancellationToken cancellationToken) =>
        SelectAsync(db, rolloutId, " FOR UPDATE", cancellationToken);

    /// <summary>Locks the rollout unless another holds it (false then, and when there is none): for drivers, which leave
    /// a rollout being changed to its holder, whose commit wakes them again.</summary>
    public static Task<bool> TryLockAsync(OrchestratorDbContext db, Guid rolloutId, CancellationToken cancellationToken) =>
        SelectAsync(db, rolloutId, " FOR UPDATE SKIP LOCKED", cancellationToken);

    private static async Task<bool> SelectAsync(OrchestratorDbContext db, Guid rolloutId, string lockClause, CancellationToken cancellationToken)
    {
        var suffix = db.Database.IsNpgsql() ? lockClause : "";
        var rows = await db.Database.SqlQuery<Guid>(FormattableStringFactory.Create(
                $$"""SELECT "Id" AS "Value" FROM "Rollouts" WHERE "Id" = {0}{{suffix}}""", rolloutId))
            .ToListAsync(cancellationToken);
        return rows.Count > 0;
    }
}
