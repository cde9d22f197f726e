using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>What agent authentication needs to know about an issued certificate on every request (whose it is and
/// whether it is revoked), held in memory so a request costs no database read. Revocations reach every replica
/// through <see cref="IClusterEvents"/>; after a lost connection (missed events) everything is reloaded. A serial
/// this replica has not seen (issued by another replica a moment ago) is looked up once and cached.</summary>
public sealed class RevocationList(IServiceScopeFactory scopes, IClusterEvents events, TimeProvider time, ILogger<RevocationList> logger)
    : BackgroundService
{
    public const string RevokedChannel = ClusterChannels.AgentRevoked;

    private readonly ReloadLoop _reloads = new();

    // Orders revocations heard against the swap of a reload: each lands in the set the reload replaces, before it
    // copies the revoked entries over, or in the new set.
    private readonly Lock _swap = new();
    private ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private IDisposable? _subscription;

    /// <summary><paramref name="AgentId"/> is null once the agent row is gone.</summary>
    public sealed record Entry(Guid? AgentId, DateTime NotAfter, bool Revoked);

    public sealed record RevokedMessage(Guid? AgentId, string[] Serials);

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

    // Only after a lost connection (missed revocations): each revocation itself updates the set as it is heard.
    // A failed reload keeps the entries we have; each unknown serial is still looked up.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _reloads.RunAsync(ReloadAsync, period: null, time, logger.RevocationsReloadFailed, stoppingToken);

    private void OnRevoked(string payload)
    {
        var message = JsonSerializer.Deserialize<RevokedMessage>(payload);
        lock (_swap)
        {
            foreach (var serial in message?.Serials ?? [])
            {
                _entries.AddOrUpdate(serial,
                    _ => new Entry(message!.AgentId, DateTime.MaxValue, true),
                    (_, existing) => existing with { Revoked = true });
            }
        }
    }

    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var now = time.GetUtcNow().UtcDateTime;
        var rows = await db.IssuedCertificates.AsNoTracking()
            .Where(c => c.Kind == CertificateKind.Agent && c.NotAfter > now)
            .Select(c => new { c.Serial, Entry = new Entry(c.AgentId, c.NotAfter, c.RevokedAt != null) })
            .ToListAsync(cancellationToken);
        var fresh = new ConcurrentDictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            fresh[row.Serial] = row.Entry;
        }

        // Revocations heard while loading are kept (the rows may have been read before they committed).
        lock (_swap)
        {
            foreach (var (serial, entry) in _entries)
            {
                if (entry.Revoked)
                {
                    fresh.AddOrUpdate(serial, entry, (_, loaded) => loaded with { Revoked = true });
                }
            }

            Volatile.Write(ref _entries, fresh);
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
