using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Certificates;

public static class AgentClaims
{
    public const string AgentIdClaim = "agent_id";
    public const string CertificateSerial = "cert_serial";
    public const string CertificateNotAfter = "cert_not_after";
    public const string CertificateThumbprint = "cert_x5t_s256";

    /// <summary>The presented certificate's SubjectPublicKeyInfo (base64), so renewal can certify the same key.</summary>
    public const string PublicKey = "cert_spki";

    /// <summary>The calling agent's id. Only for principals of the agent scheme (routes behind <c>RequireAgent()</c>).</summary>
    public static Guid AgentId(this ClaimsPrincipal user) =>
        user.Identity?.AuthenticationType == AgentAuthenticationHandler.SchemeName && Guid.TryParse(user.FindFirstValue(AgentIdClaim), out var id)
            ? id
            : throw new InvalidOperationException("The caller is not an authenticated agent.");

    public static string CertificateSerialOf(this ClaimsPrincipal user) => user.FindFirstValue(CertificateSerial)!;

    public static DateTime CertificateExpiresAt(this ClaimsPrincipal user) =>
        DateTime.Parse(user.FindFirstValue(CertificateNotAfter)!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}

public static class AgentAuthentication
{
    public static IServiceCollection AddAgentAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, AgentAuthenticationHandler>(AgentAuthenticationHandler.SchemeName, null);
        services.AddSingleton<ValidatedCertificates>();
        services.TryAddSingleton<AuthenticationMetrics>();
        services.AddSingleton<IAuthorizationHandler, OwnAgentRouteHandler>();
        services.AddAuthorizationBuilder().AddPolicy(Policies.Agent, p => p
            .AddAuthenticationSchemes(AgentAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .AddRequirements(new OwnAgentRouteRequirement()));
        return services;
    }
}

/// <summary>An agent may call only routes whose <c>{id}</c> is its own id. Deny by default: an agent route without an
/// <c>{id}</c> (none exists today; every agent route sits under <c>/api/v1/agents/{id}</c>) is refused rather than open
/// to every agent, so a route added later cannot leak one agent's data to another by omission.</summary>
public sealed class OwnAgentRouteRequirement : IAuthorizationRequirement;

internal sealed class OwnAgentRouteHandler : AuthorizationHandler<OwnAgentRouteRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, OwnAgentRouteRequirement requirement)
    {
        if (context.Resource is not HttpContext http || context.User.Identity?.AuthenticationType != AgentAuthenticationHandler.SchemeName)
        {
            return Task.CompletedTask;
        }

        if (http.Request.RouteValues.TryGetValue("id", out var value) &&
            Guid.TryParse(value?.ToString(), out var id) && id == context.User.AgentId())
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }
}

/// <summary>Chain validation results by certificate thumbprint: building a chain is the costly part of a request, and
/// its answer cannot change (roots are only added; dates are checked on every request).</summary>
public sealed class ValidatedCertificates
{
    private readonly ConcurrentDictionary<string, Valid> _valid = new(StringComparer.Ordinal);

    // Kestrel hands every request of a TLS connection the same certificate object, so its SHA-256 (a quarter of
    // authentication's CPU when it was computed per request) is computed once per connection. The thumbprint is a
    // function of the certificate's bytes, which an X509Certificate2 never changes; the entry goes with the object.
    private readonly ConditionalWeakTable<X509Certificate2, string> _thumbprints = new();

    /// <summary>Everything a request needs from a verified certificate, the claims' texts included (formatted once).</summary>
    public sealed record Valid(Guid AgentId, string Serial, DateTime NotBefore, DateTime NotAfter, string PublicKey)
    {
        public string AgentIdText { get; } = AgentId.ToString();
        public string NotAfterText { get; } = NotAfter.ToString("O", CultureInfo.InvariantCulture);
    }

    /// <summary>The certificate's thumbprint (<see cref="IssuanceRules.ThumbprintOf"/>), computed once per certificate object.</summary>
    public string ThumbprintOf(X509Certificate2 certificate) =>
        _thumbprints.GetValue(certificate, static c => IssuanceRules.ThumbprintOf(c));

    public bool TryGet(string thumbprint, out Valid valid) => _valid.TryGetValue(thumbprint, out valid!);

    public void Add(string thumbprint, Valid valid)
    {
        if (_valid.Count > 50_000)
        {
            _valid.Clear();
        }

        _valid[thumbprint] = valid;
    }
}

/// <summary>Agents: the client certificate (our CA, in date, not revoked, the agent's own) AND a bearer token bound to
/// exactly that certificate. Either missing or wrong is 401; the reason is in the problem's detail and in the log.</summary>
public sealed class AgentAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    CertificateAuthority ca,
    RevocationList revocations,
    AgentTokens tokens,
    ValidatedCertificates cache,
    AuthenticationMetrics metrics,
    TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = Schemes.Agent;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var certificate = Context.Connection.ClientCertificate;
        var authorization = Request.Headers.Authorization.ToString();
        var bearer = BearerIn(authorization);
        if (certificate is null)
        {
            return Reject("no_certificate", "A client certificate issued by this service is required (mutual TLS).", agentId: null);
        }

        if (bearer is null)
        {
            return Reject("no_token", "An agent token is required: Authorization: Bearer <token>.", IssuanceRules.AgentIdOf(certificate));
        }

        var thumbprint = cache.ThumbprintOf(certificate);
        var now = time.GetUtcNow().UtcDateTime;
        if (!cache.TryGet(thumbprint, out var valid))
        {
            var checkedCertificate = Validate(certificate, now);
            if (checkedCertificate is null)
            {
                return Reject("untrusted_certificate", "The client certificate was not issued by this service's CA, or is not valid now.",
                    IssuanceRules.AgentIdOf(certificate));
            }

            valid = checkedCertificate;
            cache.Add(thumbprint, valid);
        }

        if (now < valid.NotBefore || now >= valid.NotAfter)
        {
            return Reject("expired_certificate", "The client certificate has expired or is not yet valid.", valid.AgentId);
        }

        var entry = await revocations.FindAsync(valid.Serial, Context.RequestAborted);
        if (entry is null || entry.Revoked || entry.AgentId != valid.AgentId)
        {
            return Reject("revoked_certificate", AgentCredentials.RevokedDetail, valid.AgentId);
        }

        // A token seen before is looked up in place in the header; only a new one is copied out and fully checked.
        var (token, error) = tokens.FindAccepted(authorization.AsSpan()[bearer.Value]) is { } known
            ? (known, null)
            : await tokens.ValidateAsync(authorization[bearer.Value], Context.RequestAborted);
        if (token is null)
        {
            return Reject("invalid_token", error!, valid.AgentId);
        }

        if (token.AgentId != valid.AgentId || !string.Equals(token.CertificateThumbprint, thumbprint, StringComparison.Ordinal))
        {
            return Reject("token_not_bound", "The bearer token is not bound to the presented client certificate.", valid.AgentId);
        }

        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, valid.AgentIdText),
            new Claim(AgentClaims.AgentIdClaim, valid.AgentIdText),
            new Claim(AgentClaims.CertificateSerial, valid.Serial),
            new Claim(AgentClaims.CertificateNotAfter, valid.NotAfterText),
            new Claim(AgentClaims.CertificateThumbprint, thumbprint),
            new Claim(AgentClaims.PublicKey, valid.PublicKey),
        ], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

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
    private AuthenticateResult Reject(string code, string reason, Guid? agentId)
    {
        metrics.Failed("agent", code);
        Logger.AgentAuthenticationRejected(Context.Connection.RemoteIpAddress?.ToString(), agentId, reason);
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

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        await Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
            result.Failure?.Message ?? "Agent endpoints need the agent's client certificate and Authorization: Bearer <token>.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status403Forbidden, "Forbidden", "An agent may only call its own routes.");
}
