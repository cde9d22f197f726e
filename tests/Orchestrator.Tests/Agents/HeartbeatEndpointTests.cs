using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

/// <summary>The heartbeat over real mutual TLS with the agent's certificate and bound token.</summary>
public sealed class HeartbeatEndpointTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private static readonly object SpecBody = new
    {
        status = "healthy",
        resourceUsage = new { cpu = 15.5, memory = 45.2, disk = 60.0 },
        capabilities = new[] { "docker", "compose" },
        runningTasks = 2,
    };

    [SkippableTheory, BothProviders]
    public async Task The_spec_heartbeat_is_answered_with_tasks_and_no_renewal_and_is_stored(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync(capabilities: ["docker"]);

        var answer = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(JsonValueKind.Array, answer.GetProperty("tasks").ValueKind);
        Assert.Equal(0, answer.GetProperty("cancelledTasks").GetArrayLength());
        Assert.False(answer.TryGetProperty("certificateRenewal", out _));
        var details = await (await app.AdminClient().GetAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(15.5, details.GetProperty("resourceUsage").GetProperty("cpu").GetDouble());
        Assert.Equal(60.0, details.GetProperty("resourceUsage").GetProperty("disk").GetDouble());
        Assert.Equal(2, details.GetProperty("runningTasks").GetInt32());
        Assert.Equal(["compose", "docker"], details.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        Assert.NotEqual(JsonValueKind.Null, details.GetProperty("lastHeartbeat").ValueKind);
    }

    [SkippableFact]
    public async Task A_degraded_heartbeat_shows_in_the_list_at_once()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var run = SharedApps.Unique("run");
        var agent = await app.RegisterAgentAsync(labels: new() { ["run"] = run });

        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "degraded" })).ShouldBe(HttpStatusCode.OK);

        var degraded = await (await app.AdminClient().GetAsync($"/api/v1/agents?status=degraded&label=run={run}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(agent.Id, degraded[0].GetProperty("id").GetGuid());
    }

    [SkippableFact]
    public async Task A_heartbeat_for_another_agent_is_403_and_without_credentials_401()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var other = await app.RegisterAgentAsync();

        await (await agent.Client.PostJson($"/api/v1/agents/{other.Id}/heartbeat", SpecBody)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await app.AdminClient().PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableTheory]
    [InlineData("""{"status":"sleeping"}""", "status")]
    [InlineData("""{}""", "status")]
    [InlineData("""{"status":"healthy","resourceUsage":{"cpu":-1}}""", "resourceUsage.cpu")]
    [InlineData("""{"status":"healthy","resourceUsage":{"memory":100.1}}""", "resourceUsage.memory")]
    [InlineData("""{"status":"healthy","runningTasks":-2}""", "runningTasks")]
    [InlineData("""{"status":"healthy","capabilities":["docker","kubernetes"]}""", "capabilities")]
    [InlineData("""{"status":"healthy","capabilities":["docker","docker","docker","docker","docker","docker","docker","docker","docker","docker","docker","docker","docker","docker","docker","docker","docker"]}""", "capabilities")]
    [InlineData("""{"status":"healthy","csr":"not a csr"}""", "csr")]
    public async Task Bad_heartbeat_bodies_are_400_naming_the_field(string body, string field)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var problem = await (await agent.Client.PostRaw($"/api/v1/agents/{agent.Id}/heartbeat", body)).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Contains(problem.GetProperty("errors").EnumerateObject(), e => e.Name.StartsWith(field, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task A_heartbeat_without_a_body_is_a_400_saying_a_json_body_is_needed()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var problem = await (await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/heartbeat", null)).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Contains("needs a JSON request body", problem.GetProperty("detail").GetString());
    }

    [SkippableTheory, BothProviders]
    public async Task Inside_the_renewal_window_the_heartbeat_renews_and_the_new_certificate_and_token_work(DatabaseProvider provider)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(provider, time);
        var agent = await app.RegisterAgentAsync();
        time.Advance(TimeSpan.FromHours(22));
        var early = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBe(HttpStatusCode.OK);
        Assert.False(early.TryGetProperty("certificateRenewal", out _));

        time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1));
        var due = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBe(HttpStatusCode.OK);

        var renewal = due.GetProperty("certificateRenewal");
        Assert.True(renewal.GetProperty("expiresAt").GetDateTime() > time.GetUtcNow().UtcDateTime.AddHours(23));
        var renewed = TestAgents.WithKey(renewal.GetProperty("cert").GetString()!, agent.Certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var client = app.Client(certificate: renewed, bearer: renewal.GetProperty("token").GetString());
        var after = await (await client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBe(HttpStatusCode.OK);
        Assert.False(after.TryGetProperty("certificateRenewal", out _));
    }

    [SkippableFact]
    public async Task A_heartbeat_with_a_csr_inside_the_window_certifies_the_new_key()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var agent = await app.RegisterAgentAsync();
        using var newKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=ignored", newKey, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        time.Advance(TimeSpan.FromHours(23) + TimeSpan.FromMinutes(1));

        var due = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy", csr })).ShouldBe(HttpStatusCode.OK);

        var renewal = due.GetProperty("certificateRenewal");
        var renewed = TestAgents.WithKey(renewal.GetProperty("cert").GetString()!, newKey.ExportPkcs8PrivateKeyPem());
        await (await app.Client(certificate: renewed, bearer: renewal.GetProperty("token").GetString())
            .PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBe(HttpStatusCode.OK);
    }

    [SkippableFact]
    public async Task Outside_the_window_a_csr_for_a_new_key_rotates_at_once_and_repeating_it_does_not_renew_again()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        using var newKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=ignored", newKey, HashAlgorithmName.SHA256).CreateSigningRequestPem();

        var rotated = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy", csr })).ShouldBe(HttpStatusCode.OK);

        var renewal = rotated.GetProperty("certificateRenewal");
        var renewed = TestAgents.WithKey(renewal.GetProperty("cert").GetString()!, newKey.ExportPkcs8PrivateKeyPem());
        var client = app.Client(certificate: renewed, bearer: renewal.GetProperty("token").GetString());
        var again = await (await client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy", csr })).ShouldBe(HttpStatusCode.OK);
        Assert.False(again.TryGetProperty("certificateRenewal", out _));
    }

    [SkippableTheory, BothProviders]
    public async Task After_delete_the_agents_certificate_and_token_are_401_at_once(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBe(HttpStatusCode.OK);

        await (await app.AdminClient().DeleteAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);

        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.AdminClient().GetAsync($"/api/v1/agents/{agent.Id}")).ShouldBeProblem(HttpStatusCode.NotFound);
        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=certificate.revoked&subjectId={agent.Id}")).ShouldBe(HttpStatusCode.OK);
        var deleted = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=agent.deleted&subjectId={agent.Id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(deleted[0].GetProperty("actor").GetString(), Assert.Single(audit.EnumerateArray()).GetProperty("actor").GetString());
    }

    [SkippableFact]
    public async Task After_delete_another_replica_refuses_the_agent_too()
    {
        // The clock stands still, so the replicas' periodic reloads never run: only the event from the first replica
        // can tell the second.
        var clock = AgentTestSupport.NewClock();
        await using var first = await TestApp.StartAsync(DatabaseProvider.Postgres, clock);
        await using var second = TestApp.StartOn(first.Storage, clock);
        var agent = await first.RegisterAgentAsync();
        var viaSecond = second.Client(certificate: agent.Certificate, bearer: agent.Token);
        await (await viaSecond.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).ShouldBe(HttpStatusCode.OK);

        await (await first.AdminClient().DeleteAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);

        await Poll.Until(async () =>
            (await viaSecond.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", SpecBody)).StatusCode == HttpStatusCode.Unauthorized,
            "the second replica to refuse the deleted agent");
    }
}
