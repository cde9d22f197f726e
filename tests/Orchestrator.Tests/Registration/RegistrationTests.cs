using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agents;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Registration;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Registration;

public sealed class RegistrationTests
{
    private static object Body(string name, string[]? capabilities = null, object? labels = null, string? csr = null) =>
        new { name, version = "1.2.3", capabilities = capabilities ?? ["docker"], labels, csr };

    [SkippableTheory, BothProviders]
    public async Task Registration_answers_as_the_spec_and_makes_the_agent_online(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var token = await app.CreateRegistrationTokenAsync(labels: new { datacenter = "eu-west-1", team = "ops" });

        var response = await app.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(Body("agent-prod-01", ["docker", "compose"], new { datacenter = "us-east-1", role = "deployment" }), token));

        var body = await response.ShouldBe(HttpStatusCode.Created);
        var id = body.GetProperty("agentId").GetGuid();
        Assert.Equal($"/api/v1/agents/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal(3, body.GetProperty("token").GetString()!.Split('.').Length);
        var config = body.GetProperty("config");
        Assert.Equal(30, config.GetProperty("heartbeatInterval").GetInt32());
        Assert.Equal(5, config.GetProperty("taskPollInterval").GetInt32());
        Assert.Equal("info", config.GetProperty("logLevel").GetString());
        var certificate = body.GetProperty("certificate");
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", certificate.GetProperty("cert").GetString());
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", certificate.GetProperty("key").GetString());
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", certificate.GetProperty("ca").GetString());
        Assert.EndsWith("Z", certificate.GetProperty("expiresAt").GetString());

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var agent = await db.Agents.Include(a => a.Labels).Include(a => a.Capabilities).SingleAsync(a => a.Id == id);
        Assert.Equal(AgentStatus.Online, agent.Status);
        Assert.Equal("1.2.3", agent.Version);
        Assert.NotNull(agent.LastHeartbeat);
        Assert.Equal(["compose", "docker"], agent.Capabilities.Select(c => c.Name).Order());
        // The token's labels apply under the agent's own.
        Assert.Equal(
            new Dictionary<string, string> { ["datacenter"] = "us-east-1", ["role"] = "deployment", ["team"] = "ops" },
            agent.Labels.ToDictionary(l => l.Key, l => l.Value));
    }

    [SkippableFact]
    public async Task Without_a_token_registration_is_401()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("a1"), null))).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("a1"), "orr_unknown"))).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableTheory, BothProviders]
    public async Task A_used_up_token_is_401(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var token = await app.CreateRegistrationTokenAsync();
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("first"), token))).ShouldBe(HttpStatusCode.Created);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("second"), token))).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task A_token_with_several_uses_registers_that_many_agents()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync(maxUses: 2);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("one"), token))).ShouldBe(HttpStatusCode.Created);
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("two"), token))).ShouldBe(HttpStatusCode.Created);
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("three"), token))).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task An_expired_token_is_401()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var token = (await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { expiresInMinutes = 10 })).ShouldBe(HttpStatusCode.Created))
            .GetProperty("token").GetString();

        time.Advance(TimeSpan.FromMinutes(11));

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("late"), token))).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task A_revoked_token_is_401_and_tokens_are_listed_without_secrets()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var created = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { description = "rack 4" })).ShouldBe(HttpStatusCode.Created);
        var token = created.GetProperty("token").GetString()!;
        Assert.StartsWith("orr_", token);
        Assert.Equal(1, created.GetProperty("maxUses").GetInt32());

        var list = await (await app.AdminClient().GetAsync("/api/v1/registration-tokens")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("rack 4", list.EnumerateArray().Single().GetProperty("description").GetString());
        Assert.DoesNotContain(token, list.GetRawText());

        await (await app.AdminClient().DeleteAsync($"/api/v1/registration-tokens/{created.GetProperty("id")}")).ShouldBe(HttpStatusCode.OK);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("x"), token))).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.AdminClient().DeleteAsync($"/api/v1/registration-tokens/{created.GetProperty("id")}")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task A_viewer_can_list_registration_tokens_but_not_create_or_revoke_them()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var viewer = (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = "v", role = "viewer" })).ShouldBe(HttpStatusCode.Created))
            .GetProperty("key").GetString();
        var created = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { description = "rack 5" })).ShouldBe(HttpStatusCode.Created);

        var list = await (await app.Client(viewer).GetAsync("/api/v1/registration-tokens")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("rack 5", Assert.Single(list.EnumerateArray()).GetProperty("description").GetString());
        await (await app.Client(viewer).PostJson("/api/v1/registration-tokens", new { })).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await app.Client(viewer).DeleteAsync($"/api/v1/registration-tokens/{created.GetProperty("id")}")).ShouldBeProblem(HttpStatusCode.Forbidden);
    }

    [SkippableTheory]
    [InlineData("/api/v1/registration-tokens")]
    [InlineData("/api/v1/api-keys")]
    [InlineData("/api/v1/tasks")]
    public async Task A_cursor_that_is_not_one_this_service_issued_is_400_naming_after(string list)
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);

        var problem = await (await app.AdminClient().GetAsync($"{list}?after=Zm9v")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Contains("after", problem.ToString());
    }

    [SkippableTheory, BothProviders]
    public async Task A_taken_name_is_409_and_does_not_use_up_the_token(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var existing = await app.RegisterAgentAsync("taken");
        var token = await app.CreateRegistrationTokenAsync();

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("taken"), token))).ShouldBeProblem(HttpStatusCode.Conflict);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("free"), token))).ShouldBe(HttpStatusCode.Created);
        Assert.NotEqual(Guid.Empty, existing.Id);
    }

    [SkippableFact]
    public async Task An_offline_agent_whose_certificates_expired_re_enrols_under_the_same_id()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var agent = await app.RegisterAgentAsync("wanderer", labels: new() { ["old"] = "yes" });
        time.Advance(TimeSpan.FromDays(2));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>().Agents
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, AgentStatus.Offline));
        }

        var again = await app.RegisterAgentAsync("wanderer", labels: new() { ["new"] = "yes" });

        Assert.Equal(agent.Id, again.Id);
        await (await again.Client.GetAsync($"/api/v1/agents/{again.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        await using var check = app.Services.CreateAsyncScope();
        var labels = await check.ServiceProvider.GetRequiredService<OrchestratorDbContext>().AgentLabels.Where(l => l.AgentId == agent.Id).ToListAsync();
        Assert.Equal("new", Assert.Single(labels).Key);
    }

    [SkippableTheory]
    [InlineData("{\"version\":\"1\"}", "name")]
    [InlineData("{\"name\":\"bad name!\",\"version\":\"1\"}", "name")]
    [InlineData("{\"name\":\"a\"}", "version")]
    [InlineData("{\"name\":\"a\",\"version\":\"1\",\"capabilities\":[\"docker\",\"kubernetes\"]}", "capabilities[1]")]
    [InlineData("{\"name\":\"a\",\"version\":\"1\",\"capabilities\":[\"docker\",\"docker\"]}", "capabilities[1]")]
    [InlineData("{\"name\":\"a\",\"version\":\"1\",\"labels\":{\"bad key\":\"v\"}}", "labels.bad key")]
    [InlineData("{\"name\":\"a\",\"version\":\"1\",\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\\nAAAA\\n-----END CERTIFICATE REQUEST-----\"}", "csr")]
    [InlineData("{\"name\":\"a\",\"version\":\"1\",\"csr\":\"hello\"}", "csr")]
    public async Task An_invalid_body_is_400_naming_the_field_and_keeps_the_token(string json, string field)
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync();
        var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        content.Headers.Add("X-Agent-Token", token);

        var problem = await (await app.Client().PostAsync("/api/v1/agents/register", content)).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("fine"), token))).ShouldBe(HttpStatusCode.Created);
    }

    [SkippableTheory, BothProviders]
    public async Task Twenty_concurrent_registrations_with_one_single_use_token_give_exactly_one_agent(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var token = await app.CreateRegistrationTokenAsync();
        var client = app.Client();

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            client.PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body($"racer-{i}"), token))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(19, responses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized));
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>().Agents.CountAsync());
    }

    [SkippableTheory, BothProviders]
    public async Task Twenty_concurrent_registrations_of_one_name_give_one_agent_and_409s_that_keep_their_tokens(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var tokens = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            tokens.Add(await app.CreateRegistrationTokenAsync());
        }

        var client = app.Client();
        var responses = await Task.WhenAll(tokens.Select(t =>
            client.PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("contested"), t))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(19, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        Assert.Equal(1, await db.RegistrationTokens.SumAsync(t => t.Uses));
    }

    [SkippableFact]
    public async Task Registrations_over_the_rate_limit_are_429_problems()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:RateLimits:RegistrationsPerMinute"] = "3",
        });

        for (var i = 0; i < 3; i++)
        {
            await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body($"r{i}"), "orr_nope"))).ShouldBeProblem(HttpStatusCode.Unauthorized);
        }

        var response = await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("r4"), "orr_nope"));
        await response.ShouldBeProblem(HttpStatusCode.TooManyRequests);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [SkippableTheory]
    [InlineData("127.0.0.1", true)]
    [InlineData("10.1.2.3", false)]
    public async Task Behind_a_trusted_proxy_the_rate_limit_counts_each_forwarded_client_address(string knownProxy, bool separateBudgets)
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:RateLimits:RegistrationsPerMinute"] = "1",
            ["Orchestrator:ForwardedClientCertificate:Enabled"] = "true",
            ["Orchestrator:ForwardedClientCertificate:KnownProxies:0"] = knownProxy,
        });

        async Task<HttpResponseMessage> RegisterFrom(string client, string name)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/agents/register") { Content = TestAgents.JsonContent(Body(name), "orr_nope") };
            // A client's own claim first, then the address the proxy appended: only the last one counts.
            request.Headers.Add("X-Forwarded-For", $"192.0.2.99, {client}");
            return await app.Client().SendAsync(request);
        }

        await (await RegisterFrom("10.0.0.1", "a1")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await RegisterFrom("10.0.0.1", "a2")).ShouldBeProblem(HttpStatusCode.TooManyRequests);

        var other = await RegisterFrom("10.0.0.2", "b1");

        await other.ShouldBeProblem(separateBudgets ? HttpStatusCode.Unauthorized : HttpStatusCode.TooManyRequests);
    }

    [SkippableFact]
    public async Task Registration_secrets_never_reach_the_logs()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync();

        var body = await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("quiet"), token))).ShouldBe(HttpStatusCode.Created);
        var agent = app.AgentFrom(body, "quiet");
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        await (await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);

        var logs = app.Logs.AllText;
        Assert.Contains("quiet", logs);
        Assert.DoesNotContain(token, logs);
        Assert.DoesNotContain(token["orr_".Length..], logs);
        Assert.DoesNotContain(agent.Token, logs);
        Assert.DoesNotContain(agent.Token.Split('.')[2], logs);
        var key = body.GetProperty("certificate").GetProperty("key").GetString()!;
        Assert.DoesNotContain(key.Split('\n')[1], logs);
        Assert.DoesNotContain("PRIVATE KEY", logs);
    }
}
