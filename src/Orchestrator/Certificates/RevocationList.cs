using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>What agent authentication needs to know about an issued certificate on every request (whose it is and
/// whether it is revoked), held in memory so a request costs no database read. Revocations reach every replica
/// through <see cref="IClusterEvents"/>, at once. Events are best effort, so every
/// <c>Orchestrator:Certificates:RevocationSyncInterval</c> the list also compares the revocation high-water mark
/// (<see cref="RevocationMark"/>) with the one it was loaded at, and reloads when it moved: a revocation whose event was
/// lost (a listening connection that died silently) is in force within that interval. A serial this replica has not
/// seen (issued by another replica a moment ago) is looked up once and cached.</summary>
public sealed class RevocationList(
    IServiceScopeFactory scopes, IClusterEvents events, IOptions<CertificateOptions> options, TimeProvider time, ILogger<RevocationList> logger)
    : BackgroundService
{
    public const string RevokedChannel = ClusterChannels.AgentRevoked;

    private readonly ReloadLoop _reloads = new();

    // Orders revocations heard against the swap of a reload: each lands in the set the reload replaces, before it
    // copies the revoked entries over, or in the new set.
    private readonly Lock _swap = new();
    private ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _loadedMark = -1;
    private IDisposable? _subscription;

    /// <summary><paramref name="AgentId"/> is null once the agent row is gone.</summary>
    public sealed record Entry(Guid? AgentId, DateTime NotAfter, bool Revoked);

    public sealed record RevokedMessage(Guid? AgentId, string[] Serials);

    /// <summary>Certificates this replica has just learnt are revoked, from an event or from a reload that found
    /// revocations whose events it missed: whatever holds a connection open on one of them (a task stream) closes it.
    /// Handlers must be quick and must not throw.</summary>
    public event Action<RevokedMessage>? Revoked;

    public async ValueTask<Entry?> FindAsync(string serial, CancellationToken cancellationToken)
    {
        if (_entries.TryGetValue(serial, out var entry))
        {
            return entry;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var row = await db.IssuedCertificates.AsNoTracking()
            .Where(c => c.Serial == serial && c.Kind == CertificateKind.Agent)
            .Select(c => new Entry(c.AgentId, c.NotAfter, c.RevokedAt != null))
            .FirstOrDefaultAsync(cancellationToken);
        // A revocation heard while the row was read wins over what was read.
        return row is null ? null : _entries.GetOrAdd(serial, row);
    }

    /// <summary>Called by the issuer, so the replica that issued a certificate never needs to look it up.</summary>
    public void Issued(string serial, Guid agentId, DateTime notAfter)
    {
        Prune();
        _entries.TryAdd(serial, new Entry(agentId, notAfter, false));
    }

    /// <summary>Marks the serials revoked here at once and on every other replica as soon as it hears.</summary>
    public Task PublishRevokedAsync(Guid? agentId, string[] serials, CancellationToken cancellationToken) =>
        events.PublishAsync(RevokedChannel, JsonSerializer.Serialize(new RevokedMessage(agentId, serials)), cancellationToken);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = events.Subscribe(RevokedChannel, OnRevoked, _reloads.Request);
        await ReloadAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await base.StopAsync(cancellationToken);
    }

    // Each revocation heard updates the set as it arrives; the periodic check and a lost connection (events may have
    // been missed) compare the mark. A failed pass keeps the entries we have; each unknown serial is still looked up.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _reloads.RunAsync(SyncAsync, options.Value.RevocationSyncInterval, time, logger.RevocationsReloadFailed, stoppingToken);

    private void OnRevoked(string payload)
    {
        var message = JsonSerializer.Deserialize<RevokedMessage>(payload);
        if (message is null)
        {
            return;
        }

        lock (_swap)
        {
            foreach (var serial in message.Serials)
            {
                _entries.AddOrUpdate(serial,
                    _ => new Entry(message.AgentId, DateTime.MaxValue, true),
                    (_, existing) => existing with { Revoked = true });
            }
        }

        Revoked?.Invoke(message);
    }

    /// <summary>One small read when nothing was revoked since the last load; a reload when something was.</summary>
    private async Task SyncAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        if (await ReadMarkAsync(db, cancellationToken) != Volatile.Read(ref _loadedMark))
        {
            await ReloadAsync(cancellationToken);
        }
    }

    private static Task<long> ReadMarkAsync(OrchestratorDbContext db, CancellationToken cancellationToken) =>
        db.RevocationMarks.Where(m => m.Id == RevocationMark.SingletonId).Select(m => m.Version).FirstOrDefaultAsync(cancellationToken);

    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var now = time.GetUtcNow().UtcDateTime;
        // The mark first: the rows, read after it, hold every revocation it counts (and perhaps later ones, which only
        // cost one more reload when the next check sees the mark move again).
        var mark = await ReadMarkAsync(db, cancellationToken);
        var rows = await db.IssuedCertificates.AsNoTracking()
            .Where(c => c.Kind == CertificateKind.Agent && c.NotAfter > now)
            .Select(c => new { c.Serial, Entry = new Entry(c.AgentId, c.NotAfter, c.RevokedAt != null) })
            .ToListAsync(cancellationToken);
        var fresh = new ConcurrentDictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            fresh[row.Serial] = row.Entry;
        }

        List<RevokedMessage> missed;
        // Revocations heard while loading are kept (the rows may have been read before they committed).
        lock (_swap)
        {
            var previous = _entries;
            foreach (var (serial, entry) in previous)
            {
                if (entry.Revoked)
                {
                    fresh.AddOrUpdate(serial, entry, (_, loaded) => loaded with { Revoked = true });
                }
            }

            // Revocations this replica had not heard of: their events were lost.
            missed = [.. fresh.Where(e => e.Value.Revoked && previous.TryGetValue(e.Key, out var known) && !known.Revoked)
                .GroupBy(e => e.Value.AgentId, e => e.Key)
                .Select(g => new RevokedMessage(g.Key, [.. g]))];
            Volatile.Write(ref _entries, fresh);
            Volatile.Write(ref _loadedMark, mark);
        }

        foreach (var message in missed)
        {
            logger.RevocationsFoundByReload(message.AgentId, message.Serials.Length);
            Revoked?.Invoke(message);
        }
    }

    private void Prune()
    {
        // Cheap enough at the rate certificates are issued; keeps the set to live certificates.
        if (_entries.Count < 4096)
        {
            return;
        }

        var now = time.GetUtcNow().UtcDateTime;
        foreach (var (serial, entry) in _entries)
        {
            if (entry.NotAfter < now)
            {
                _entries.TryRemove(serial, out _);
            }
        }
    }
}
