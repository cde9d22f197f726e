using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;

namespace Orchestrator.Tasks;

/// <summary>What operators read: one task with its logs, and pages of tasks.</summary>
public sealed class TaskQueries(OrchestratorDbContext db)
{
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
}
