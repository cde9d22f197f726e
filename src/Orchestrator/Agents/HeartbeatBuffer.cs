using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Agents;

/// <summary>The latest liveness facts of each agent, held in memory and written in one batch per flush instead of one
/// commit per heartbeat (a commit costs a disk flush; a batch of hundreds costs about one). Heartbeats that change an
/// agent's status or capabilities do not come through here: they are committed before they are answered. A crash
/// loses at most one flush interval of <c>lastHeartbeat</c> and resource values.</summary>
public sealed class HeartbeatBuffer(
    IServiceScopeFactory scopes,
    AgentStateCache cache,
    IOptions<AgentOptions> options,
    TimeProvider time,
    ILogger<HeartbeatBuffer> logger)
{
    // Bounds one statement's size; a flush writes several chunks in the same transaction.
    private const int ChunkSize = 1000;

    private readonly ConcurrentDictionary<Guid, PendingHeartbeat> _pending = new();
    private readonly SemaphoreSlim _flushLock = new(1, 1);

    /// <summary>One agent's latest heartbeat. <see cref="Status"/> is what the agent reported (online or degraded); null
    /// for <see cref="Arrived"/>.</summary>
    public sealed record PendingHeartbeat(
        DateTime At, AgentStatus? Status, double? Cpu, double? Memory, double? Disk, int? RunningTasks)
    {
        /// <summary>Only that the agent was heard from at <paramref name="at"/>, for a heartbeat that must read or write
        /// the database before it is applied: held here, it counts for liveness while that waits (a locked table, a
        /// stalled server), and the liveness monitor, which flushes before it judges, sees it. Its flush writes only
        /// <c>lastHeartbeat</c>; the heartbeat itself, once applied, brings the status.</summary>
        public static PendingHeartbeat Arrived(DateTime at) => new(at, null, null, null, null, null);
    }

    public int Count => _pending.Count;

    /// <summary>Keeps the newest value of each field: a heartbeat without resource usage or a running-task count
    /// leaves the ones of the heartbeat before it (as the flush's COALESCE does for values already written).</summary>
    public void Add(Guid agentId, PendingHeartbeat heartbeat) =>
        _pending.AddOrUpdate(agentId, static (_, h) => h,
            static (_, existing, h) => existing.At > h.At ? Over(h, existing) : Over(existing, h), heartbeat);

    // A heartbeat with every value (the usual one) replaces the older one as it is; only a partial one is merged.
    private static PendingHeartbeat Over(PendingHeartbeat older, PendingHeartbeat newer) =>
        newer is { Cpu: not null, Memory: not null, Disk: not null, RunningTasks: not null }
            ? newer
            : newer with
            {
                Status = newer.Status ?? older.Status,
                Cpu = newer.Cpu ?? older.Cpu,
                Memory = newer.Memory ?? older.Memory,
                Disk = newer.Disk ?? older.Disk,
                RunningTasks = newer.RunningTasks ?? older.RunningTasks,
            };

    /// <summary>This replica's newest unwritten heartbeat of the agent, so reads can show it before it is flushed.</summary>
    public bool TryPeek(Guid agentId, out PendingHeartbeat heartbeat) => _pending.TryGetValue(agentId, out heartbeat!);

    /// <summary>Drops an agent's pending values when a synchronous write has just stored newer ones.</summary>
    public void Discard(Guid agentId, DateTime upTo)
    {
        if (_pending.TryGetValue(agentId, out var pending) && pending.At <= upTo)
        {
            _pending.TryRemove(new KeyValuePair<Guid, PendingHeartbeat>(agentId, pending));
        }
    }

    /// <summary>Writes everything buffered in one transaction. On failure the values go back into the buffer (unless a
    /// newer heartbeat arrived meanwhile) and the exception propagates.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _flushLock.WaitAsync(cancellationToken);
        try
        {
            var batch = new List<KeyValuePair<Guid, PendingHeartbeat>>(_pending.Count);
            foreach (var entry in _pending)
            {
                if (_pending.TryRemove(entry))
                {
                    batch.Add(entry);
                }
            }

            if (batch.Count == 0)
            {
                return;
            }

            try
            {
                await WriteAsync(batch, cancellationToken);
            }
            catch
            {
                foreach (var (id, heartbeat) in batch)
                {
                    Add(id, heartbeat);
                }

                throw;
            }
        }
        finally
        {
            _flushLock.Release();
        }
    }

    private async Task WriteAsync(List<KeyValuePair<Guid, PendingHeartbeat>> batch, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var audit = scope.ServiceProvider.GetRequiredService<AuditLog>();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        var corrected = await ReconcileAsync(db, audit, batch, cancellationToken);
        foreach (var chunk in batch.Chunk(ChunkSize))
        {
            if (db.Database.IsNpgsql())
            {
                await WritePostgresAsync(db, chunk, cancellationToken);
            }
            else
            {
                await WriteSqliteAsync(db, chunk, cancellationToken);
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        if (corrected.Count > 0)
        {
            foreach (var (id, name, status) in corrected)
            {
                logger.AgentStatusCorrected(name, id, status);
            }

            await cache.PublishChangedAsync(corrected.Select(r => r.Id).ToList(), CancellationToken.None);
        }
    }

    /// <summary>A buffered heartbeat whose reported status differs from the database's means this replica believed
    /// something stale: another replica marked the agent offline before our flush, or a cache event was missed. The
    /// heartbeat is the newer fact, so it wins: an offline agent with a fresh heartbeat the monitor could not see comes
    /// back, and an online/degraded mismatch takes the reported status when the heartbeat is newer than the stored
    /// change. Each correction is a conditional UPDATE on what was read, so exactly one writer logs and audits it.</summary>
    private async Task<List<(Guid Id, string Name, AgentStatus Status)>> ReconcileAsync(
        OrchestratorDbContext db, AuditLog audit, List<KeyValuePair<Guid, PendingHeartbeat>> batch, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var window = options.Value.OfflineAfter;
        var corrected = new List<(Guid, string, AgentStatus)>();
        foreach (var chunk in batch.Chunk(ChunkSize))
        {
            var pending = chunk.ToDictionary(e => e.Key, e => e.Value);
            var ids = pending.Keys.ToList();
            var stored = await db.Agents.AsNoTracking()
                .Where(a => ids.Contains(a.Id))
                .Select(a => new { a.Id, a.Name, a.Status, a.StatusChangedAt, a.LastHeartbeat })
                .ToListAsync(cancellationToken);
            foreach (var agent in stored)
            {
                var heartbeat = pending[agent.Id];
                if (heartbeat.Status is not { } reported)
                {
                    continue;
                }

                var stale = agent.Status == AgentStatus.Offline
                    ? (agent.LastHeartbeat is null || heartbeat.At > agent.LastHeartbeat) && heartbeat.At >= now - window
                    : agent.Status != reported && heartbeat.At > agent.StatusChangedAt;
                if (!stale)
                {
                    continue;
                }

                var changed = await db.Agents
                    .Where(a => a.Id == agent.Id && a.Status == agent.Status && a.StatusChangedAt == agent.StatusChangedAt)
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(a => a.Status, reported)
                        .SetProperty(a => a.StatusChangedAt, now), cancellationToken);
                if (changed == 1)
                {
                    audit.Record(AgentActor.Of(agent.Id), "agent.status_changed", "agent", agent.Id.ToString(),
                        new { from = agent.Status, to = reported, reason = "heartbeat" });
                    corrected.Add((agent.Id, agent.Name, reported));
                }
            }
        }

        return corrected;
    }

    // One statement for the whole chunk: arrays unnested into rows. The WHERE keeps a newer value written by a
    // synchronous heartbeat or another replica.
    private static Task<int> WritePostgresAsync(
        OrchestratorDbContext db, KeyValuePair<Guid, PendingHeartbeat>[] chunk, CancellationToken cancellationToken)
    {
        var ids = chunk.Select(e => e.Key).ToArray();
        var times = chunk.Select(e => e.Value.At).ToArray();
        var cpu = chunk.Select(e => e.Value.Cpu).ToArray();
        var memory = chunk.Select(e => e.Value.Memory).ToArray();
        var disk = chunk.Select(e => e.Value.Disk).ToArray();
        var running = chunk.Select(e => e.Value.RunningTasks).ToArray();
        return db.Database.ExecuteSqlAsync($"""
            UPDATE "Agents" AS a
            SET "LastHeartbeat" = v.at,
                "CpuPercent" = COALESCE(v.cpu, a."CpuPercent"),
                "MemoryPercent" = COALESCE(v.memory, a."MemoryPercent"),
                "DiskPercent" = COALESCE(v.disk, a."DiskPercent"),
                "RunningTasks" = COALESCE(v.running, a."RunningTasks")
            FROM unnest({ids}, {times}, {cpu}, {memory}, {disk}, {running}) AS v(id, at, cpu, memory, disk, running)
            WHERE a."Id" = v.id AND (a."LastHeartbeat" IS NULL OR a."LastHeartbeat" < v.at)
            """, cancellationToken);
    }

    // SQLite runs in-process, so one prepared statement executed per row inside the transaction costs microseconds
    // each; the commit is the expensive part and there is one.
    private static async Task WriteSqliteAsync(
        OrchestratorDbContext db, KeyValuePair<Guid, PendingHeartbeat>[] chunk, CancellationToken cancellationToken)
    {
        var connection = db.Database.GetDbConnection();
        await using var command = connection.CreateCommand();
        command.Transaction = db.Database.CurrentTransaction!.GetDbTransaction();
        command.CommandText = """
            UPDATE "Agents"
            SET "LastHeartbeat" = @at,
                "CpuPercent" = COALESCE(@cpu, "CpuPercent"),
                "MemoryPercent" = COALESCE(@memory, "MemoryPercent"),
                "DiskPercent" = COALESCE(@disk, "DiskPercent"),
                "RunningTasks" = COALESCE(@running, "RunningTasks")
            WHERE "Id" = @id AND ("LastHeartbeat" IS NULL OR "LastHeartbeat" < @at)
            """;

        // EF's own type mappings write the parameters, so ids and times compare exactly as EF stored them.
        var mappings = db.GetService<IRelationalTypeMappingSource>();
        var id = Parameter(command, mappings, "@id", typeof(Guid));
        var at = Parameter(command, mappings, "@at", typeof(DateTime));
        var cpu = Parameter(command, mappings, "@cpu", typeof(double));
        var memory = Parameter(command, mappings, "@memory", typeof(double));
        var disk = Parameter(command, mappings, "@disk", typeof(double));
        var running = Parameter(command, mappings, "@running", typeof(int));
        await command.PrepareAsync(cancellationToken);

        foreach (var (agentId, heartbeat) in chunk)
        {
            Set(id, mappings, agentId);
            Set(at, mappings, heartbeat.At);
            Set(cpu, mappings, heartbeat.Cpu);
            Set(memory, mappings, heartbeat.Memory);
            Set(disk, mappings, heartbeat.Disk);
            Set(running, mappings, heartbeat.RunningTasks);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static (DbParameter Parameter, Type Type) Parameter(DbCommand command, IRelationalTypeMappingSource mappings, string name, Type type)
    {
        var parameter = mappings.FindMapping(type)!.CreateParameter(command, name, null, nullable: true);
        command.Parameters.Add(parameter);
        return (parameter, type);
    }

    private static void Set((DbParameter Parameter, Type Type) slot, IRelationalTypeMappingSource mappings, object? value)
    {
        var mapping = mappings.FindMapping(slot.Type)!;
        slot.Parameter.Value = value is null ? DBNull.Value : mapping.Converter?.ConvertToProvider(value) ?? value;
    }
}

/// <summary>Writes the buffer at least once per <see cref="AgentOptions.HeartbeatFlushInterval"/>, survives a failing
/// flush (the values stay buffered for the next one) and flushes a last time when the service stops.</summary>
public sealed class HeartbeatFlusher(
    HeartbeatBuffer buffer,
    IOptions<AgentOptions> options,
    TimeProvider time,
    ILogger<HeartbeatFlusher> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        BackgroundLoop.RunAsync(options.Value.HeartbeatFlushInterval, time, passAtStart: false,
            cancellationToken => FlushLoggingFailureAsync(cancellationToken, atStop: false), logger.HeartbeatFlushFailed, stoppingToken);

    /// <remarks>The last flush is given up, with a warning, when the stop's time runs out (a stalled database, a flush
    /// still holding the buffer): what it would write is only the newest heartbeat times and usage, status changes are
    /// already committed, and an exception here would make the whole shutdown report failure.</remarks>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushLoggingFailureAsync(cancellationToken, atStop: true);
    }

    private async Task FlushLoggingFailureAsync(CancellationToken cancellationToken, bool atStop)
    {
        try
        {
            await buffer.FlushAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !atStop)
        {
            throw;
        }
        catch (Exception) when (atStop && buffer.Count == 0)
        {
            // Nothing was waiting to be written.
        }
        catch (Exception ex)
        {
            logger.BufferedHeartbeatsNotWritten(ex, buffer.Count);
        }
    }
}
