using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agents;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Registration;
using Orchestrator.Security;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Registration;

public sealed class RegistrationTests(SharedApps apps) : IClassFixture<SharedApps>
{
    /// <summary>The token's entry in a list of tokens (the shared host lists other tests' tokens too).</summary>
    private static JsonElement Listed(JsonElement list, JsonElement created) =>
        Assert.Single(list.EnumerateArray(), t => t.GetProperty("id").GetString() == created.GetProperty("id").GetString());

    private static object Body(string name, string[]? capabilities = null, object? labels = null, string? csr = null) =>
        new { name, version = "1.2.3", capabilities = capabilities ?? ["docker"], labels, csr };

    [SkippableTheory, BothProviders]
    public async Task Registration_answers_as_the_spec_and_makes_the_agent_online(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var token = await app.CreateRegistrationTokenAsync(labels: new { datacenter = "eu-west-1", team = "ops" });

        var response = await app.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(Body(SharedApps.Unique("agent-prod"), ["docker", "compose"], new { datacenter = "us-east-1", role = "deployment" }), token));

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
        var app = await apps.For(DatabaseProvider.Sqlite);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("a1"), null))).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body("a1"), "orr_unknown"))).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableTheory, BothProviders]
    public async Task A_used_up_token_is_401(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var token = await app.CreateRegistrationTokenAsync();
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("first")), token))).ShouldBe(HttpStatusCode.Created);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("second")), token))).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task A_token_with_several_uses_registers_that_many_agents()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync(maxUses: 2);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("one")), token))).ShouldBe(HttpStatusCode.Created);
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("two")), token))).ShouldBe(HttpStatusCode.Created);
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("three")), token))).ShouldBeProblem(HttpStatusCode.Unauthorized);
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
        var app = await apps.For(DatabaseProvider.Sqlite);
        var created = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { description = "rack 4" })).ShouldBe(HttpStatusCode.Created);
        var token = created.GetProperty("token").GetString()!;
        Assert.StartsWith("orr_", token);
        Assert.Equal(1, created.GetProperty("maxUses").GetInt32());

        var list = await (await app.AdminClient().GetAsync("/api/v1/registration-tokens?limit=1000")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("rack 4", Listed(list, created).GetProperty("description").GetString());
        Assert.DoesNotContain(token, list.GetRawText());

        await (await app.AdminClient().DeleteAsync($"/api/v1/registration-tokens/{created.GetProperty("id")}")).ShouldBe(HttpStatusCode.OK);

        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("x")), token))).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.AdminClient().DeleteAsync($"/api/v1/registration-tokens/{created.GetProperty("id")}")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task A_viewer_can_list_registration_tokens_but_not_create_or_revoke_them()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var viewer = (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("v"), role = "viewer" })).ShouldBe(HttpStatusCode.Created))
            .GetProperty("key").GetString();
        var created = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { description = "rack 5" })).ShouldBe(HttpStatusCode.Created);

        var list = await (await app.Client(viewer).GetAsync("/api/v1/registration-tokens?limit=1000")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("rack 5", Listed(list, created).GetProperty("description").GetString());
        await (await app.Client(viewer).PostJson("/api/v1/registration-tokens", new { })).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await app.Client(viewer).DeleteAsync($"/api/v1/registration-tokens/{created.GetProperty("id")}")).ShouldBeProblem(HttpStatusCode.Forbidden);
    }

    [SkippableTheory]
    [InlineData("/api/v1/registration-tokens")]
    [InlineData("/api/v1/api-keys")]
    [InlineData("/api/v1/tasks")]
    public async Task A_cursor_that_is_not_one_this_service_issued_is_400_naming_after(string list)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var problem = await (await app.AdminClient().GetAsync($"{list}?after=Zm9v")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Contains("after", problem.ToString());
    }

    [SkippableTheory, BothProviders]
    public async Task A_taken_name_is_409_and_does_not_use_up_the_token(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var taken = SharedApps.Unique("taken");
        var existing = await app.RegisterAgentAsync(taken);
        var token = await app.CreateRegistrationTokenAsync();

        var conflict = await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(taken), token));

        await conflict.ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Null(conflict.Headers.RetryAfter); // final: trying again cannot succeed
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("free")), token))).ShouldBe(HttpStatusCode.Created);
        Assert.NotEqual(Guid.Empty, existing.Id);
    }

    [SkippableTheory, BothProviders]
    public async Task An_offline_agent_whose_certificates_expired_re_enrols_under_the_same_id_only_with_a_token_issued_for_it(DatabaseProvider provider)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(provider, time);
        var agent = await app.RegisterAgentAsync("wanderer", labels: new() { ["old"] = "yes" });
        var other = await app.RegisterAgentAsync("bystander");
        time.Advance(TimeSpan.FromDays(2));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>().Agents
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, AgentStatus.Offline));
        }

        var body = Body("wanderer", labels: new { @new = "yes" });
        var ordinary = await app.CreateRegistrationTokenAsync();
        var forAnother = await app.CreateRegistrationTokenAsync(agentId: other.Id);
        var refusedAnswer = await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(body, ordinary));
        var refused = await refusedAnswer.ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Null(refusedAnswer.Headers.RetryAfter); // final: it needs a token issued for the agent
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(body, forAnother)))
            .ShouldBeProblem(HttpStatusCode.Conflict);
        var forIt = await app.CreateRegistrationTokenAsync(agentId: agent.Id);
        var again = app.AgentFrom(await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(body, forIt)))
            .ShouldBe(HttpStatusCode.Created), "wanderer");

        Assert.Contains("issued for it", refused.GetProperty("detail").GetString());
        Assert.Contains($"\"agentId\": \"{agent.Id}\"", refused.GetProperty("detail").GetString());
        Assert.Equal(agent.Id, again.Id);
        await (await again.Client.GetAsync($"/api/v1/agents/{again.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        await using var check = app.Services.CreateAsyncScope();
        var db = check.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var labels = await db.AgentLabels.Where(l => l.AgentId == agent.Id).ToListAsync();
        Assert.Equal("new", Assert.Single(labels).Key);
        // The refused attempt did not spend the ordinary token: it still registers a new agent.
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("newcomer")), ordinary)))
            .ShouldBe(HttpStatusCode.Created);
        var reenrolled = await db.AuditEvents.SingleAsync(e => e.Action == "agent.reenrolled" && e.SubjectId == agent.Id.ToString());
        Assert.StartsWith("registration-token:", reenrolled.Actor);
    }

    [SkippableFact]
    public async Task Re_enrolling_an_agent_still_counted_online_is_a_409_with_retry_after_its_liveness_window()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var agent = await app.RegisterAgentAsync(SharedApps.Unique("lapsed"));
        time.Advance(TimeSpan.FromDays(2));
        // Its certificates have expired; the server has not yet seen its window close (it heartbeated a moment ago).
        var lastHeartbeat = time.GetUtcNow().UtcDateTime;
        await app.QueryAsync(db => db.Agents.Where(a => a.Id == agent.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, AgentStatus.Online).SetProperty(a => a.LastHeartbeat, lastHeartbeat)));
        var token = await app.CreateRegistrationTokenAsync(agentId: agent.Id);

        var early = await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(agent.Name), token));

        var problem = await early.ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Contains("still counted online", problem.GetProperty("detail").GetString());
        var options = app.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
        var retryAfter = early.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, options.OfflineAfter, options.OfflineAfter + options.HeartbeatInterval);
        Assert.Equal(0, await app.QueryAsync(db => db.RegistrationTokens.Where(t => t.AgentId == agent.Id).SumAsync(t => t.Uses)));
    }

    [SkippableTheory, BothProviders]
    public async Task A_token_issued_for_an_agent_registers_no_other_name_and_keeps_its_use(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var token = await app.CreateRegistrationTokenAsync(agentId: agent.Id);

        var problem = await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("other")), token)))
            .ShouldBeProblem(HttpStatusCode.Conflict);
        // Its own agent is online: a taken name, as with any token.
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(agent.Name), token)))
            .ShouldBeProblem(HttpStatusCode.Conflict);

        Assert.Contains($"issued for re-enrolling agent {agent.Id}", problem.GetProperty("detail").GetString());
        Assert.Equal(0, await app.QueryAsync(db => db.RegistrationTokens.Where(t => t.AgentId == agent.Id).SumAsync(t => t.Uses)));
    }

    [SkippableTheory, BothProviders]
    public async Task A_token_for_an_agent_that_does_not_exist_is_404_naming_agentId(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var missing = Guid.NewGuid();

        var problem = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { agentId = missing }))
            .ShouldBeProblem(HttpStatusCode.NotFound);

        Assert.Contains($"'agentId': no agent has id {missing}", problem.GetProperty("detail").GetString());
        await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { agentId = "not-a-guid" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
    }

    [SkippableFact]
    public async Task Creating_a_token_for_an_agent_is_audited_with_the_agent()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var created = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { agentId = agent.Id }))
            .ShouldBe(HttpStatusCode.Created);

        Assert.Equal(agent.Id, created.GetProperty("agentId").GetGuid());
        var events = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=registration-token.created&subjectId={created.GetProperty("id").GetString()}"))
            .ShouldBe(HttpStatusCode.OK);
        var recorded = Assert.Single(events.EnumerateArray());
        Assert.Contains(agent.Id.ToString(), recorded.GetRawText());
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
        var app = await apps.For(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync();
        var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        content.Headers.Add("X-Agent-Token", token);

        var problem = await (await app.Client().PostAsync("/api/v1/agents/register", content)).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(SharedApps.Unique("fine")), token))).ShouldBe(HttpStatusCode.Created);
    }

    [SkippableTheory, BothProviders]
    public async Task Twenty_concurrent_registrations_with_one_single_use_token_give_exactly_one_agent(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var token = await app.CreateRegistrationTokenAsync();
        var client = app.Client();
        var racers = SharedApps.Unique("racer");

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            client.PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body($"{racers}-{i}"), token))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(19, responses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized));
        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>().Agents.CountAsync(a => a.Name.StartsWith(racers)));
    }

    [SkippableTheory, BothProviders]
    public async Task Forty_concurrent_registrations_with_a_token_of_ten_uses_give_exactly_ten_agents_and_ten_uses(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var token = await app.CreateRegistrationTokenAsync(maxUses: 10);
        var client = app.Client();
        var fleet = SharedApps.Unique("fleet");

        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            client.PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body($"{fleet}-{i}"), token))));

        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(30, responses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized));
        Assert.Equal(10, await app.QueryAsync(db => db.Agents.CountAsync(a => a.Name.StartsWith(fleet))));
        var hash = Secrets.Hash(token);
        Assert.Equal(10, await app.QueryAsync(db => db.RegistrationTokens.Where(t => t.TokenHash == hash).Select(t => t.Uses).SingleAsync()));
    }

    [SkippableFact]
    public async Task Two_replicas_sharing_a_token_of_ten_uses_register_exactly_ten_of_forty_agents()
    {
        var first = await apps.For(DatabaseProvider.Postgres);
        await using var second = TestApp.StartOn(first.Storage);
        var token = await first.CreateRegistrationTokenAsync(maxUses: 10);
        var fleet = SharedApps.Unique("replicated");

        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            (i % 2 == 0 ? first : second).Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body($"{fleet}-{i}"), token))));

        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(30, responses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized));
        Assert.Equal(10, await first.QueryAsync(db => db.Agents.CountAsync(a => a.Name.StartsWith(fleet))));
    }

    [SkippableTheory, BothProviders]
    public async Task Twenty_concurrent_registrations_of_one_name_give_one_agent_and_409s_that_keep_their_tokens(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        // Tests of one class run one at a time, so on this shared host only this test uses tokens meanwhile.
        var usesBefore = await app.QueryAsync(db => db.RegistrationTokens.SumAsync(t => t.Uses));
        var tokens = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            tokens.Add(await app.CreateRegistrationTokenAsync());
        }

        var client = app.Client();
        var contested = SharedApps.Unique("contested");
        var responses = await Task.WhenAll(tokens.Select(t =>
            client.PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(contested), t))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(19, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        Assert.Equal(usesBefore + 1, await app.QueryAsync(db => db.RegistrationTokens.SumAsync(t => t.Uses)));
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

    [SkippableFact]
    public async Task Stopping_the_service_stops_its_rate_limit()
    {
        RegistrationRateLimit limit;
        await using (var app = await TestApp.StartAsync(DatabaseProvider.Sqlite))
        {
            limit = app.Services.GetRequiredService<RegistrationRateLimit>();
            using var lease = limit.Acquire(new DefaultHttpContext());
            Assert.True(lease.IsAcquired);
        }

        // Disposed with the host, and with it the limiter's timer: ASP.NET Core's rate-limiting middleware never disposes
        // the limiter it makes (dotnet/aspnetcore#66434), so its timer kept a stopped host and all its services reachable.
        Assert.Throws<ObjectDisposedException>(() => limit.Acquire(new DefaultHttpContext()));
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
        var app = await apps.For(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync();

        var name = SharedApps.Unique("quiet");
        var body = await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(Body(name), token))).ShouldBe(HttpStatusCode.Created);
        var agent = app.AgentFrom(body, name);
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        await (await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);

        var logs = app.Logs.AllText;
        Assert.Contains(name, logs);
        Assert.DoesNotContain(token, logs);
        Assert.DoesNotContain(token["orr_".Length..], logs);
        Assert.DoesNotContain(agent.Token, logs);
        Assert.DoesNotContain(agent.Token.Split('.')[2], logs);
        var key = body.GetProperty("certificate").GetProperty("key").GetString()!;
        Assert.DoesNotContain(key.Split('\n')[1], logs);
        Assert.DoesNotContain("PRIVATE KEY", logs);
    }
}
