using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Agents;

/// <summary>Marks agents offline whose liveness window (<see cref="AgentOptions.OfflineAfter"/>) closed without a
/// heartbeat. Every replica runs it; the one set-based UPDATE re-checks the status in its WHERE, so each agent is
/// changed, logged and audited by exactly one replica.</summary>
public sealed class LivenessMonitor(
    IServiceScopeFactory scopes,
    HeartbeatBuffer buffer,
    AgentStateCache cache,
    IOptions<AgentOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<LivenessMonitor> logger) : BackgroundService
{
    private static readonly TimeSpan MaxTick = TimeSpan.FromSeconds(5);

    private long _acceptingSinceTicks;
    private long _lastCheckTicks;

    /// <summary>At least once per heartbeat interval and at least every 5 s, so an agent is offline at most one tick
    /// after its window closed.</summary>
    public TimeSpan TickInterval => options.Value.HeartbeatInterval < MaxTick ? options.Value.HeartbeatInterval : MaxTick;

    /// <summary>The service time of the last completed check (whether or not it changed anything).</summary>
    public DateTime LastCheck => new(Interlocked.Read(ref _lastCheckTicks), DateTimeKind.Utc);

    /// <summary>When this replica began accepting agent traffic (null before): the start of its grace window.</summary>
    public DateTime? AcceptingSince => Interlocked.Read(ref _acceptingSinceTicks) is var ticks and > 0 ? new DateTime(ticks, DateTimeKind.Utc) : null;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Agents can reach the service only once Kestrel listens, and Kestrel starts after every other hosted service
        // (migrations, the CA, revocations, the server certificate): seconds, or minutes with a long migration. The
        // host signals ApplicationStarted after Kestrel has started, so the window is counted from there.
        lifetime.ApplicationStarted.Register(() => Interlocked.CompareExchange(ref _acceptingSinceTicks, time.GetUtcNow().UtcTicks, 0));
        return base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        BackgroundLoop.RunAsync(TickInterval, time, passAtStart: true, CheckAsync,
            logger.LivenessCheckFailed, stoppingToken);

    /// <summary>One check: returns how many agents this replica marked offline.</summary>
    public async Task<int> CheckAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var window = options.Value.OfflineAfter;

        // While this replica was down (or not yet listening) no agent could reach it, and its own buffered heartbeats
        // of before the restart are lost, so nobody is judged before every agent had a full window, counted from when
        // this replica accepts agent traffic, to call in again. A replica joining a running cluster waits out its own
        // window too, rather than judge on history it did not see; the replicas already running keep judging.
        if (AcceptingSince is not { } accepting || now - accepting < window)
        {
            Interlocked.Exchange(ref _lastCheckTicks, now.Ticks);
            return 0;
        }

        // A heartbeat this replica holds unwritten must count; other replicas' buffers are reconciled by their flush.
        await buffer.FlushAsync(cancellationToken);

        var cutoff = now - window;
        var offline = nameof(AgentStatus.Offline);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var audit = scope.ServiceProvider.GetRequiredService<AuditLog>();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // The window starts at the later of the last heartbeat and the last status change (registration,
        // re-enrolment or coming back), so a freshly registered agent that has not heartbeated yet gets its window.
        var marked = await db.Database.SqlQuery<MarkedOffline>($"""
            UPDATE "Agents" SET "Status" = {offline}, "StatusChangedAt" = {now}
            WHERE "Status" <> {offline} AND "StatusChangedAt" < {cutoff}
              AND ("LastHeartbeat" IS NULL OR "LastHeartbeat" < {cutoff})
            RETURNING "Id", "Name", "LastHeartbeat"
            """).ToListAsync(cancellationToken);

        foreach (var agent in marked)
        {
            audit.Record(AgentActor.System, "agent.status_changed", "agent", agent.Id.ToString(),
                new { to = AgentStatus.Offline, reason = "missed heartbeats", lastHeartbeat = agent.LastHeartbeatUtc });
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        if (marked.Count > 0)
        {
            foreach (var agent in marked)
            {
                logger.AgentOffline(agent.Name, agent.Id, agent.LastHeartbeatUtc, options.Value.MissedHeartbeats);
            }

            await cache.PublishChangedAsync(marked.Select(a => a.Id).ToList(), CancellationToken.None);
        }

        // Last, so whoever waits for this check sees its logs and events too.
        Interlocked.Exchange(ref _lastCheckTicks, now.Ticks);
        return marked.Count;
    }

    public sealed class MarkedOffline
    {
        public Guid Id { get; set; }
        public string Name { get; set; } = "";
        public DateTime? LastHeartbeat { get; set; }

        // Raw SQL bypasses the model's UTC conversion; SQLite hands back an unspecified kind.
        public DateTime? LastHeartbeatUtc => LastHeartbeat is { } at ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null;
    }
}
