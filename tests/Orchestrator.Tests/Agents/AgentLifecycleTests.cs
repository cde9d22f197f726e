using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

public sealed class AgentLifecycleTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private static string[] Names(JsonElement list) => list.EnumerateArray().Select(a => a.GetProperty("name").GetString()!).ToArray();

    [SkippableTheory, BothProviders]
    public async Task The_list_filters_by_status_capability_and_labels_combined(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        // The other tests' agents on this shared host are kept out by a label of this test's own (run=…), which every
        // query adds to the filters it tests; names share a unique prefix so their order is the order asserted.
        var run = SharedApps.Unique("run");
        await app.SeedAgentAsync($"{run}-a-docker-east", capabilities: ["docker", "compose"], labels: new() { ["run"] = run, ["dc"] = "east", ["role"] = "deploy" });
        await app.SeedAgentAsync($"{run}-b-ssh-east", capabilities: ["ssh"], labels: new() { ["run"] = run, ["dc"] = "east" });
        await app.SeedAgentAsync($"{run}-c-docker-west", status: AgentStatus.Degraded, capabilities: ["docker"], labels: new() { ["run"] = run, ["dc"] = "west" });
        await app.SeedAgentAsync($"{run}-d-docker-off", status: AgentStatus.Offline, capabilities: ["docker"], labels: new() { ["run"] = run, ["dc"] = "east" });
        var admin = app.AdminClient();
        async Task<string[]> List(string filters) =>
            Names(await (await admin.GetAsync($"/api/v1/agents?label=run={run}{filters}")).ShouldBe(HttpStatusCode.OK)).Select(n => n[(run.Length + 1)..]).ToArray();

        Assert.Equal(["a-docker-east", "b-ssh-east", "c-docker-west", "d-docker-off"], await List(""));
        Assert.Equal(["c-docker-west"], await List("&status=degraded"));
        Assert.Equal(["a-docker-east", "c-docker-west", "d-docker-off"], await List("&capability=docker"));
        Assert.Equal(["a-docker-east", "b-ssh-east", "d-docker-off"], await List("&label=dc=east"));
        Assert.Equal(["a-docker-east"], await List("&label=dc=east&label=role=deploy"));
        Assert.Equal(["a-docker-east"], await List("&status=online&capability=docker&label=dc=east"));
        Assert.Empty(await List("&capability=docker&capability=ssh"));
    }

    [SkippableTheory, BothProviders]
    public async Task The_list_pages_by_name_with_a_next_link(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var run = SharedApps.Unique("run");
        foreach (var name in new[] { "agent-3", "agent-1", "agent-5", "agent-2", "agent-4" })
        {
            await app.SeedAgentAsync($"{run}-{name}", labels: new() { ["run"] = run });
        }

        string[] Short(JsonElement list) => Names(list).Select(n => n[(run.Length + 1)..]).ToArray();
        var admin = app.AdminClient();
        var first = await admin.GetAsync($"/api/v1/agents?status=online&label=run={run}&limit=2");
        Assert.Equal(["agent-1", "agent-2"], Short(await first.ShouldBe(HttpStatusCode.OK)));
        var link = first.Headers.GetValues("Link").Single();
        Assert.Contains("status=online", link);
        Assert.Contains($"label=run%3D{run}", link, StringComparison.OrdinalIgnoreCase);
        var second = await admin.GetAsync(link[1..link.IndexOf('>')]);
        Assert.Equal(["agent-3", "agent-4"], Short(await second.ShouldBe(HttpStatusCode.OK)));
        var third = await admin.GetAsync(second.Headers.GetValues("Link").Single()[1..^13]);
        Assert.Equal(["agent-5"], Short(await third.ShouldBe(HttpStatusCode.OK)));
        Assert.False(third.Headers.Contains("Link"));
    }

    [SkippableFact]
    public async Task List_items_have_exactly_the_spec_fields()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var run = SharedApps.Unique("run");
        await app.SeedAgentAsync(capabilities: ["docker", "compose"], labels: new() { ["run"] = run });

        var item = Assert.Single((await (await app.AdminClient().GetAsync($"/api/v1/agents?label=run={run}")).ShouldBe(HttpStatusCode.OK)).EnumerateArray());

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
        var app = await apps.For(DatabaseProvider.Sqlite);

        var problem = await (await app.AdminClient().GetAsync($"/api/v1/agents?{query}")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(query[..query.IndexOf('=')], out _), problem.ToString());
    }

    [SkippableTheory, BothProviders]
    public async Task Details_show_labels_targets_drain_certificate_expiry_and_registration(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var expiry = app.Now().AddHours(20);
        var id = await app.SeedAgentAsync(labels: new() { ["dc"] = "east" }, certificateNotAfter: expiry);
        var admin = app.AdminClient();
        var target = SharedApps.Unique("web");
        await (await admin.PostJson("/api/v1/targets", new { name = target, type = "docker-host", agentId = id })).ShouldBe(HttpStatusCode.Created);

        var details = await (await admin.GetAsync($"/api/v1/agents/{id}")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal("east", details.GetProperty("labels").GetProperty("dc").GetString());
        Assert.Equal(target, details.GetProperty("targets")[0].GetProperty("name").GetString());
        Assert.False(details.GetProperty("draining").GetBoolean());
        Assert.Equal(JsonValueKind.Null, details.GetProperty("drain").ValueKind);
        Assert.Equal(expiry, details.GetProperty("certificateExpiresAt").GetDateTime(), TimeSpan.FromMilliseconds(1));
        Assert.True(details.TryGetProperty("registeredAt", out _));
        Assert.Equal(0, details.GetProperty("runningTasks").GetInt32());
    }

    [SkippableFact]
    public async Task An_unknown_agent_is_404_and_a_bad_id_is_400()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var admin = app.AdminClient();

        await (await admin.GetAsync($"/api/v1/agents/{Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await admin.GetAsync("/api/v1/agents/not-a-uuid")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await admin.PutAsJsonAsync($"/api/v1/agents/{Guid.NewGuid()}", new { labels = new { a = "b" } })).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await admin.DeleteAsync($"/api/v1/agents/{Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task A_viewer_can_read_agents_but_not_change_them()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync();
        var key = (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("ro"), role = "viewer" })).ShouldBe(HttpStatusCode.Created))
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
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync(capabilities: ["docker"], labels: new() { ["dc"] = "east", ["old"] = "x" });
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
        var app = await apps.For(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync();

        var response = await app.AdminClient().PutAsync($"/api/v1/agents/{id}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest);
        Assert.Contains(problem.GetProperty("errors").EnumerateObject(), e => e.Name.StartsWith(field, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Put_rejects_a_label_value_that_is_too_long_or_too_many_labels()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync();
        var admin = app.AdminClient();

        await (await admin.PutAsJsonAsync($"/api/v1/agents/{id}", new { labels = new Dictionary<string, string> { ["k"] = new string('v', 256) } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await admin.PutAsJsonAsync($"/api/v1/agents/{id}", new { labels = Enumerable.Range(0, 65).ToDictionary(i => $"k{i}", i => "v") }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
    }

    [SkippableTheory, BothProviders]
    public async Task Drain_and_resume_show_in_details_and_are_audited(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync();
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
        var app = await apps.For(DatabaseProvider.Sqlite);
        var id = await app.SeedAgentAsync();
        var admin = app.AdminClient();

        await (await admin.PostAsync($"/api/v1/agents/{id}/drain", null)).ShouldBe(HttpStatusCode.OK);
        var problem = await (await admin.PostJson($"/api/v1/agents/{id}/drain", new { deadline = DateTime.UtcNow.AddMinutes(-1) }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("deadline", out _));
    }

    [SkippableTheory, BothProviders]
    public async Task Delete_revokes_certificates_unassigns_targets_and_removes_the_agent(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var id = await app.SeedAgentAsync(certificateNotAfter: app.Now().AddHours(20));
        var admin = app.AdminClient();
        var target = await (await admin.PostJson("/api/v1/targets", new { name = SharedApps.Unique("web"), type = "docker-host", agentId = id })).ShouldBe(HttpStatusCode.Created);
        var serials = await app.QueryAsync(db => db.IssuedCertificates.Where(c => c.AgentId == id && c.Kind == CertificateKind.Agent).Select(c => c.Serial).ToListAsync());

        var deleted = await (await admin.DeleteAsync($"/api/v1/agents/{id}")).ShouldBe(HttpStatusCode.OK);

        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        await (await admin.GetAsync($"/api/v1/agents/{id}")).ShouldBeProblem(HttpStatusCode.NotFound);
        var kept = await (await admin.GetAsync($"/api/v1/targets/{target.GetProperty("id").GetGuid()}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(JsonValueKind.Null, kept.GetProperty("agentId").ValueKind);
        Assert.NotEmpty(serials);
        var certificates = await app.QueryAsync(db => db.IssuedCertificates.Where(c => serials.Contains(c.Serial)).ToListAsync());
        Assert.Equal(serials.Count, certificates.Count);
        Assert.All(certificates, c => Assert.NotNull(c.RevokedAt));
        var audit = await (await admin.GetAsync($"/api/v1/audit?subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["agent.deleted", "certificate.revoked"], audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        Assert.False(await app.HeartbeatAsync(id, AgentTestSupport.Healthy()));
    }
}
