using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Targets;

public sealed class TargetTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task A_target_is_created_listed_shown_under_its_agent_and_deleted(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agentId = await app.SeedAgentAsync();
        var admin = app.AdminClient();

        var created = await (await admin.PostJson("/api/v1/targets",
            new { name = SharedApps.Unique("web"), type = "docker-host", agentId, properties = new { host = "10.0.0.5", port = 2376 } })).ShouldBe(HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        Assert.Equal("10.0.0.5", created.GetProperty("properties").GetProperty("host").GetString());

        var listed = await (await admin.GetAsync($"/api/v1/targets?agentId={agentId}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(id, listed[0].GetProperty("id").GetGuid());
        var agent = await (await admin.GetAsync($"/api/v1/agents/{agentId}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(id, agent.GetProperty("targets")[0].GetProperty("id").GetGuid());

        Assert.True((await (await admin.DeleteAsync($"/api/v1/targets/{id}")).ShouldBe(HttpStatusCode.OK)).GetProperty("deleted").GetBoolean());
        await (await admin.GetAsync($"/api/v1/targets/{id}")).ShouldBeProblem(HttpStatusCode.NotFound);
        var audit = await (await admin.GetAsync($"/api/v1/audit?subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["target.deleted", "target.created"], audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
    }

    [SkippableFact]
    public async Task An_unknown_agent_is_404_naming_agentId_and_a_taken_name_is_409()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agentId = await app.SeedAgentAsync();
        var admin = app.AdminClient();
        var name = SharedApps.Unique("web");

        var problem = await (await admin.PostJson("/api/v1/targets", new { name, type = "docker-host", agentId = Guid.NewGuid() }))
            .ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Contains("agentId", problem.GetProperty("detail").GetString());

        await (await admin.PostJson("/api/v1/targets", new { name, type = "docker-host", agentId })).ShouldBe(HttpStatusCode.Created);
        await (await admin.PostJson("/api/v1/targets", new { name, type = "ssh-host", agentId })).ShouldBeProblem(HttpStatusCode.Conflict);
    }

    [SkippableTheory]
    [InlineData("""{"type":"docker-host","agentId":"00000000-0000-0000-0000-000000000001"}""", "name")]
    [InlineData("""{"name":"web-1","agentId":"00000000-0000-0000-0000-000000000001"}""", "type")]
    [InlineData("""{"name":"web-1","type":"docker-host"}""", "agentId")]
    [InlineData("""{"name":"web-1","type":"docker-host","agentId":"00000000-0000-0000-0000-000000000001","properties":[1,2]}""", "properties")]
    public async Task Missing_fields_and_non_object_properties_are_400(string body, string field)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var problem = await (await app.AdminClient().PostRaw("/api/v1/targets", body)).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [SkippableFact]
    public async Task A_viewer_can_list_targets_but_not_create_them()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agentId = await app.SeedAgentAsync();
        var key = (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("ro"), role = "viewer" })).ShouldBe(HttpStatusCode.Created))
            .GetProperty("key").GetString();

        await (await app.Client(key).GetAsync("/api/v1/targets")).ShouldBe(HttpStatusCode.OK);
        await (await app.Client(key).PostJson("/api/v1/targets", new { name = SharedApps.Unique("web"), type = "docker-host", agentId })).ShouldBeProblem(HttpStatusCode.Forbidden);
    }
}
