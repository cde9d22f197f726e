using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>The certificate Kestrel presents. Read on every TLS handshake, so replacing it takes effect without a
/// restart. A configured PFX (<c>Orchestrator:Certificates:ServerCertificatePath</c>) wins; otherwise the CA issues
/// one (<see cref="ServerCertificateRenewal"/>) before the server starts listening.</summary>
public sealed class ServerCertificateSource(IOptions<CertificateOptions> options)
{
    private Presented? _current;
    private readonly Lock _gate = new();

    /// <summary>A certificate with the TLS context built from it once. Given only the certificate, every handshake built
    /// its own context (a chain build, and copies of the certificate and key handles that each connection then held for
    /// its life: with 10,000 open task streams, 10,000 contexts).</summary>
    private sealed record Presented(X509Certificate2 Certificate, SslStreamCertificateContext Context)
    {
        // Offline: the chain is completed from what this machine holds; a handshake never waits on the network.
        public static Presented Of(X509Certificate2 certificate) =>
            new(certificate, SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true));
    }

    public bool IsConfigured => options.Value.ServerCertificatePath is not null;

    public X509Certificate2 Current => Load().Certificate;

    /// <summary>What a handshake presents: <see cref="Current"/> with its chain, built once per certificate.</summary>
    public SslStreamCertificateContext CurrentContext => Load().Context;

    private Presented Load()
    {
        var current = Volatile.Read(ref _current);
        if (current is not null)
        {
            return current;
        }

        lock (_gate)
        {
            var settings = options.Value;
            return _current ??= settings.ServerCertificatePath is { } configured
                ? Presented.Of(X509CertificateLoader.LoadPkcs12FromFile(configured, settings.ServerCertificatePassword))
                : throw new InvalidOperationException("The CA has not issued the server certificate yet.");
        }
    }

    /// <summary>Only the issued certificate is ever replaced; the previous one is left to the handshakes using it.</summary>
    public void Replace(X509Certificate2 certificate) => Volatile.Write(ref _current, Presented.Of(certificate));
}

/// <summary>Issues this replica's server certificate from the CA at start, and a new one when a third of its
/// lifetime is left or another root became active. A rotated root becomes active only after every agent has had a
/// certificate lifetime to renew and so to receive the bundle that holds it (<see cref="CertificateAuthority"/>), so
/// agents that pinned the old bundle can still connect meanwhile, to this replica or one restarted in between. The
/// key never leaves memory: each replica has its own.</summary>
public sealed class ServerCertificateRenewal(
    ServerCertificateSource source,
    CertificateAuthority ca,
    IServiceScopeFactory scopes,
    IOptions<CertificateOptions> options,
    TimeProvider time,
    ILogger<ServerCertificateRenewal> logger) : BackgroundService
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMinutes(1);

    private DateTime _notAfter;
    private Guid _rootId;
    private string? _serial;
    private long _lastCheckTicks;

    /// <summary>The service time of the last completed check (whether or not it renewed): lets a test know the loop
    /// has looked at a time it moved the clock to, rather than hoping it did.</summary>
    public DateTime LastCheck => new(Interlocked.Read(ref _lastCheckTicks), DateTimeKind.Utc);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!source.IsConfigured)
        {
            await IssueAsync(cancellationToken);
        }

        await base.StartAsync(cancellationToken);
    }

    // The current certificate keeps serving while a renewal fails; the next tick tries again.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => source.IsConfigured
        ? Task.CompletedTask
        : BackgroundLoop.RunAsync(CheckInterval, time, passAtStart: false, RenewIfDueAsync, logger.ServerCertificateRenewalFailed, stoppingToken);

    private async Task RenewIfDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (_notAfter - now < options.Value.ServerLifetime / 3 || ca.Active.Id != _rootId)
        {
            await IssueAsync(cancellationToken);
        }

        Interlocked.Exchange(ref _lastCheckTicks, now.Ticks);
    }

    private async Task IssueAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = IssuanceRules.ServerRequest(settings.ServerHostNames,
            PublicKey.CreateFromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _));
        var (signed, rootId) = ca.Sign(request, settings.ServerLifetime);
        using (signed)
        {
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
                db.IssuedCertificates.Add(new IssuedCertificate
                {
                    Serial = signed.SerialNumber,
                    Kind = CertificateKind.Server,
                    RootId = rootId,
                    Thumbprint = IssuanceRules.ThumbprintOf(signed),
                    NotBefore = signed.NotBefore.ToUniversalTime(),
                    NotAfter = signed.NotAfter.ToUniversalTime(),
                    IssuedAt = time.GetUtcNow().UtcDateTime,
                });
                await db.SaveChangesAsync(cancellationToken);
                if (_serial is not null)
                {
                    // No longer presented, so its root need not stay in the trust bundle for it.
                    var superseded = _serial;
                    var now = time.GetUtcNow().UtcDateTime;
                    await db.IssuedCertificates.Where(c => c.Serial == superseded)
                        .ExecuteUpdateAsync(u => u.SetProperty(c => c.RevokedAt, now), cancellationToken);
                }
            }

            using var withKey = signed.CopyWithPrivateKey(key);
            source.Replace(TlsCertificates.ForTls(withKey));
            _notAfter = signed.NotAfter.ToUniversalTime();
            _rootId = rootId;
            _serial = signed.SerialNumber;
            logger.ServerCertificateIssued(string.Join(", ", settings.ServerHostNames.Distinct(StringComparer.OrdinalIgnoreCase)), _notAfter);
        }
    }
}
