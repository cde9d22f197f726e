using System.Data;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;

namespace Orchestrator.Rollouts;

/// <summary>What operators read: one rollout with its targets, and pages of rollouts with their counts.</summary>
public sealed class RolloutQueries(OrchestratorDbContext db)
{
    public Task<Rollout?> FindAsync(Guid rolloutId, CancellationToken cancellationToken) =>
        db.Rollouts.AsNoTracking().Include(r => r.Targets).FirstOrDefaultAsync(r => r.Id == rolloutId, cancellationToken);

    /// <summary>The rollout's status alone: what a wait checks when woken.</summary>
    public Task<RolloutStatus?> StatusAsync(Guid rolloutId, CancellationToken cancellationToken) =>
        db.Rollouts.AsNoTracking().Where(r => r.Id == rolloutId).Select(r => (RolloutStatus?)r.Status).FirstOrDefaultAsync(cancellationToken);

    /// <summary>The rollout's status and its stored events after <paramref name="afterId"/>, oldest first, read as of
    /// one moment (PostgreSQL's repeatable read; SQLite's transactions always are), so an end is never read without the
    /// events committed with it. Events of one rollout get ids in commit order: every writer holds the rollout's row.</summary>
    public async Task<(RolloutStatus? Status, List<RolloutEvent> Events)> EventsAsync(
        Guid rolloutId, long afterId, int take, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        var status = await StatusAsync(rolloutId, cancellationToken);
        var events = status is null
            ? []
            : await db.RolloutEvents.AsNoTracking().Where(e => e.RolloutId == rolloutId && e.Id > afterId).OrderBy(e => e.Id).Take(take)
                .ToListAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (status, events);
    }

    /// <summary>Newest first, without targets, each with its counts; <paramref name="before"/> is the last id of the
    /// previous page.</summary>
    public async Task<List<(Rollout Rollout, RolloutCounts Counts)>> ListAsync(
        RolloutStatus? status, Guid? before, int take, CancellationToken cancellationToken)
    {
        var query = db.Rollouts.AsNoTracking();
        if (status is { } wanted)
        {
            query = query.Where(r => r.Status == wanted);
        }

        if (before is { } cursor)
        {
            query = query.Where(r => r.Id.CompareTo(cursor) < 0);
        }

        var rollouts = await query.OrderByDescending(r => r.Id).Take(take).ToListAsync(cancellationToken);
        var ids = rollouts.Select(r => r.Id).ToList();
        var counts = (await db.RolloutTargets.AsNoTracking().Where(t => ids.Contains(t.RolloutId))
                .GroupBy(t => new { t.RolloutId, t.Status })
                .Select(g => new { g.Key.RolloutId, g.Key.Status, Count = g.Count() })
                .ToListAsync(cancellationToken))
            .ToLookup(c => c.RolloutId);
        return [.. rollouts.Select(r => (r, RolloutResponses.Counts(counts[r.Id].ToDictionary(c => c.Status, c => c.Count))))];
    }
}
