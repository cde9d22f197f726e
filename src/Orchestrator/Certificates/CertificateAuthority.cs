using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>Key custody for the CA: the roots live in the database with their private keys encrypted by Data
/// Protection, so every replica signs with the same root. Holds the roots in memory and reloads them when any
/// replica says they changed (rotation), after a lost cluster connection, and once a minute as a backstop.
/// Rotation follows SPIRE's prepare, activate, retire: a new root is first only published in the trust bundle, and
/// signs from its activation one agent-certificate lifetime later, when every agent has renewed (and so received
/// the bundle with it); which root signs is decided from the clock at each signature, so a replica that restarts or
/// renews its own server certificate during the overlap still signs with the active root.</summary>
public sealed class CertificateAuthority(
    IServiceScopeFactory scopes,
    IDataProtectionProvider dataProtection,
    IClusterEvents events,
    IOptions<CertificateOptions> options,
    TimeProvider time,
    ILogger<CertificateAuthority> logger) : BackgroundService
{
    public const string ChangedChannel = ClusterChannels.CaChanged;
    private const string Purpose = "Orchestrator.Certificates.CaRootKey.v1";

    private static readonly TimeSpan ReloadPeriod = TimeSpan.FromMinutes(1);

    private readonly ReloadLoop _reloads = new();
    private readonly ConcurrentDictionary<Guid, ECDsa> _keys = new();
    private State? _state;
    private IDisposable? _subscription;

    /// <summary>A root as this replica holds it. <c>ActivatesAt</c>: when it signs from (its creation for the first
    /// root); <c>RetiredAt</c>: when the next root took or takes over, if a rotation happened.</summary>
    public sealed record Root(Guid Id, X509Certificate2 Certificate, DateTime ActivatesAt, DateTime? RetiredAt);

    private sealed record State(IReadOnlyList<Root> Roots, X509Certificate2Collection Trust, IReadOnlyDictionary<Guid, string> ProtectedKeys);

    private State Current => Volatile.Read(ref _state) ?? throw new InvalidOperationException("The certificate authority has not loaded yet.");

    /// <summary>The root that signs new certificates now: the one activated last.</summary>
    public Root Active => ActiveAt(Current, time.GetUtcNow().UtcDateTime);

    /// <summary>Every root this replica knows, prepared and retired ones included: a retired root's certificates stay
    /// valid until they expire, and expired certificates fail validation on their own dates.</summary>
    public X509Certificate2Collection TrustedRoots => Current.Trust;

    /// <summary>How long a new root is published before it signs: one agent certificate lifetime, within which
    /// every agent renews and receives the trust bundle that holds it.</summary>
    public TimeSpan RotationOverlap => options.Value.Lifetime;

    /// <summary>Signs <paramref name="request"/> with the active root.</summary>
    public (X509Certificate2 Certificate, Guid RootId) Sign(CertificateRequest request, TimeSpan lifetime)
    {
        var now = time.GetUtcNow();
        var state = Current;
        var active = ActiveAt(state, now.UtcDateTime);
        var key = _keys.GetOrAdd(active.Id, id => ProtectedKeys.UnprotectECDsa(dataProtection.CreateProtector(Purpose), state.ProtectedKeys[id]));
        var certificate = IssuanceRules.Sign(request, active.Certificate, key, now, lifetime);
        return (certificate, active.Id);
    }

    /// <summary>The trust bundle: the active root, a prepared one (published ahead of its activation), and every
    /// retired root that still has unexpired certificates.</summary>
    public async Task<string> TrustBundlePemAsync(CancellationToken cancellationToken)
    {
        var state = Current;
        var now = time.GetUtcNow().UtcDateTime;
        var active = ActiveAt(state, now);
        var retired = state.Roots.Where(r => r.Id != active.Id && r.ActivatesAt <= now).Select(r => r.Id).ToList();
        var stillSigning = new HashSet<Guid>();
        if (retired.Count > 0)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
            stillSigning = (await db.IssuedCertificates.AsNoTracking()
                // Revoked rows need no trust; that includes server certificates a replica has stopped presenting.
                .Where(c => retired.Contains(c.RootId) && c.NotAfter > now && c.RevokedAt == null)
                .Select(c => c.RootId).Distinct().ToListAsync(cancellationToken)).ToHashSet();
        }

        var pem = new StringBuilder();
        var published = state.Roots.Where(r => r.ActivatesAt > now).OrderBy(r => r.ActivatesAt)
            .Concat(state.Roots.Where(r => stillSigning.Contains(r.Id)).OrderByDescending(r => r.ActivatesAt));
        foreach (var root in published.Prepend(active))
        {
            pem.Append(root.Certificate.ExportCertificatePem()).Append('\n');
        }

        return pem.ToString();
    }

    /// <summary>A new root that signs from <paramref name="activatesAt"/> (null: at once, the first root). The caller
    /// saves (with its audit event) and then calls <see cref="AnnounceChangeAsync"/>.</summary>
    public CaRoot NewRoot(OrchestratorDbContext db, DateTime? activatesAt)
    {
        var now = time.GetUtcNow();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = Guid.CreateVersion7();
        using var certificate = IssuanceRules.CreateRoot(key, id, now, options.Value.RootLifetime);
        var root = new CaRoot
        {
            Id = id,
            CertificatePem = certificate.ExportCertificatePem(),
            ProtectedPrivateKey = ProtectedKeys.Protect(dataProtection.CreateProtector(Purpose), key),
            CreatedAt = now.UtcDateTime,
            NotAfter = certificate.NotAfter.ToUniversalTime(),
            ActivatesAt = activatesAt,
        };
        db.CaRoots.Add(root);
        return root;
    }

    /// <summary>Newest activation that has happened; if two replicas ever created a first root at the same moment,
    /// all agree on the same one. Before any activation (impossible: the first root is active from its creation), the
    /// earliest.</summary>
    private static Root ActiveAt(State state, DateTime now) =>
        state.Roots.Where(r => r.ActivatesAt <= now).OrderByDescending(r => r.ActivatesAt).ThenByDescending(r => r.Id).FirstOrDefault()
        ?? state.Roots.OrderBy(r => r.ActivatesAt).First();

    /// <summary>Reloads the roots here and tells the other replicas to.</summary>
    public async Task AnnounceChangeAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        await events.PublishAsync(ChangedChannel, "roots", cancellationToken);
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await EnsureRootAsync(cancellationToken);
        await LoadAsync(cancellationToken);
        _subscription = _reloads.ReloadOn(events, ChangedChannel);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await base.StopAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _reloads.RunAsync(LoadAsync, ReloadPeriod, time, logger.CaRootsReloadFailed, stoppingToken);

    private async Task EnsureRootAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        if (await db.CaRoots.AnyAsync(r => r.RetiredAt == null, cancellationToken))
        {
            return;
        }

        // Encrypting may create the first Data Protection key, which is written on its own connection: do it before
        // taking the write lock below (SQLite would wait on itself).
        var root = NewRoot(db, activatesAt: null);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await ClusterLocks.TakeAsync(db, "ca.root", cancellationToken);
        if (await db.CaRoots.AnyAsync(r => r.RetiredAt == null, cancellationToken))
        {
            return; // another replica created it while this one prepared
        }

        new Audit.AuditLog(db, time).Record("system", "ca.created", "ca", root.Id.ToString(), new { notAfter = root.NotAfter });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.CaRootCreated(root.Id, root.NotAfter);
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var rows = await db.CaRoots.AsNoTracking().ToListAsync(cancellationToken);
        var previous = Volatile.Read(ref _state);
        var roots = rows.Select(r => previous?.Roots.FirstOrDefault(p => p.Id == r.Id && p.RetiredAt == r.RetiredAt)
                                     ?? new Root(r.Id, X509Certificate2.CreateFromPem(r.CertificatePem), r.ActivatesAt ?? r.CreatedAt,
                                         r.RetiredAt)).ToList();
        var trust = new X509Certificate2Collection();
        foreach (var root in roots)
        {
            trust.Add(root.Certificate);
        }

        Volatile.Write(ref _state, new State(roots, trust, rows.ToDictionary(r => r.Id, r => r.ProtectedPrivateKey)));
    }
}

/// <summary>Private keys encrypted with Data Protection for storage in the database.</summary>
public static class ProtectedKeys
{
    public static string Protect(IDataProtector protector, ECDsa key)
    {
        var pkcs8 = key.ExportPkcs8PrivateKey();
        try
        {
            return Convert.ToBase64String(protector.Protect(pkcs8));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    public static ECDsa UnprotectECDsa(IDataProtector protector, string protectedKey)
    {
        var pkcs8 = protector.Unprotect(Convert.FromBase64String(protectedKey));
        try
        {
            var key = ECDsa.Create();
            key.ImportPkcs8PrivateKey(pkcs8, out _);
            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }
}
