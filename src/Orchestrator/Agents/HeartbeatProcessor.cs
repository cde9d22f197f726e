using Microsoft.EntityFrameworkCore;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Http;

namespace Orchestrator.Agents;

/// <summary>A heartbeat whose body passed validation.</summary>
public sealed record Heartbeat(
    AgentStatus Status, double? Cpu, double? Memory, double? Disk, string[]? Capabilities, int? RunningTasks, string? Csr,
    string[]? TaskTypes = null, SortedDictionary<string, string>? MissingCapabilities = null)
{
    public const int MaxRunningTasks = 100_000;
    public const int MaxCsrLength = 16 * 1024;

    public static bool TryRead(HeartbeatRequest request, out Heartbeat heartbeat, out Validation errors)
    {
        errors = new Validation();
        AgentStatus status = default;
        switch (request.Status)
        {
            case "healthy":
                status = AgentStatus.Online;
                break;
            case "degraded":
                status = AgentStatus.Degraded;
                break;
            case null:
                errors.Add("status", "'status' is required: healthy or degraded.");
                break;
            default:
                errors.Add("status", "'status' must be healthy or degraded.");
                break;
        }

        var usage = request.ResourceUsage;
        CheckPercent(usage?.Cpu, "resourceUsage.cpu", errors);
        CheckPercent(usage?.Memory, "resourceUsage.memory", errors);
        CheckPercent(usage?.Disk, "resourceUsage.disk", errors);
        var capabilities = AgentRules.CheckCapabilities(request.Capabilities, "capabilities", errors);
        var taskTypes = AgentRules.CheckTaskTypes(request.TaskTypes, "taskTypes", errors);
        var missing = AgentRules.CheckMissingCapabilities(request.MissingCapabilities, "missingCapabilities", errors);
        // Messages are formatted only for a heartbeat that fails: this runs on every beat.
        if (request.RunningTasks is not (null or >= 0 and <= MaxRunningTasks))
        {
            errors.Add("runningTasks", $"'runningTasks' must be from 0 to {MaxRunningTasks}.");
        }

        if (request.Csr is not null && request.Csr.Length is 0 or > MaxCsrLength)
        {
            errors.Add("csr", $"'csr' must be a PEM certificate request of at most {MaxCsrLength} characters.");
        }

        heartbeat = new Heartbeat(
            status, usage?.Cpu, usage?.Memory, usage?.Disk, capabilities, request.RunningTasks, request.Csr, taskTypes, missing);
        return errors.IsValid;
    }

    private static void CheckPercent(double? value, string field, Validation errors)
    {
        if (value is not null && !(double.IsFinite(value.Value) && value >= 0 && value <= 100))
        {
            errors.Add(field, $"'{field}' must be a percentage from 0 to 100.");
        }
    }
}

/// <summary>Applies heartbeats. The usual heartbeat (same status, capabilities, task types and missing capabilities)
/// touches no database: it is checked against this replica's cached belief and buffered. One that changes any of them is
/// committed, with its audit event, before it is answered, as a conditional UPDATE on the believed status, so a stale
/// belief fails the UPDATE and is re-read instead of overwriting another replica's change.</summary>
public sealed class HeartbeatProcessor(
    IServiceScopeFactory scopes,
    AgentStateCache cache,
    HeartbeatBuffer buffer,
    TimeProvider time,
    ILogger<HeartbeatProcessor> logger)
{
    /// <summary>Returns false when the agent does not exist (deleted).</summary>
    public async Task<bool> ProcessAsync(Guid agentId, Heartbeat heartbeat, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (!cache.TryGet(agentId, out var believed))
            {
                // Reading the database can wait (a locked table, a stalled server) while the liveness monitor judges:
                // heard from now, the agent is not marked offline for the heartbeat it is sending.
                buffer.Add(agentId, HeartbeatBuffer.PendingHeartbeat.Arrived(now));
                var loaded = await LoadAsync(agentId, cancellationToken);
                if (loaded is null)
                {
                    return false;
                }

                believed = loaded;
            }

            var capabilitiesChanged = heartbeat.Capabilities is not null && !heartbeat.Capabilities.SequenceEqual(believed.Capabilities);
            var taskTypesChanged = heartbeat.TaskTypes is not null && !heartbeat.TaskTypes.SequenceEqual(believed.TaskTypes);
            var missing = heartbeat.MissingCapabilities is { } reported
                ? AgentRules.StoredMissingCapabilities(reported)
                : believed.MissingCapabilities;
            var changes = new Changes(capabilitiesChanged, taskTypesChanged, missing != believed.MissingCapabilities);
            if (believed.Status == heartbeat.Status && changes == default)
            {
                buffer.Add(agentId, new HeartbeatBuffer.PendingHeartbeat(
                    now, heartbeat.Status, heartbeat.Cpu, heartbeat.Memory, heartbeat.Disk, heartbeat.RunningTasks));
                return true;
            }

            // As before a read: the commit below can wait on the database.
            buffer.Add(agentId, HeartbeatBuffer.PendingHeartbeat.Arrived(now));

            // The committed row replaces what this replica buffered, so it must carry the buffered values the heartbeat
            // itself leaves out; otherwise they would be discarded unwritten.
            if (buffer.TryPeek(agentId, out var pending))
            {
                heartbeat = heartbeat with
                {
                    Cpu = heartbeat.Cpu ?? pending.Cpu,
                    Memory = heartbeat.Memory ?? pending.Memory,
                    Disk = heartbeat.Disk ?? pending.Disk,
                    RunningTasks = heartbeat.RunningTasks ?? pending.RunningTasks,
                };
            }

            var outcome = await CommitChangeAsync(agentId, believed, heartbeat, changes, missing, now, cancellationToken);
            switch (outcome)
            {
                case Outcome.Committed:
                    buffer.Discard(agentId, now);
                    await cache.PublishChangedAsync([agentId], CancellationToken.None);
                    cache.Set(agentId, new AgentStateCache.AgentState(
                        heartbeat.Status, heartbeat.Capabilities ?? believed.Capabilities, heartbeat.TaskTypes ?? believed.TaskTypes, missing));
                    return true;
                case Outcome.Missing:
                    cache.Forget(agentId);
                    return false;
                default:
                    // Someone else changed the status since we looked: look again.
                    cache.Forget(agentId);
                    break;
            }
        }

        throw new InvalidOperationException($"The status of agent {agentId} kept changing under its heartbeat.");
    }

    private async Task<AgentStateCache.AgentState?> LoadAsync(Guid agentId, CancellationToken cancellationToken)
    {
        var generation = cache.Generation;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var row = await db.Agents.AsNoTracking()
            .Where(a => a.Id == agentId)
            .Select(a => new { a.Status, Capabilities = a.Capabilities.Select(c => c.Name).ToList(), a.TaskTypes, a.MissingCapabilities })
            .FirstOrDefaultAsync(cancellationToken);
        if (row is null)
        {
            return null;
        }

        var state = new AgentStateCache.AgentState(
            row.Status, AgentRules.Normalize(row.Capabilities), AgentRules.TaskTypesOf(row.TaskTypes), row.MissingCapabilities);
        cache.Store(agentId, state, generation);
        return state;
    }

    /// <summary>What a heartbeat reported differently from the believed state, besides its status.</summary>
    private readonly record struct Changes(bool Capabilities, bool TaskTypes, bool MissingCapabilities);

    private enum Outcome
    {
        Committed,
        StatusMoved,
        Missing,
    }

    private async Task<Outcome> CommitChangeAsync(
        Guid agentId, AgentStateCache.AgentState believed, Heartbeat heartbeat, Changes changes, string? storedMissing, DateTime now,
        CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var audit = scope.ServiceProvider.GetRequiredService<AuditLog>();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // Conditional on the believed status even when only capabilities change, so a stale belief never writes a status.
        var statusChanged = believed.Status != heartbeat.Status;
        var taskTypesChanged = changes.TaskTypes;
        var missingChanged = changes.MissingCapabilities;
        var storedTaskTypes = taskTypesChanged ? AgentRules.StoredTaskTypes(heartbeat.TaskTypes!) : null;
        var updated = await db.Agents.Where(a => a.Id == agentId && a.Status == believed.Status).ExecuteUpdateAsync(s => s
            .SetProperty(a => a.Status, heartbeat.Status)
            .SetProperty(a => a.StatusChangedAt, a => statusChanged ? now : a.StatusChangedAt)
            .SetProperty(a => a.LastHeartbeat, now)
            .SetProperty(a => a.CpuPercent, a => heartbeat.Cpu ?? a.CpuPercent)
            .SetProperty(a => a.MemoryPercent, a => heartbeat.Memory ?? a.MemoryPercent)
            .SetProperty(a => a.DiskPercent, a => heartbeat.Disk ?? a.DiskPercent)
            .SetProperty(a => a.RunningTasks, a => heartbeat.RunningTasks ?? a.RunningTasks)
            .SetProperty(a => a.TaskTypes, a => taskTypesChanged ? storedTaskTypes : a.TaskTypes)
            .SetProperty(a => a.MissingCapabilities, a => missingChanged ? storedMissing : a.MissingCapabilities), cancellationToken);
        if (updated == 0)
        {
            return await db.Agents.AnyAsync(a => a.Id == agentId, cancellationToken) ? Outcome.StatusMoved : Outcome.Missing;
        }

        var actor = AgentActor.Of(agentId);
        if (statusChanged)
        {
            audit.Record(actor, "agent.status_changed", "agent", agentId.ToString(),
                new { from = believed.Status, to = heartbeat.Status, reason = "heartbeat" });
        }

        if (changes.Capabilities)
        {
            await db.AgentCapabilities.Where(c => c.AgentId == agentId).ExecuteDeleteAsync(cancellationToken);
            db.AgentCapabilities.AddRange(heartbeat.Capabilities!.Select(c => new AgentCapability { AgentId = agentId, Name = c }));
            audit.Record(actor, "agent.capabilities_reported", "agent", agentId.ToString(), new { capabilities = heartbeat.Capabilities });
        }

        if (taskTypesChanged)
        {
            audit.Record(actor, "agent.task_types_reported", "agent", agentId.ToString(), new { taskTypes = heartbeat.TaskTypes });
        }

        if (missingChanged)
        {
            audit.Record(actor, "agent.missing_capabilities_reported", "agent", agentId.ToString(),
                new { missingCapabilities = heartbeat.MissingCapabilities });
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        if (statusChanged)
        {
            logger.AgentStatusChanged(agentId, heartbeat.Status, believed.Status);
        }

        return Outcome.Committed;
    }
}
