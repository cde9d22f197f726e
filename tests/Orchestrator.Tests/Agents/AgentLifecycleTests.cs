using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Agents;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

public sealed class AgentLifecycleTests
{
    private static string[] Names(JsonElement list) => list.EnumerateArray().Select(a => a.GetProperty("name").GetString()!).ToArray();

    [SkippableTheory, BothProviders]
    public async Task The_list_filters_by_status_capability_and_labels_combined(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        await app.SeedAgentAsync("a-docker-east", capabilities: ["docker", "compose"], labels: new() { ["dc"] = "east", ["role"] = "deploy" });
        await app.SeedAgentAsync("b-ssh-east", capabilities: ["ssh"], labels: new() { ["dc"] = "east" });
        await app.SeedAgentAsync("c-docker-west", status: AgentStatus.Degraded, capabilities: ["docker"], labels: new() { ["dc"] = "west" });
        await app.SeedAgentAsync("d-docker-off", status: AgentStatus.Offline, capabilities: ["docker"], labels: new() { ["dc"] = "east" });
        var admin = app.AdminClient();

        Assert.Equal(["a-docker-east", "b-ssh-east", "c-docker-west", "d-docker-off"], Names(await (await admin.GetAsync("/api/v1/agents")).ShouldBe(HttpStatusCode.OK)));
        Assert.Equal(["c-docker-west"], Names(await (await admin.GetAsync("/api/v1/agents?status=degraded")).ShouldBe(HttpStatusCode.OK)));
        Assert.Equal(["a-docker-east", "c-docker-west", "d-docker-off"], Names(await (await admin.GetAsync("/api/v1/agents?capability=docker")).ShouldBe(HttpStatusCode.OK)));
        Assert.Equal(["a-docker-east", "b-ssh-east", "d-docker-off"], Names(await (await admin.GetAsync("/api/v1/agents?label=dc=east")).ShouldBe(HttpStatusCode.OK)));
        Assert.Equal(["a-docker-east"], Names(await (await admin.GetAsync("/api/v1/agents?label=dc=east&label=role=deploy")).ShouldBe(HttpStatusCode.OK)));
        Assert.Equal(["a-docker-east"], Names(await (await admin.GetAsync("/api/v1/agents?status=online&capability=docker&label=dc=east")).ShouldBe(HttpStatusCode.OK)));
        Assert.Empty(Names(await (await admin.GetAsync("/api/v1/agents?capability=docker&capability=ssh")).ShouldBe(HttpStatusCode.OK)));
    }

    [SkippableTheory, BothProviders]
    public async Task The_list_pages_by_name_with_a_next_link(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        foreach (var name in new[] { "agent-3", "agent-1", "agent-5", "agent-2", "agent-4" })
        {
            await app.SeedAgentAsync(name);
        }

        var admin = app.AdminClient();
        var first = await admin.GetAsync("/api/v1/agents?status=online&limit=2");
        Assert.Equal(["agent-1", "agent-2"], Names(await first.ShouldBe(HttpStatusCode.OK)));
        var link = first.Headers.GetValues("Link").Single();
        Assert.Contains("status=online", link);
        var second = await admin.GetAsync(link[1..link.IndexOf('>')]);
        Assert.Equal(["agent-3", "agent-4"], Names(await second.ShouldBe(HttpStatusCode.OK)));
        var third = await admin.GetAsync(second.Headers.GetValues("Link").Single()[1..^13]);
        Assert.Equal(["agent-5"], Names(await third.ShouldBe(HttpStatusCode.OK)));
        Assert.False(third.Headers.Contains("Link"));
    }

    [SkippableFact]
    public async Task List_items_have_exactly_the_spec_fields()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        await app.SeedAgentAsync("agent-prod-01", capabilities: ["docker", "compose"]);

        var item = (await (await app.AdminClient().GetAsync("/api/v1/agents")).ShouldBe(HttpStatusCode.OK))[0];

        Assert.Equal(["capabilities", "id", "lastHeartbeat", "name", "resourceUsage", "status", "version"],
            item.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal("online", item.GetProperty("status").GetString());
        Assert.Equal(["compose", "docker"], item.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(["cpu", "disk", "memory"], item.GetProperty("resourceUsage").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    [SkippableTheory]
    [InlineData("status=sleeping")]
    [InlineData("capability=kubernetes")]
    [InlineData("label=novalue")]
    [InlineData("limit=0")]
    public async Task Bad_list_filters_are_400_naming_the_parameter(string query)
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);

        var problem = await (await app.AdminClient().GetAsync($"/api/v1/agents?{query}")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(query[..query.IndexOf('=')], out _), problem.ToString());
    }

    [SkippableTheory, BothProviders]
    public async Task Details_show_labels_targets_drain_certificate_expiry_and_registration(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var expiry = app.Now().AddHours(20);
        var id = await app.SeedAgentAsync("agent-1", labels: new() { ["dc"] = "east" }, certificateNotAfter: expiry);
        var admin = app.AdminClient();
        await (await admin.PostJson("/api/v1/targets", new { name = "web-1", type = "docker-host", agentId = id })).ShouldBe(HttpStatusCode.Created);

        var details = await (await admin.GetAsync($"/api/v1/agents/{id}")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("east", details.GetProperty("labels").GetProperty("dc").GetString());
        Assert.Equal("web-1", details.GetProperty("targets")[0].GetProperty("name").GetString());
        Assert.False(details.GetProperty("draining").GetBoolean());
        Assert.Equal(JsonValueKind.Null, details.GetProperty("drain").ValueKind);
        Assert.Equal(expiry, details.GetProperty("certificateExpiresAt").GetDateTime(), TimeSpan.FromMilliseconds(1));
        Assert.True(details.TryGetProperty("registeredAt", out _));
        Assert.Equal(0, details.GetProperty("runningTasks").GetInt32());
    }

    [SkippableFact]
    public async Task An_unknown_agent_is_404_and_a_bad_id_is_400()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var admin = app.AdminClient();

        await (await admin.GetAsync($"/api/v1/agents/{Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await admin.GetAsync("/api/v1/agents/not-a-uuid")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await admin.PutAsJsonAsync($"/api/v1/agents/{Guid.NewGuid()}", new { labels = new { a = "b" } })).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await admin.DeleteAsync($"/api/v1/agents/{Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task A_viewer_can_read_agents_but_not_change_them()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync("agent-1");
        var key = (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = "ro", role = "viewer" })).ShouldBe(HttpStatusCode.Created))
            .GetProperty("key").GetString();
        var viewer = app.Client(key);

        await (await viewer.GetAsync("/api/v1/agents")).ShouldBe(HttpStatusCode.OK);
        await (await viewer.GetAsync($"/api/v1/agents/{id}")).ShouldBe(HttpStatusCode.OK);
        await (await viewer.PutAsJsonAsync($"/api/v1/agents/{id}", new { labels = new { a = "b" } })).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await viewer.PostJson($"/api/v1/agents/{id}/drain", new { })).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await viewer.DeleteAsync($"/api/v1/agents/{id}")).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await app.Client().GetAsync("/api/v1/agents")).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableTheory, BothProviders]
    public async Task Put_replaces_labels_and_capabilities_and_is_audited(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var id = await app.SeedAgentAsync("agent-1", capabilities: ["docker"], labels: new() { ["dc"] = "east", ["old"] = "x" });
        var admin = app.AdminClient();

        var updated = await (await admin.PutAsJsonAsync($"/api/v1/agents/{id}",
            new { labels = new { dc = "us-west-2" }, capabilities = new[] { "ssh", "docker", "compose" } })).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(["dc"], updated.GetProperty("labels").EnumerateObject().Select(p => p.Name));
        Assert.Equal("us-west-2", updated.GetProperty("labels").GetProperty("dc").GetString());
        Assert.Equal(["compose", "docker", "ssh"], updated.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));

        var onlyLabels = await (await admin.PutAsJsonAsync($"/api/v1/agents/{id}", new { labels = new { dc = "eu" } })).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(3, onlyLabels.GetProperty("capabilities").GetArrayLength());

        var audit = await (await admin.GetAsync($"/api/v1/audit?action=agent.updated&subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(2, audit.GetArrayLength());
    }

    [SkippableTheory]
    [InlineData("""{"capabilities":["docker","kubernetes"]}""", "capabilities")]
    [InlineData("""{"labels":{"bad key!":"x"}}""", "labels")]
    [InlineData("""{"labels":{"k":null}}""", "labels")]
    [InlineData("""{}""", "labels")]
    public async Task Put_rejects_unknown_capabilities_and_bad_labels(string body, string field)
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync("agent-1");

        var response = await app.AdminClient().PutAsync($"/api/v1/agents/{id}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest);
        Assert.Contains(problem.GetProperty("errors").EnumerateObject(), e => e.Name.StartsWith(field, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Put_rejects_a_label_value_that_is_too_long_or_too_many_labels()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync("agent-1");
        var admin = app.AdminClient();

        await (await admin.PutAsJsonAsync($"/api/v1/agents/{id}", new { labels = new Dictionary<string, string> { ["k"] = new string('v', 256) } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await admin.PutAsJsonAsync($"/api/v1/agents/{id}", new { labels = Enumerable.Range(0, 65).ToDictionary(i => $"k{i}", i => "v") }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
    }

    [SkippableTheory, BothProviders]
    public async Task Drain_and_resume_show_in_details_and_are_audited(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var id = await app.SeedAgentAsync("agent-1");
        var admin = app.AdminClient();
        var deadline = DateTime.UtcNow.AddHours(2);

        var drained = await (await admin.PostJson($"/api/v1/agents/{id}/drain", new { reason = "kernel upgrade", deadline })).ShouldBe(HttpStatusCode.OK);
        Assert.True(drained.GetProperty("draining").GetBoolean());
        Assert.Equal("kernel upgrade", drained.GetProperty("drain").GetProperty("reason").GetString());
        Assert.Equal(deadline, drained.GetProperty("drain").GetProperty("deadline").GetDateTime().ToUniversalTime(), TimeSpan.FromMilliseconds(1));
        Assert.True(drained.GetProperty("drain").TryGetProperty("requestedAt", out _));

        var resumed = await (await admin.PostAsync($"/api/v1/agents/{id}/resume", null)).ShouldBe(HttpStatusCode.OK);
        Assert.False(resumed.GetProperty("draining").GetBoolean());
        Assert.Equal(JsonValueKind.Null, resumed.GetProperty("drain").ValueKind);

        var audit = await (await admin.GetAsync($"/api/v1/audit?subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["agent.resumed", "agent.drained"], audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
    }

    [SkippableFact]
    public async Task Drain_needs_no_body_but_rejects_a_past_deadline()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync("agent-1");
        var admin = app.AdminClient();

        await (await admin.PostAsync($"/api/v1/agents/{id}/drain", null)).ShouldBe(HttpStatusCode.OK);
        var problem = await (await admin.PostJson($"/api/v1/agents/{id}/drain", new { deadline = DateTime.UtcNow.AddMinutes(-1) }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("deadline", out _));
    }

    [SkippableTheory, BothProviders]
    public async Task Delete_revokes_certificates_unassigns_targets_and_removes_the_agent(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var id = await app.SeedAgentAsync("agent-1", certificateNotAfter: app.Now().AddHours(20));
        var admin = app.AdminClient();
        var target = await (await admin.PostJson("/api/v1/targets", new { name = "web-1", type = "docker-host", agentId = id })).ShouldBe(HttpStatusCode.Created);

        var deleted = await (await admin.DeleteAsync($"/api/v1/agents/{id}")).ShouldBe(HttpStatusCode.OK);

        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        await (await admin.GetAsync($"/api/v1/agents/{id}")).ShouldBeProblem(HttpStatusCode.NotFound);
        var kept = await (await admin.GetAsync($"/api/v1/targets/{target.GetProperty("id").GetGuid()}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(JsonValueKind.Null, kept.GetProperty("agentId").ValueKind);
        Assert.True(await app.QueryAsync(db => db.IssuedCertificates.Where(c => c.Kind == CertificateKind.Agent).AllAsync(c => c.RevokedAt != null)));
        var audit = await (await admin.GetAsync($"/api/v1/audit?subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["agent.deleted", "certificate.revoked"], audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        Assert.False(await app.HeartbeatAsync(id, AgentTestSupport.Healthy()));
    }
}
