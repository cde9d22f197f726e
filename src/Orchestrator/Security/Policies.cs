using System.Security.Claims;

namespace Orchestrator.Security;

/// <summary>The authentication schemes, by name. Each is implemented beside what it checks: API keys in ApiKeys,
/// agent certificates and tokens in Certificates.</summary>
public static class Schemes
{
    /// <summary>Operators and CI: <c>X-Api-Key</c>.</summary>
    public const string ApiKey = "ApiKey";

    /// <summary>Agents: the client certificate and the token bound to it.</summary>
    public const string Agent = "Agent";
}

/// <summary>The authorization policies every feature's routes name.</summary>
public static class Policies
{
    public const string Viewer = "viewer";
    public const string Operator = "operator";
    public const string Admin = "admin";

    /// <summary>Agents (client certificate + bound token), for the routes of <see cref="ApiRoutes.MapAgentRoutes"/>.</summary>
    public const string Agent = "agent";

    /// <summary>How the caller appears in audit events.</summary>
    public static string Actor(this ClaimsPrincipal user) =>
        user.Identity?.AuthenticationType switch
        {
            Schemes.ApiKey => $"apikey:{user.FindFirstValue(ClaimTypes.Name)}",
            { } scheme => $"{scheme.ToLowerInvariant()}:{user.FindFirstValue(ClaimTypes.NameIdentifier)}",
            null => "anonymous",
        };
}
