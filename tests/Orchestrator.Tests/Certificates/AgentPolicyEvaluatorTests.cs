using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Certificates;
using Orchestrator.Security;

namespace Orchestrator.Tests.Certificates;

/// <summary>Which policies the agent evaluator decides itself: only the agent routes' policy as the authorization
/// middleware combines it, never one with anything added (that goes through ASP.NET Core's own evaluation, so an added
/// requirement is still enforced). What it decides, through real TLS: AgentAuthenticationTests, OwnAgentRouteTests.</summary>
public sealed class AgentPolicyEvaluatorTests
{
    private static readonly IAuthorizationPolicyProvider Provider = new ServiceCollection()
        .AddLogging()
        .AddAgentAuthentication()
        .BuildServiceProvider()
        .GetRequiredService<IAuthorizationPolicyProvider>();

    private static async Task<AuthorizationPolicy> EndpointPolicyAsync(params IAuthorizeData[] metadata) =>
        (await AuthorizationPolicy.CombineAsync(Provider, metadata))!;

    [Fact]
    public async Task The_agent_routes_policy_is_decided_by_the_agent_evaluator()
    {
        Assert.True(AgentPolicyEvaluator.IsAgentPolicy(await EndpointPolicyAsync(new AuthorizeAttribute(Policies.Agent))));
    }

    [Fact]
    public async Task The_agent_policy_with_a_requirement_added_is_left_to_aspnet_core()
    {
        var agent = await EndpointPolicyAsync(new AuthorizeAttribute(Policies.Agent));
        var withClaim = AuthorizationPolicy.Combine(agent, new AuthorizationPolicyBuilder().RequireClaim("role", "admin").Build());

        Assert.False(AgentPolicyEvaluator.IsAgentPolicy(withClaim));
    }

    [Fact]
    public async Task The_agent_policy_with_another_scheme_added_is_left_to_aspnet_core()
    {
        var agent = await EndpointPolicyAsync(new AuthorizeAttribute(Policies.Agent));
        var twoSchemes = AuthorizationPolicy.Combine(agent, new AuthorizationPolicyBuilder(Schemes.ApiKey).RequireAuthenticatedUser().Build());

        Assert.False(AgentPolicyEvaluator.IsAgentPolicy(twoSchemes));
    }

    [Fact]
    public void A_policy_without_the_own_route_rule_is_left_to_aspnet_core()
    {
        var authenticatedAgent = new AuthorizationPolicyBuilder(Schemes.Agent).RequireAuthenticatedUser().Build();

        Assert.False(AgentPolicyEvaluator.IsAgentPolicy(authenticatedAgent));
    }
}
