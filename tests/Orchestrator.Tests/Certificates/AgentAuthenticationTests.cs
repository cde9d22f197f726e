using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Tests.Infrastructure;

namespace Orchestrator.Tests.Certificates;

public sealed class AgentAuthenticationTests
{
    [SkippableTheory, BothProviders]
    public async Task A_registered_agent_calls_its_endpoints_with_its_certificate_and_token(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var agent = await app.RegisterAgentAsync();

        var identity = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(agent.Id, identity.GetProperty("agentId").GetGuid());
        Assert.Equal(agent.Certificate.SerialNumber, identity.GetProperty("certificateSerial").GetString());
        Assert.Equal(agent.Certificate.NotAfter.ToUniversalTime(), identity.GetProperty("certificateExpiresAt").GetDateTime(), TimeSpan.FromSeconds(1));
    }

    [SkippableFact]
    public async Task Without_a_certificate_an_agent_endpoint_is_401()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var problem = await (await app.Client(bearer: agent.Token).GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("certificate", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task Without_the_token_an_agent_endpoint_is_401()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var problem = await (await app.Client(certificate: agent.Certificate).GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("Bearer", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task An_agent_calling_another_agents_route_is_403()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var a = await app.RegisterAgentAsync();
        var b = await app.RegisterAgentAsync();

        await (await a.Client.GetAsync($"/api/v1/agents/{b.Id}/identity")).ShouldBeProblem(HttpStatusCode.Forbidden);
    }

    [SkippableFact]
    public async Task Agent_As_token_with_agent_Bs_certificate_is_401()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var a = await app.RegisterAgentAsync();
        var b = await app.RegisterAgentAsync();

        var problem = await (await app.Client(certificate: b.Certificate, bearer: a.Token).GetAsync($"/api/v1/agents/{b.Id}/identity"))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("bound", problem.GetProperty("detail").GetString());
    }
}
