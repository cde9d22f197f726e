using Microsoft.EntityFrameworkCore;

namespace Orchestrator.Hosting;

/// <summary>Serialises a one-time creation across replicas inside the caller's transaction: a PostgreSQL advisory
/// transaction lock; SQLite transactions are already serialised (BEGIN IMMEDIATE).</summary>
public static class ClusterLocks
{
    public static async Task TakeAsync(DbContext db, string name, CancellationToken cancellationToken)
    {
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({name}))", cancellationToken);
        }
    }
}
