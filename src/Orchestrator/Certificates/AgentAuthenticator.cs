using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authentication;
using Orchestrator.Security;

namespace Orchestrator.Certificates;

/// <summary>Agents: the client certificate (our CA, in date, not revoked, the agent's own) AND a bearer token bound to
/// exactly that certificate. Either missing or wrong is a failure whose message is the 401's detail; the reason is
/// logged and counted once. Decided once a request: the scheme's handler and <see cref="AgentPolicyEvaluator"/> ask
/// the same question, and a request must not pass one check and meet another (a revocation in between).</summary>
public sealed class AgentAuthenticator(
    CertificateAuthority ca,
    RevocationList revocations,
    AgentTokens tokens,
    ValidatedCertificates cache,
    AuthenticationMetrics metrics,
    TimeProvider time,
    ILogger<AgentAuthenticator> logger)
{
    // The request's answer, in HttpContext.Items (the authorization middleware has made that dictionary already).
    private static readonly object ResultKey = new();

    public async ValueTask<AuthenticateResult> AuthenticateAsync(HttpContext context)
    {
        if (context.Items.TryGetValue(ResultKey, out var decided))
        {
            return (AuthenticateResult)decided!;
        }

        var result = await DecideAsync(context);
        context.Items[ResultKey] = result;
        return result;
    }

    private async ValueTask<AuthenticateResult> DecideAsync(HttpContext context)
    {
        var certificate = context.Connection.ClientCertificate;
        var authorization = context.Request.Headers.Authorization.ToString();
        var bearer = BearerIn(authorization);
        if (certificate is null)
        {
            return Reject(context, "no_certificate", "A client certificate issued by this service is required (mutual TLS).", agentId: null);
        }

        if (bearer is null)
        {
            return Reject(context, "no_token", "An agent token is required: Authorization: Bearer <token>.", IssuanceRules.AgentIdOf(certificate));
        }

        var thumbprint = cache.ThumbprintOf(certificate);
        var now = time.GetUtcNow().UtcDateTime;
        if (!cache.TryGet(thumbprint, out var valid))
        {
            var checkedCertificate = Validate(certificate, now);
            if (checkedCertificate is null)
            {
                return Reject(context, "untrusted_certificate", "The client certificate was not issued by this service's CA, or is not valid now.",
                    IssuanceRules.AgentIdOf(certificate));
            }

            valid = checkedCertificate;
            cache.Add(thumbprint, valid);
        }

        if (now < valid.NotBefore || now >= valid.NotAfter)
        {
            return Reject(context, "expired_certificate", "The client certificate has expired or is not yet valid.", valid.AgentId);
        }

        var entry = await revocations.FindAsync(valid.Serial, context.RequestAborted);
        if (entry is null || entry.Revoked || entry.AgentId != valid.AgentId)
        {
            return Reject(context, "revoked_certificate", AgentCredentials.RevokedDetail, valid.AgentId);
        }

        // A token seen before is looked up in place in the header; only a new one is copied out and fully checked.
        var (token, error) = tokens.FindAccepted(authorization.AsSpan()[bearer.Value]) is { } known
            ? (known, null)
            : await tokens.ValidateAsync(authorization[bearer.Value], context.RequestAborted);
        if (token is null)
        {
            return Reject(context, "invalid_token", error!, valid.AgentId);
        }

        if (token.AgentId != valid.AgentId || !string.Equals(token.CertificateThumbprint, thumbprint, StringComparison.Ordinal))
        {
            return Reject(context, "token_not_bound", "The bearer token is not bound to the presented client certificate.", valid.AgentId);
        }

        // Each claim names its identity as it is made: ClaimsIdentity copies every claim that names another.
        var identity = new ClaimsIdentity(Schemes.Agent);
        identity.AddClaims(
        [
            Claim(ClaimTypes.NameIdentifier, valid.AgentIdText, identity),
            Claim(AgentClaims.AgentIdClaim, valid.AgentIdText, identity),
            Claim(AgentClaims.CertificateSerial, valid.Serial, identity),
            Claim(AgentClaims.CertificateNotAfter, valid.NotAfterText, identity),
            Claim(AgentClaims.CertificateThumbprint, thumbprint, identity),
            Claim(AgentClaims.PublicKey, valid.PublicKey, identity),
        ]);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Schemes.Agent));
    }

    private static Claim Claim(string type, string value, ClaimsIdentity identity) =>
        new(type, value, ClaimValueTypes.String, ClaimsIdentity.DefaultIssuer, ClaimsIdentity.DefaultIssuer, identity);

    /// <summary>Where the token is in an <c>Authorization: Bearer</c> header (surrounding spaces left out); null when the
    /// header is not one, or names no token.</summary>
    private static Range? BearerIn(string authorization)
    {
        const string Prefix = "Bearer ";
        if (!authorization.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var rest = authorization.AsSpan(Prefix.Length);
        var start = Prefix.Length + (rest.Length - rest.TrimStart().Length);
        var end = authorization.Length - (rest.Length - rest.TrimEnd().Length);
        return end > start ? start..end : null;
    }

    /// <summary>Fails the request with <paramref name="reason"/> (the 401's detail), logs it with the agent the
    /// certificate names, if it names one, and the caller's address, and counts it under <paramref name="code"/>. The
    /// reasons are fixed texts: never the token.</summary>
    private AuthenticateResult Reject(HttpContext context, string code, string reason, Guid? agentId)
    {
        metrics.Failed("agent", code);
        logger.AgentAuthenticationRejected(context.Connection.RemoteIpAddress?.ToString(), agentId, reason);
        return AuthenticateResult.Fail(reason);
    }

    private ValidatedCertificates.Valid? Validate(X509Certificate2 certificate, DateTime now)
    {
        var agentId = IssuanceRules.AgentIdOf(certificate);
        if (agentId is null)
        {
            return null;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ca.TrustedRoots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now;
        chain.ChainPolicy.ApplicationPolicy.Add(IssuanceRules.ClientAuthentication);
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (!chain.Build(certificate) || chain.ChainElements.Count != 2)
        {
            return null;
        }

        return new ValidatedCertificates.Valid(
            agentId.Value,
            certificate.SerialNumber,
            certificate.NotBefore.ToUniversalTime(),
            certificate.NotAfter.ToUniversalTime(),
            Convert.ToBase64String(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
    }
}
