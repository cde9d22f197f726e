using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Orchestrator.Certificates;

namespace Orchestrator.Tests.Certificates;

/// <summary>The rule behind every agent route, decided for one request: an agent reaches a route only when the route's
/// <c>{id}</c> is its own. (Through real TLS: <c>AgentAuthenticationTests.An_agent_calling_another_agents_route_is_403</c>.)</summary>
public sealed class OwnAgentRouteTests
{
    private static readonly Guid Self = Guid.NewGuid();

    private static async Task<bool> AllowedAsync(params (string Key, object Value)[] routeValues)
    {
        var http = new DefaultHttpContext();
        foreach (var (key, value) in routeValues)
        {
            http.Request.RouteValues[key] = value;
        }

        var agent = new ClaimsPrincipal(new ClaimsIdentity([new Claim(AgentClaims.AgentIdClaim, Self.ToString())], AgentAuthenticationHandler.SchemeName));
        var requirement = new OwnAgentRouteRequirement();
        var context = new AuthorizationHandlerContext([requirement], agent, http);
        await new OwnAgentRouteHandler().HandleAsync(context);
        return context.HasSucceeded;
    }

    [Fact]
    public async Task An_agent_reaches_a_route_of_its_own_id()
    {
        Assert.True(await AllowedAsync(("id", Self.ToString())));
    }

    [Fact]
    public async Task An_agent_is_refused_a_route_of_another_agents_id_or_of_no_valid_id()
    {
        Assert.False(await AllowedAsync(("id", Guid.NewGuid().ToString())));
        Assert.False(await AllowedAsync(("id", "not-an-id")));
    }

    [Fact]
    public async Task An_agent_route_without_an_id_is_refused_by_default()
    {
        Assert.False(await AllowedAsync());
        Assert.False(await AllowedAsync(("taskId", Guid.NewGuid().ToString())));
    }
}
