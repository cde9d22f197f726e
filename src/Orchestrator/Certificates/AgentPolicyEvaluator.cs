using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Orchestrator.Security;

namespace Orchestrator.Certificates;

/// <summary>ASP.NET Core's policy evaluator, with the agent policy decided directly. Every agent request (a heartbeat
/// every few seconds from every agent) went through the general path: the authentication service and a handler made
/// for the request, a merged copy of the principal, an authorization context with its handlers, about a third of what
/// a heartbeat allocated. For the agent policy exactly (the agent scheme, an authenticated user, the route's own
/// <c>{id}</c>) the same answers come from <see cref="AgentAuthenticator"/> and <see cref="OwnAgentRouteHandler.Allows"/>;
/// any other policy, or the agent policy combined with anything more, takes ASP.NET Core's path unchanged. Failures
/// are answered as before: the authorization middleware challenges or forbids through the agent scheme's handler.</summary>
public sealed class AgentPolicyEvaluator(AgentAuthenticator authenticator) : IPolicyEvaluator
{
    private static readonly Task<PolicyAuthorizationResult> Allowed = Task.FromResult(PolicyAuthorizationResult.Success());

    public Task<AuthenticateResult> AuthenticateAsync(AuthorizationPolicy policy, HttpContext context) =>
        IsAgentPolicy(policy) ? AuthenticateAgentAsync(context) : General(context).AuthenticateAsync(policy, context);

    private async Task<AuthenticateResult> AuthenticateAgentAsync(HttpContext context)
    {
        var result = await authenticator.AuthenticateAsync(context);
        if (result.Succeeded)
        {
            context.User = result.Principal!;
            return result;
        }

        // As ASP.NET Core's evaluator leaves it when no scheme authenticates: an anonymous user, no result.
        context.User = new ClaimsPrincipal(new ClaimsIdentity());
        return AuthenticateResult.NoResult();
    }

    public Task<PolicyAuthorizationResult> AuthorizeAsync(
        AuthorizationPolicy policy, AuthenticateResult authenticationResult, HttpContext context, object? resource)
    {
        if (!IsAgentPolicy(policy))
        {
            return General(context).AuthorizeAsync(policy, authenticationResult, context, resource);
        }

        return !authenticationResult.Succeeded ? Task.FromResult(PolicyAuthorizationResult.Challenge())
            : OwnAgentRouteHandler.Allows(context, context.User) ? Allowed
            : Task.FromResult(PolicyAuthorizationResult.Forbid());
    }

    /// <summary>ASP.NET Core's evaluator, made per call as the framework makes it per request: it takes the request's
    /// authorization service, which depends on the request's authorization handlers.</summary>
    private static PolicyEvaluator General(HttpContext context) =>
        new(context.RequestServices.GetRequiredService<IAuthorizationService>());

    /// <summary>The agent policy as <see cref="AgentAuthentication.AddAgentAuthentication"/> builds it, and nothing more:
    /// only the agent scheme, and no requirement but an authenticated user and the own-route rule.</summary>
    internal static bool IsAgentPolicy(AuthorizationPolicy policy)
    {
        if (policy.AuthenticationSchemes is not [Schemes.Agent])
        {
            return false;
        }

        var ownRoute = false;
        foreach (var requirement in policy.Requirements)
        {
            switch (requirement)
            {
                case OwnAgentRouteRequirement:
                    ownRoute = true;
                    break;
                case DenyAnonymousAuthorizationRequirement:
                    break;
                default:
                    return false;
            }
        }

        return ownRoute;
    }
}
