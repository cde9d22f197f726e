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
/// replica says they changed (rotation), after a lost cluster connection, and once a minute as a backstop.</summary>
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
    private State? _state;
    private IDisposable? _subscription;

    public sealed record Root(Guid Id, X509Certificate2 Certificate, DateTime? RetiredAt);

    private sealed record State(Root Active, ECDsa ActiveKey, IReadOnlyList<Root> Roots, X509Certificate2Collection Trust);

    private State Current => Volatile.Read(ref _state) ?? throw new InvalidOperationException("The certificate authority has not loaded yet.");

    /// <summary>The root that signs new certificates.</summary>
    public Root Active => Current.Active;

    /// <summary>Every root this replica knows, retired ones included: a retired root's certificates stay valid until
    /// they expire, and expired certificates fail validation on their own dates.</summary>
    public X509Certificate2Collection TrustedRoots => Current.Trust;

    /// <summary>Signs <paramref name="request"/> with the active root.</summary>
    public (X509Certificate2 Certificate, Guid RootId) Sign(CertificateRequest request, TimeSpan lifetime)
    {
        var state = Current;
        var certificate = IssuanceRules.Sign(request, state.Active.Certificate, state.ActiveKey, time.GetUtcNow(), lifetime);
        return (certificate, state.Active.Id);
    }

    /// <summary>The trust bundle: the active root and every retired root that still has unexpired certificates.</summary>
    public async Task<string> TrustBundlePemAsync(CancellationToken cancellationToken)
    {
        var state = Current;
        var now = time.GetUtcNow().UtcDateTime;
        var retired = state.Roots.Where(r => r.RetiredAt is not null).Select(r => r.Id).ToList();
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
        foreach (var root in state.Roots.Where(r => r.RetiredAt is null || stillSigning.Contains(r.Id)).OrderByDescending(r => r.RetiredAt is null))
        {
            pem.Append(root.Certificate.ExportCertificatePem()).Append('\n');
        }

        return pem.ToString();
    }

    /// <summary>Creates a new root that signs from now on; the previous ones are retired but stay trusted.
    /// The caller saves (with its audit event) and then calls <see cref="AnnounceChangeAsync"/>.</summary>
    public CaRoot NewRoot(OrchestratorDbContext db)
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
        };
        db.CaRoots.Add(root);
        return root;
    }

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
        var root = NewRoot(db);
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
                                     ?? new Root(r.Id, X509Certificate2.CreateFromPem(r.CertificatePem), r.RetiredAt)).ToList();

        // Newest unretired root signs; if two replicas ever created one at the same moment, all agree on the same one.
        var activeRow = rows.Where(r => r.RetiredAt == null).OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).First();
        var active = roots.Single(r => r.Id == activeRow.Id);
        var key = previous?.Active.Id == active.Id
            ? previous.ActiveKey
            : ProtectedKeys.UnprotectECDsa(dataProtection.CreateProtector(Purpose), activeRow.ProtectedPrivateKey);
        var trust = new X509Certificate2Collection();
        foreach (var root in roots)
        {
            trust.Add(root.Certificate);
        }

        Volatile.Write(ref _state, new State(active, key, roots, trust));
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
