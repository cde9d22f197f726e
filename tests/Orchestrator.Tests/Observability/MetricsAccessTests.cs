using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Observability;

/// <summary>Who may read <c>/metrics</c>, and that a host reports only what it measured itself.</summary>
public sealed class MetricsAccessTests
{
    [SkippableFact]
    public async Task Metrics_behind_an_api_key_are_served_to_any_role_and_count_only_their_own_host()
    {
        await using var guarded = await TestApp.StartAsync(DatabaseProvider.Sqlite,
            settings: new Dictionary<string, string?> { ["Orchestrator:Metrics:RequireApiKey"] = "true" });
        await using var other = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var agent = await other.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(HttpStatusCode.OK);

        await (await guarded.Client().GetAsync("/metrics")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        var response = await guarded.Client(await guarded.ApiKeyAsync("viewer")).GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var guardedSamples = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
        Assert.NotEmpty(guardedSamples.Find("http_server_request_duration_seconds_bucket"));
        Assert.Empty(guardedSamples.Find("orchestrator_agent_heartbeats_total"));
        var otherSamples = PrometheusText.Parse(await (await other.Client().GetAsync("/metrics")).Content.ReadAsStringAsync());
        Assert.Equal(1, otherSamples.Value("orchestrator_agent_heartbeats_total", ("orchestrator_agent_status", "online")));
    }

    [SkippableFact]
    public async Task Metrics_switched_off_are_not_served()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite,
            settings: new Dictionary<string, string?> { ["Orchestrator:Metrics:Enabled"] = "false" });

        Assert.Equal(HttpStatusCode.NotFound, (await app.Client().GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client().GetAsync("/health/ready")).StatusCode);
    }
}
