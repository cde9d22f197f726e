using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Audit;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Security;
using Orchestrator.Targets;
using Orchestrator.Tasks;

namespace Orchestrator.Agents;

/// <summary>The agent queries and writes of the lifecycle endpoints.</summary>
public sealed class AgentStore(OrchestratorDbContext db, AuditLog audit, HeartbeatBuffer buffer, TaskCommands tasks, TimeProvider time)
{
    public sealed record ListFilter(AgentStatus? Status, IReadOnlyList<string> Capabilities, IReadOnlyList<KeyValuePair<string, string>> Labels);

    /// <summary>One page ordered by name; <paramref name="afterName"/> is the cursor. Returns up to limit + 1 rows.</summary>
    public async Task<List<AgentSummary>> ListAsync(ListFilter filter, int limitPlusOne, string? afterName, CancellationToken cancellationToken)
    {
        var query = db.Agents.AsNoTracking();
        if (filter.Status is { } status)
        {
            query = query.Where(a => a.Status == status);
        }

        query = query.Matching(filter.Capabilities, filter.Labels);

        if (afterName is not null)
        {
            query = query.Where(a => string.Compare(a.Name, afterName) > 0);
        }

        var rows = await query.OrderBy(a => a.Name).Take(limitPlusOne)
            .Select(a => new
            {
                a.Id, a.Name, a.Version, a.Status, a.LastHeartbeat, a.CpuPercent, a.MemoryPercent, a.DiskPercent,
                Capabilities = a.Capabilities.Select(c => c.Name).ToList(),
            })
            .ToListAsync(cancellationToken);

        return rows.Select(a =>
        {
            var (lastHeartbeat, usage, _) = Freshest(a.Id, a.LastHeartbeat, new ResourceUsage(a.CpuPercent, a.MemoryPercent, a.DiskPercent), 0);
            return new AgentSummary(a.Id, a.Name, a.Version, a.Status, AgentRules.Normalize(a.Capabilities), lastHeartbeat, usage);
        }).ToList();
    }

    public async Task<AgentDetails?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        var agent = await db.Agents.AsNoTracking().AsSplitQuery()
            .Include(a => a.Labels).Include(a => a.Capabilities)
            .FirstOrDefaultAsync(a => a.Id == id, cancellationToken);
        if (agent is null)
        {
            return null;
        }

        var targets = await db.Targets.AsNoTracking()
            .Where(t => t.AgentId == id)
            .OrderBy(t => t.Name)
            .Select(t => new AgentTargetSummary(t.Id, t.Name, t.Type))
            .ToListAsync(cancellationToken);
        var certificateExpiresAt = await db.IssuedCertificates.AsNoTracking()
            .Where(c => c.AgentId == id && c.Kind == CertificateKind.Agent && c.RevokedAt == null)
            .MaxAsync(c => (DateTime?)c.NotAfter, cancellationToken);

        var (lastHeartbeat, usage, runningTasks) = Freshest(agent.Id, agent.LastHeartbeat,
            new ResourceUsage(agent.CpuPercent, agent.MemoryPercent, agent.DiskPercent), agent.RunningTasks);
        return new AgentDetails(
            agent.Id,
            agent.Name,
            agent.Version,
            agent.Status,
            AgentRules.Normalize(agent.Capabilities.Select(c => c.Name)),
            lastHeartbeat,
            usage,
            agent.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).ToDictionary(l => l.Key, l => l.Value),
            targets,
            agent.DrainRequestedAt is not null,
            agent.DrainRequestedAt is { } requestedAt ? new DrainState(agent.DrainReason, requestedAt, agent.DrainDeadline) : null,
            certificateExpiresAt,
            agent.RegisteredAt,
            agent.StatusChangedAt,
            runningTasks,
            agent.TaskTypes is null ? null : AgentRules.TaskTypesOf(agent.TaskTypes),
            AgentRules.MissingCapabilitiesOf(agent.MissingCapabilities));
    }

    /// <summary>Replaces the labels and/or capabilities given (null leaves them as they are). False when there is no such agent.</summary>
    public async Task<bool> UpdateAsync(
        Guid id, IReadOnlyDictionary<string, string>? labels, string[]? capabilities, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (!await db.Agents.AnyAsync(a => a.Id == id, cancellationToken))
        {
            return false;
        }

        if (labels is not null)
        {
            await db.AgentLabels.Where(l => l.AgentId == id).ExecuteDeleteAsync(cancellationToken);
            db.AgentLabels.AddRange(labels.Select(l => new AgentLabel { AgentId = id, Key = l.Key, Value = l.Value }));
        }

        if (capabilities is not null)
        {
            await db.AgentCapabilities.Where(c => c.AgentId == id).ExecuteDeleteAsync(cancellationToken);
            db.AgentCapabilities.AddRange(capabilities.Select(c => new AgentCapability { AgentId = id, Name = c }));
        }

        audit.Record(user, "agent.updated", "agent", id.ToString(), new { labels, capabilities });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public Task<bool> ExistsAsync(Guid id, CancellationToken cancellationToken) => db.Agents.AnyAsync(a => a.Id == id, cancellationToken);

    public sealed record Deletion(string Name, string[] RevokedSerials, int UnassignedTargets);

    /// <summary>Unassigns the agent's targets and removes it, in one transaction, revoking any certificate still live
    /// (one renewed since <c>AgentCredentials.RevokeAllAsync</c> ran); the caller announces <see cref="Deletion.RevokedSerials"/>
    /// once this has committed. Null when there is no such agent. The agent's row is locked first: a certificate
    /// inserted for it holds that row until it commits (its foreign key), so every one is either here to be revoked
    /// or refused for want of its agent.</summary>
    public async Task<Deletion?> DeleteAsync(Guid id, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var name = await AgentRows.LockForDeletionAsync(db, id, cancellationToken);
        if (name is null)
        {
            return null;
        }

        var live = db.IssuedCertificates.Where(c => c.AgentId == id && c.RevokedAt == null);
        var revoked = await live.Select(c => c.Serial).ToArrayAsync(cancellationToken);
        await live.ExecuteUpdateAsync(s => s.SetProperty(c => c.RevokedAt, now), cancellationToken);
        var unassigned = await db.Targets
            .Where(t => t.AgentId == id)
            .ExecuteUpdateAsync(s => s.SetProperty(t => t.AgentId, (Guid?)null), cancellationToken);
        // Its unfinished tasks end with the agent, in the same transaction (nothing is left waiting for it).
        await tasks.CancelAllForDeletedAgentAsync(id, user.Actor(), cancellationToken);
        await db.Agents.Where(a => a.Id == id).ExecuteDeleteAsync(cancellationToken);
        if (revoked.Length > 0)
        {
            // Last, so the one row every revocation moves is held only for the commit.
            await db.MarkRevocationAsync(cancellationToken);
        }

        var deletion = new Deletion(name, revoked, unassigned);
        audit.Record(user, "agent.deleted", "agent", id.ToString(),
            new { name, revokedCertificates = revoked.Length, unassignedTargets = unassigned });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return deletion;
    }

    /// <summary>Starts draining, or updates the reason and deadline of a drain in progress (keeping when it was
    /// requested). False when there is no such agent.</summary>
    public async Task<bool> DrainAsync(Guid id, string? reason, DateTime? deadline, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var agent = await db.Agents.FirstOrDefaultAsync(a => a.Id == id, cancellationToken);
        if (agent is null)
        {
            return false;
        }

        agent.DrainRequestedAt ??= time.GetUtcNow().UtcDateTime;
        agent.DrainReason = reason;
        agent.DrainDeadline = deadline;
        audit.Record(user, "agent.drained", "agent", id.ToString(), new { reason, deadline });
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    /// <summary>Ends a drain; resuming an agent that is not draining changes nothing. False when there is no such agent.</summary>
    public async Task<bool> ResumeAsync(Guid id, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var agent = await db.Agents.FirstOrDefaultAsync(a => a.Id == id, cancellationToken);
        if (agent is null)
        {
            return false;
        }

        if (agent.DrainRequestedAt is not null)
        {
            agent.DrainRequestedAt = null;
            agent.DrainReason = null;
            agent.DrainDeadline = null;
            audit.Record(user, "agent.resumed", "agent", id.ToString());
            await db.SaveChangesAsync(cancellationToken);
        }

        return true;
    }

    /// <summary>This replica may hold a newer heartbeat than the database (written within a second); show that one.</summary>
    private (DateTime? LastHeartbeat, ResourceUsage Usage, int RunningTasks) Freshest(
        Guid id, DateTime? lastHeartbeat, ResourceUsage usage, int runningTasks)
    {
        if (!buffer.TryPeek(id, out var pending) || (lastHeartbeat is not null && pending.At <= lastHeartbeat))
        {
            return (lastHeartbeat, usage, runningTasks);
        }

        return (pending.At,
            new ResourceUsage(pending.Cpu ?? usage.Cpu, pending.Memory ?? usage.Memory, pending.Disk ?? usage.Disk),
            pending.RunningTasks ?? runningTasks);
    }
}
