using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Http;

namespace Orchestrator.Certificates;

/// <summary>A certificate and the token bound to it. <see cref="PrivateKeyPem"/> is set only when the service made
/// the key (no CSR); it is never stored or logged.</summary>
public sealed record IssuedCredentials(
    Guid AgentId,
    string CertificatePem,
    string? PrivateKeyPem,
    string CaPem,
    string Serial,
    DateTime ExpiresAt,
    string Token)
{
    /// <summary>The renewal answer (also the heartbeat's <c>certificateRenewal</c>).</summary>
    public RenewalResponse ToRenewal() => new(CertificatePem, PrivateKeyPem, CaPem, ExpiresAt, Token);
}

/// <summary>The agent-facing part of the CA: issue (registration), renew (heartbeat or on demand), revoke (delete).
/// Every issued certificate is recorded, audited and known to <see cref="RevocationList"/> at once.</summary>
public sealed class AgentCredentials(
    OrchestratorDbContext db,
    CertificateAuthority ca,
    AgentTokens tokens,
    RevocationList revocations,
    AuditLog audit,
    IOptions<CertificateOptions> options,
    CertificateMetrics metrics,
    TimeProvider time)
{
    /// <summary>Adds an error on <paramref name="field"/> when the CSR is not one the CA accepts; null passes.</summary>
    public static Validation ValidateCsr(Validation errors, string? csrPem, string field = "csr")
    {
        if (csrPem is null)
        {
            return errors;
        }

        if (csrPem.Length > 16 * 1024)
        {
            return errors.Add(field, $"'{field}' must be at most 16384 characters.");
        }

        return IssuanceRules.TryReadCsr(csrPem, out _, out var error)
            ? errors
            : errors.Add(field, error.Replace("'csr'", $"'{field}'", StringComparison.Ordinal));
    }

    /// <summary>New credentials for an agent: certifies the CSR's key, or a new P-256 key made here. Saves the
    /// certificate row (and anything else pending on the context) in one SaveChanges, inside the caller's
    /// transaction when there is one. Throws <see cref="ArgumentException"/> for a CSR that <see cref="ValidateCsr"/> refuses.</summary>
    public async Task<IssuedCredentials> IssueAsync(Guid agentId, string? csrPem, CancellationToken cancellationToken)
    {
        if (csrPem is null)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = IssuanceRules.AgentRequest(agentId, PublicKeyOf(key));
            return await IssueAsync(agentId, request, key.ExportPkcs8PrivateKeyPem(), "issued", cancellationToken);
        }

        return await IssueAsync(agentId, IssuanceRules.AgentRequest(agentId, ReadCsr(csrPem)), null, "issued", cancellationToken);
    }

    /// <summary>A heartbeat's <c>csr</c> asks for a new key at once, whatever the renewal window; one for the key the
    /// agent already holds asks for nothing (so an agent that repeats its CSR is not given a certificate per heartbeat).
    /// The CSR must have passed <see cref="ValidateCsr"/>.</summary>
    public static bool RotatesKey(ClaimsPrincipal agent, string? csrPem) =>
        csrPem is not null &&
        Convert.ToBase64String(ReadCsr(csrPem).ExportSubjectPublicKeyInfo()) != agent.FindFirstValue(AgentClaims.PublicKey);

    /// <summary>Renewal for an authenticated agent: certifies the same public key as the certificate it presented,
    /// or the CSR's key. The previous certificate stays valid until its own expiry. Null, with nothing handed out, when
    /// the agent's credentials were revoked or the agent deleted after this request was authenticated: the caller
    /// answers 401 with <see cref="RevokedDetail"/>, as the agent's next request would be.</summary>
    /// <remarks>The new row names the agent (a foreign key), so on PostgreSQL its insert holds the agent's row (key
    /// share) until it commits, and the deletion, which locks that row first, either waits for it and then revokes and
    /// announces it too, or has removed the agent and the insert fails. SQLite serialises the two writes the same way.</remarks>
    public async Task<IssuedCredentials?> RenewAsync(ClaimsPrincipal agent, string? csrPem, CancellationToken cancellationToken)
    {
        var agentId = agent.AgentId();
        var presented = agent.CertificateSerialOf();
        if (await IsRevokedAsync(presented, cancellationToken))
        {
            return null;
        }

        var publicKey = csrPem is null
            ? PublicKey.CreateFromSubjectPublicKeyInfo(Convert.FromBase64String(agent.FindFirstValue(AgentClaims.PublicKey)!), out _)
            : ReadCsr(csrPem);
        IssuedCredentials renewed;
        try
        {
            renewed = await IssueAsync(agentId, IssuanceRules.AgentRequest(agentId, publicKey), null, "renewed", cancellationToken);
        }
        catch (DbUpdateException ex) when (ConstraintViolations.IsForeignKeyViolation(ex))
        {
            // The agent was deleted while this renewal was under way.
            db.ChangeTracker.Clear();
            return null;
        }

        // A revocation that committed while the new row was written did not see it: it goes the same way.
        if (await IsRevokedAsync(presented, cancellationToken))
        {
            var now = time.GetUtcNow().UtcDateTime;
            var owned = db.Database.CurrentTransaction is null;
            await using (var transaction = owned ? await db.Database.BeginTransactionAsync(cancellationToken) : null)
            {
                await db.IssuedCertificates.Where(c => c.Serial == renewed.Serial)
                    .ExecuteUpdateAsync(u => u.SetProperty(c => c.RevokedAt, now), cancellationToken);
                await db.MarkRevocationAsync(cancellationToken);
                audit.Record("system", "certificate.revoked", "agent", agentId.ToString(),
                    new { serials = new[] { renewed.Serial }, because = "renewed while the agent's credentials were being revoked" });
                await db.SaveChangesAsync(cancellationToken);
                if (transaction is not null)
                {
                    await transaction.CommitAsync(cancellationToken);
                }
            }

            await AnnounceRevokedAsync(agentId, [renewed.Serial], cancellationToken);
            return null;
        }

        return renewed;
    }

    /// <summary>The 401 detail for an agent whose credentials are revoked or whose registration is gone.</summary>
    public const string RevokedDetail = "The client certificate has been revoked, or its agent no longer exists.";

    /// <summary>True when the certificate the agent presented is within <c>Orchestrator:Certificates:RenewBefore</c> of its end.</summary>
    public bool IsRenewalDue(ClaimsPrincipal agent)
    {
        var notAfter = DateTime.Parse(
            agent.FindFirstValue(AgentClaims.CertificateNotAfter)!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        return notAfter - time.GetUtcNow().UtcDateTime <= options.Value.RenewBefore;
    }

    /// <summary>Revokes every certificate of the agent (effective on every replica on its next request) and records
    /// it under <paramref name="actor"/>. Works from the certificate rows, so it does not need the agent row; call it
    /// before deleting the agent.</summary>
    public async Task RevokeAllAsync(Guid agentId, string actor, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var owned = db.Database.CurrentTransaction is null;
        await using var transaction = owned ? await db.Database.BeginTransactionAsync(cancellationToken) : null;
        await db.IssuedCertificates
            .Where(c => c.AgentId == agentId && c.RevokedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.RevokedAt, now), cancellationToken);
        var serials = await db.IssuedCertificates.AsNoTracking()
            .Where(c => c.AgentId == agentId && c.RevokedAt == now)
            .Select(c => c.Serial).ToArrayAsync(cancellationToken);
        if (serials.Length > 0)
        {
            await db.MarkRevocationAsync(cancellationToken);
            audit.Record(actor, "certificate.revoked", "agent", agentId.ToString(), new { serials });
            await db.SaveChangesAsync(cancellationToken);
        }

        if (transaction is not null)
        {
            await transaction.CommitAsync(cancellationToken);
        }

        await AnnounceRevokedAsync(agentId, serials, cancellationToken);
    }

    /// <summary>Makes revocations committed elsewhere (the agent's deletion) effective on every replica: marks the
    /// serials revoked here at once and on the others as they hear. Call it after the revoking transaction committed.</summary>
    public async Task AnnounceRevokedAsync(Guid agentId, string[] serials, CancellationToken cancellationToken)
    {
        if (serials.Length == 0)
        {
            return;
        }

        metrics.Revoked(serials.Length);
        await revocations.PublishRevokedAsync(agentId, serials, cancellationToken);
    }

    private Task<bool> IsRevokedAsync(string serial, CancellationToken cancellationToken) =>
        db.IssuedCertificates.AnyAsync(c => c.Serial == serial && c.RevokedAt != null, cancellationToken);

    private async Task<IssuedCredentials> IssueAsync(
        Guid agentId, CertificateRequest request, string? keyPem, string verb, CancellationToken cancellationToken)
    {
        using var span = Telemetry.Source.StartActivity("certificate.issue");
        span?.SetTag("orchestrator.agent.id", agentId).SetTag("orchestrator.certificate.reason", verb)
            .SetTag("orchestrator.certificate.key", keyPem is null ? "agent" : "server");
        var lifetime = options.Value.Lifetime;
        var (certificate, rootId) = ca.Sign(request, lifetime);
        using (certificate)
        {
            var serial = certificate.SerialNumber;
            var thumbprint = IssuanceRules.ThumbprintOf(certificate);
            var notBefore = certificate.NotBefore.ToUniversalTime();
            var notAfter = certificate.NotAfter.ToUniversalTime();
            db.IssuedCertificates.Add(new IssuedCertificate
            {
                Serial = serial,
                AgentId = agentId,
                Kind = CertificateKind.Agent,
                RootId = rootId,
                Thumbprint = thumbprint,
                NotBefore = notBefore,
                NotAfter = notAfter,
                IssuedAt = time.GetUtcNow().UtcDateTime,
            });
            audit.Record($"agent:{agentId}", $"certificate.{verb}", "agent", agentId.ToString(),
                new { serial, notAfter, clientKey = keyPem is null });
            await db.SaveChangesAsync(cancellationToken);
            revocations.Issued(serial, agentId, notAfter);
            metrics.Issued(renewal: verb == "renewed");

            return new IssuedCredentials(
                agentId,
                certificate.ExportCertificatePem(),
                keyPem,
                await ca.TrustBundlePemAsync(cancellationToken),
                serial,
                notAfter,
                tokens.Issue(agentId, thumbprint, notBefore, notAfter));
        }
    }

    private static PublicKey ReadCsr(string csrPem) =>
        IssuanceRules.TryReadCsr(csrPem, out var key, out var error) ? key! : throw new ArgumentException(error, nameof(csrPem));

    private static PublicKey PublicKeyOf(ECDsa key) =>
        PublicKey.CreateFromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);
}
