using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;

namespace Orchestrator.Agents;

/// <summary>Row locks on agents, for the writes that must not interleave with an agent's deletion (which ends the
/// agent's tasks in the same transaction): a task created for the agent, and the deletion itself. Both run inside the
/// caller's transaction. On SQLite that transaction already holds the database's only write lock from its start
/// (<c>BEGIN IMMEDIATE</c>), so a plain read is enough there.</summary>
internal static class AgentRows
{
    /// <summary>Holds the agent's row until the transaction ends, so its deletion waits for this transaction (and then
    /// sees what it wrote); false when the agent does not exist (deleted already). <c>FOR KEY SHARE</c> does not
    /// conflict with the row locks of heartbeats and status changes, only with the deletion's.</summary>
    public static async Task<bool> HoldAsync(OrchestratorDbContext db, Guid agentId, CancellationToken cancellationToken)
    {
        if (!db.Database.IsNpgsql())
        {
            return await db.Agents.AnyAsync(a => a.Id == agentId, cancellationToken);
        }

        var held = await db.Database.SqlQuery<Guid>($"""SELECT "Id" AS "Value" FROM "Agents" WHERE "Id" = {agentId} FOR KEY SHARE""")
            .ToListAsync(cancellationToken);
        return held.Count > 0;
    }

    /// <summary>Locks the agent's row for its deletion and returns its name (null when there is no such agent): a
    /// task being created for it finishes first, and one that starts later waits and then finds no agent.</summary>
    public static async Task<string?> LockForDeletionAsync(OrchestratorDbContext db, Guid agentId, CancellationToken cancellationToken)
    {
        var forUpdate = db.Database.IsNpgsql() ? " FOR UPDATE" : "";
        var names = await db.Database.SqlQuery<string>(FormattableStringFactory.Create(
                $$"""SELECT "Name" AS "Value" FROM "Agents" WHERE "Id" = {0}{{forUpdate}}""", agentId))
            .ToListAsync(cancellationToken);
        return names.Count > 0 ? names[0] : null;
    }
}
