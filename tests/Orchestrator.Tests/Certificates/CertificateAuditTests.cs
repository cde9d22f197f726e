using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Certificates;

public sealed class CertificateAuditTests
{
    [SkippableFact]
    public async Task Tokens_registrations_certificates_and_rotation_are_audited_without_secrets()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var created = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { maxUses = 2 })).ShouldBe(HttpStatusCode.Created);
        var token = created.GetProperty("token").GetString()!;
        var registration = await (await app.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(new { name = "audited", version = "1" }, token))).ShouldBe(HttpStatusCode.Created);
        var agent = app.AgentFrom(registration, "audited");
        await (await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AgentCredentials>().RevokeAllAsync(agent.Id, "test", CancellationToken.None);
        }

        await (await app.AdminClient().DeleteAsync($"/api/v1/registration-tokens/{created.GetProperty("id")}")).ShouldBe(HttpStatusCode.OK);
        await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);

        var audit = await (await app.AdminClient().GetAsync("/api/v1/audit?limit=1000")).ShouldBe(HttpStatusCode.OK);
        var actions = audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        foreach (var expected in new[]
                 {
                     "ca.created", "registration-token.created", "agent.registered", "certificate.issued", "certificate.renewed",
                     "certificate.revoked", "registration-token.revoked", "ca.rotated",
                 })
        {
            Assert.Contains(expected, actions);
        }

        var registered = audit.EnumerateArray().Single(e => e.GetProperty("action").GetString() == "agent.registered");
        Assert.Equal(agent.Id.ToString(), registered.GetProperty("subjectId").GetString());
        Assert.StartsWith("registration-token:", registered.GetProperty("actor").GetString());
        var text = audit.GetRawText();
        Assert.DoesNotContain(token, text);
        Assert.DoesNotContain(agent.Token, text);
        Assert.DoesNotContain("PRIVATE KEY", text);
    }
}
