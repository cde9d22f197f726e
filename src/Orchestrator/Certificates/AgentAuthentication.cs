using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
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
        services.AddSingleton<AgentAuthenticator>();
        services.TryAddSingleton<AuthenticationMetrics>();
        services.AddSingleton<IAuthorizationHandler, OwnAgentRouteHandler>();
        services.AddAuthorizationBuilder().AddPolicy(Policies.Agent, p => p
            .AddAuthenticationSchemes(AgentAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .AddRequirements(new OwnAgentRouteRequirement()));
        services.Replace(ServiceDescriptor.Singleton<IPolicyEvaluator, AgentPolicyEvaluator>());
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
        if (context.Resource is HttpContext http && Allows(http, context.User))
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }

    /// <summary>Whether <paramref name="user"/> is an agent and the route's <c>{id}</c> its own.</summary>
    public static bool Allows(HttpContext http, ClaimsPrincipal user) =>
        user.Identity?.AuthenticationType == AgentAuthenticationHandler.SchemeName &&
        http.Request.RouteValues.TryGetValue("id", out var value) &&
        Guid.TryParse(value?.ToString(), out var id) && id == user.AgentId();
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

/// <summary>The agent scheme for ASP.NET Core: <see cref="AgentAuthenticator"/> decides (once a request), this answers
/// its failures: 401 with the reason as the problem's detail, 403 for another agent's route.</summary>
public sealed class AgentAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    AgentAuthenticator authenticator)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = Schemes.Agent;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() => authenticator.AuthenticateAsync(Context).AsTask();

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        await Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
            result.Failure?.Message ?? "Agent endpoints need the agent's client certificate and Authorization: Bearer <token>.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status403Forbidden, "Forbidden", "An agent may only call its own routes.");
}
