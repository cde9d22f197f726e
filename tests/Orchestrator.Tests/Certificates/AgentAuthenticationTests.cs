using System.Buffers.Text;
using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Certificates;

public sealed class AgentAuthenticationTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task A_registered_agent_calls_its_endpoints_with_its_certificate_and_token(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();

        var identity = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(agent.Id, identity.GetProperty("agentId").GetGuid());
        Assert.Equal(agent.Certificate.SerialNumber, identity.GetProperty("certificateSerial").GetString());
        Assert.Equal(agent.Certificate.NotAfter.ToUniversalTime(), identity.GetProperty("certificateExpiresAt").GetDateTime(), TimeSpan.FromSeconds(1));
    }

    [SkippableFact]
    public async Task Without_a_certificate_an_agent_endpoint_is_401()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var problem = await (await app.Client(bearer: agent.Token).GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("certificate", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task Without_the_token_an_agent_endpoint_is_401()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var problem = await (await app.Client(certificate: agent.Certificate).GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("Bearer", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task An_agent_calling_another_agents_route_is_403()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var a = await app.RegisterAgentAsync();
        var b = await app.RegisterAgentAsync();

        await (await a.Client.GetAsync($"/api/v1/agents/{b.Id}/identity")).ShouldBeProblem(HttpStatusCode.Forbidden);
    }

    [SkippableFact]
    public async Task Agent_As_token_with_agent_Bs_certificate_is_401()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var a = await app.RegisterAgentAsync();
        var b = await app.RegisterAgentAsync();

        var problem = await (await app.Client(certificate: b.Certificate, bearer: a.Token).GetAsync($"/api/v1/agents/{b.Id}/identity"))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("bound", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task A_token_with_an_altered_payload_or_a_foreign_signature_is_401()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var parts = agent.Token.Split('.');
        var payload = System.Text.Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1]));
        var altered = $"{parts[0]}.{System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(payload.Replace("orchestrator-agent", "orchestrator-agent ")))}.{parts[2]}";
        using var foreignKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var signature = foreignKey.SignData(System.Text.Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), System.Security.Cryptography.HashAlgorithmName.SHA256);
        var foreign = $"{parts[0]}.{parts[1]}.{System.Buffers.Text.Base64Url.EncodeToString(signature)}";

        foreach (var token in new[] { altered, foreign, "not-a-jwt" })
        {
            await (await app.Client(certificate: agent.Certificate, bearer: token).GetAsync($"/api/v1/agents/{agent.Id}/identity"))
                .ShouldBeProblem(HttpStatusCode.Unauthorized);
        }
    }

    [SkippableFact]
    public async Task Tokens_naming_unknown_keys_reload_the_signing_keys_at_most_once_a_second()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        // Counts the signing key reads without holding them (one participant passes at once).
        var reloads = new StatementGate(sql => sql.Contains("FROM \"SigningKeys\"", StringComparison.Ordinal), 1, TimeSpan.FromSeconds(1));
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time, services: s => s.AddSingleton<IInterceptor>(reloads));
        var agent = await app.RegisterAgentAsync();
        var parts = agent.Token.Split('.');
        HttpClient Forged() => app.Client(certificate: agent.Certificate, bearer: string.Join('.',
            Base64Url.EncodeToString(Encoding.UTF8.GetBytes($$"""{"alg":"ES256","typ":"JWT","kid":"{{Guid.NewGuid():N}}"}""")), parts[1], parts[2]));
        reloads.Arm();

        for (var i = 0; i < 20; i++)
        {
            await (await Forged().GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        }

        Assert.Equal(1, reloads.Arrived);
        // A second later a token naming a key not seen yet may reload again (another replica may have made it).
        time.Advance(TimeSpan.FromSeconds(1));
        await (await Forged().GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await Forged().GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        Assert.Equal(2, reloads.Arrived);
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
    }
}
