using System.Net;
using System.Text.Json;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

/// <summary>#24: an agent says why it lacks a capability it looked for (<c>missingCapabilities</c>, capability → reason)
/// at registration and in heartbeats, by the rule of <c>capabilities</c> (present replaces, absent keeps), and the
/// agent's details show it.</summary>
public sealed class MissingCapabilityTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private const string NoEngine = "no Docker Engine answered at unix:///run/none.sock (from DOCKER_HOST): Connection refused";

    [SkippableTheory, BothProviders]
    public async Task Missing_capabilities_reported_at_registration_are_shown_and_a_heartbeat_that_carries_them_replaces_them(
        DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync(capabilities: ["ssh"], missingCapabilities: new() { ["docker"] = NoEngine });

        var registered = await DetailsAsync(app, agent.Id);
        await Beat(agent, new { status = "healthy", missingCapabilities = new Dictionary<string, string> { ["compose"] = "no compose CLI" } });
        var replaced = await DetailsAsync(app, agent.Id);
        await Beat(agent, new { status = "healthy", capabilities = new[] { "ssh" } });
        var kept = await DetailsAsync(app, agent.Id);
        await Beat(agent, new { status = "healthy", missingCapabilities = new Dictionary<string, string>() });
        var cleared = await DetailsAsync(app, agent.Id);

        Assert.Equal(new Dictionary<string, string> { ["docker"] = NoEngine }, Missing(registered));
        Assert.Equal(new Dictionary<string, string> { ["compose"] = "no compose CLI" }, Missing(replaced));
        Assert.Equal(new Dictionary<string, string> { ["compose"] = "no compose CLI" }, Missing(kept));
        Assert.Empty(Missing(cleared));
        Assert.Equal(JsonValueKind.Object, cleared.GetProperty("missingCapabilities").ValueKind);
        Assert.Empty(Missing(await DetailsAsync(app, (await app.RegisterAgentAsync()).Id)));
    }

    public static TheoryData<string, string> Invalid => new()
    {
        { Json(Enumerable.Range(0, 33).ToDictionary(i => $"cap{i}", _ => "why")), "missingCapabilities" },
        { Json(new() { [new string('c', 65)] = "why" }), "missingCapabilities." + new string('c', 65) },
        { Json(new() { ["has space"] = "why" }), "missingCapabilities.has space" },
        { Json(new() { ["docker"] = new string('r', 513) }), "missingCapabilities.docker" },
        { Json(new() { ["docker"] = " " }), "missingCapabilities.docker" },
        { """{ "docker": null }""", "missingCapabilities.docker" },
    };

    [Theory, MemberData(nameof(Invalid))]
    public async Task Bad_missing_capabilities_are_a_400_naming_the_field_in_a_heartbeat_and_at_registration(string missing, string field)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync(missingCapabilities: new() { ["docker"] = NoEngine });

        var heartbeat = await (await agent.Client.PostRaw($"/api/v1/agents/{agent.Id}/heartbeat",
            $$"""{ "status": "healthy", "missingCapabilities": {{missing}} }""")).ShouldBeProblem(HttpStatusCode.BadRequest);
        var token = await app.CreateRegistrationTokenAsync();
        var registration = await (await app.Client().PostAsync("/api/v1/agents/register", new StringContent(
            $$"""{ "name": "{{SharedApps.Unique("missing")}}", "version": "1", "missingCapabilities": {{missing}} }""",
            System.Text.Encoding.UTF8, "application/json") { Headers = { { "X-Agent-Token", token } } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(heartbeat.GetProperty("errors").TryGetProperty(field, out _), heartbeat.GetRawText());
        Assert.True(registration.GetProperty("errors").TryGetProperty(field, out _), registration.GetRawText());
        Assert.Equal(new Dictionary<string, string> { ["docker"] = NoEngine }, Missing(await DetailsAsync(app, agent.Id)));
    }

    private static string Json(Dictionary<string, string> missing) => JsonSerializer.Serialize(missing);

    private static async Task Beat(TestAgent agent, object body) =>
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", body)).ShouldBe(HttpStatusCode.OK);

    private static async Task<JsonElement> DetailsAsync(TestApp app, Guid agentId) =>
        await (await app.AdminClient().GetAsync($"/api/v1/agents/{agentId}")).ShouldBe(HttpStatusCode.OK);

    private static Dictionary<string, string> Missing(JsonElement details) =>
        details.GetProperty("missingCapabilities").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
}
