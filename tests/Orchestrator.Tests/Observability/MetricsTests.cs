using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Observability;

/// <summary>Orchestrator's own instruments after known actions, read with a collector bound to the host's meter factory
/// (so other hosts in this process do not count), and <c>/metrics</c> as Prometheus reads it.</summary>
public sealed class MetricsTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private static MetricCollector<T> Collect<T>(TestApp app, string instrument) where T : struct =>
        new(app.Services.GetRequiredService<IMeterFactory>(), Telemetry.Name, instrument);

    private static T Total<T>(MetricCollector<T> collector, string attribute, string value) where T : struct =>
        collector.GetMeasurementSnapshot().Where(m => m.Tags.TryGetValue(attribute, out var v) && (string?)v == value)
            .Aggregate(default(T), (sum, m) => (dynamic)sum + m.Value);

    private static bool Refused(CollectedMeasurement<long> measurement, string scheme, string reason) =>
        measurement.MatchesTags(
            new KeyValuePair<string, object?>("orchestrator.auth.scheme", scheme),
            new KeyValuePair<string, object?>("orchestrator.auth.failure.reason", reason));

    [SkippableFact]
    public async Task Heartbeats_are_counted_by_the_status_the_agent_reports_and_timed()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        using var heartbeats = Collect<long>(app, "orchestrator.agent.heartbeats");
        using var durations = Collect<double>(app, "orchestrator.agent.heartbeat.duration");

        foreach (var status in new[] { "healthy", "healthy", "degraded" })
        {
            await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status })).ShouldBe(HttpStatusCode.OK);
        }

        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "asleep" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal(2, Total(heartbeats, "orchestrator.agent.status", "online"));
        Assert.Equal(1, Total(heartbeats, "orchestrator.agent.status", "degraded"));
        var timed = durations.GetMeasurementSnapshot();
        Assert.Equal(3, timed.Count);
        Assert.All(timed, m => Assert.InRange(m.Value, 0, 10));
    }

    [SkippableFact]
    public async Task Each_heartbeat_records_its_database_round_trips_more_when_it_hands_out_work()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        using var roundTrips = Collect<int>(app, "orchestrator.agent.heartbeat.db.round_trips");
        async Task<int> BeatAsync()
        {
            var before = roundTrips.GetMeasurementSnapshot().Count;
            await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(HttpStatusCode.OK);
            return roundTrips.GetMeasurementSnapshot().Skip(before).Single().Value;
        }

        await BeatAsync();
        var idle = await BeatAsync();
        await app.CreateTaskForAsync(agent.Id);
        var delivering = await BeatAsync();

        // An agent known to be idle is answered from memory; handing out a task reads what is waiting, then claims it.
        Assert.Equal(0, idle);
        Assert.InRange(delivering, 2, 4);
    }

    [SkippableFact]
    public async Task Events_from_another_replica_record_their_lag_by_channel()
    {
        await using var a = await TestApp.StartAsync(DatabaseProvider.Postgres);
        await using var b = TestApp.StartOn(a.Storage);
        using var lag = Collect<double>(b, "orchestrator.cluster.event.lag");
        var agent = await a.RegisterAgentAsync();

        await a.CreateTaskForAsync(agent.Id);

        await Poll.Until(() => lag.GetMeasurementSnapshot().Any(m => m.MatchesTags(
            new KeyValuePair<string, object?>("orchestrator.cluster.channel", "task.created"))), "the task.created event's lag on replica B");
        Assert.All(lag.GetMeasurementSnapshot(), m => Assert.InRange(m.Value, 0, 10));
    }

    [SkippableFact]
    public async Task Registrations_are_counted_by_outcome()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        using var registrations = Collect<long>(app, "orchestrator.agent.registrations");

        var agent = await app.RegisterAgentAsync();
        var body = new { name = SharedApps.Unique("agent"), version = "1.0.0" };
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(body, "not-a-token")))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(body, null)))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);
        var again = new { name = agent.Name, version = "1.0.0" };
        await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(again, await app.CreateRegistrationTokenAsync())))
            .ShouldBeProblem(HttpStatusCode.Conflict);

        Assert.Equal(1, Total(registrations, "orchestrator.registration.outcome", "registered"));
        Assert.Equal(1, Total(registrations, "orchestrator.registration.outcome", "bad_token"));
        Assert.Equal(1, Total(registrations, "orchestrator.registration.outcome", "no_token"));
        Assert.Equal(1, Total(registrations, "orchestrator.registration.outcome", "name_conflict"));
    }

    [SkippableFact]
    public async Task Refused_credentials_are_counted_by_scheme_and_reason_and_never_name_the_secret()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        using var failures = Collect<long>(app, "orchestrator.auth.failures");

        await (await app.Client("ork_not-a-key-0123456789abcdefghijklmnopqrstuv").GetAsync("/api/v1/agents"))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client().PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" }))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client(certificate: agent.Certificate).PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" }))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);

        var counted = failures.GetMeasurementSnapshot();
        Assert.Equal(3, counted.Count);
        Assert.Single(counted, m => Refused(m, "api_key", "unknown_or_revoked"));
        Assert.Single(counted, m => Refused(m, "agent", "no_certificate"));
        Assert.Single(counted, m => Refused(m, "agent", "no_token"));
        Assert.All(counted, m => Assert.Equal(2, m.Tags.Count));
    }

    [SkippableFact]
    public async Task A_task_is_counted_when_created_delivered_and_completed_and_its_dispatch_is_timed()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        using var created = Collect<long>(app, "orchestrator.tasks.created");
        using var delivered = Collect<long>(app, "orchestrator.tasks.delivered");
        using var completed = Collect<long>(app, "orchestrator.tasks.completed");
        using var dispatch = Collect<double>(app, "orchestrator.task.dispatch.duration");

        var task = await app.CreateTaskForAsync(agent.Id);
        var answer = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" }))
            .ShouldBe(HttpStatusCode.OK);
        Assert.Equal(task, answer.GetProperty("tasks")[0].GetProperty("taskId").GetGuid());
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{task}/complete", new { success = true }))
            .ShouldBe(HttpStatusCode.OK);
        var cancelled = await app.CreateTaskForAsync(agent.Id);
        await (await app.AdminClient().PostAsync($"/api/v1/tasks/{cancelled}/cancel", null)).ShouldBe(HttpStatusCode.Accepted);

        Assert.Equal(2, created.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, Total(delivered, "orchestrator.task.delivery", "first"));
        Assert.Equal(1, Total(completed, "orchestrator.task.status", "succeeded"));
        Assert.Equal(1, Total(completed, "orchestrator.task.status", "cancelled"));
        var waited = Assert.Single(dispatch.GetMeasurementSnapshot());
        Assert.InRange(waited.Value, 0, 30);
    }

    [SkippableFact]
    public async Task Certificates_are_counted_when_issued_renewed_and_revoked()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        using var issued = Collect<long>(app, "orchestrator.certificates.issued");
        using var revoked = Collect<long>(app, "orchestrator.certificates.revoked");

        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/certificate/renew", new { })).ShouldBe(HttpStatusCode.OK);
        await (await app.AdminClient().DeleteAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(1, Total(issued, "orchestrator.certificate.reason", "registration"));
        Assert.Equal(1, Total(issued, "orchestrator.certificate.reason", "renewal"));
        Assert.Equal(2, revoked.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [SkippableFact]
    public async Task Metrics_serve_prometheus_text_with_request_durations_runtime_and_process_series()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(HttpStatusCode.OK);

        var response = await app.Client().GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var samples = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(samples.Find("orchestrator_agent_heartbeats_total", ("orchestrator_agent_status", "online")).Sum(s => s.Value) >= 1);
        Assert.NotEmpty(samples.Find("http_server_request_duration_seconds_bucket", ("http_route", "/api/v1/agents/{id}/heartbeat")));
        Assert.NotEmpty(samples.Find("dotnet_gc_collections_total"));
        Assert.NotEmpty(samples.Find("process_cpu_time_seconds_total"));
        // The streams' series limit (ObservabilityRegistration.SeriesPerStream) leaves a histogram its advised buckets:
        // the heartbeat's start at half a millisecond (OpenTelemetry's own would start at 0, 5, 10).
        Assert.Contains(samples.Find("orchestrator_agent_heartbeat_duration_seconds_bucket"), s => s.Labels["le"] == "0.0005");
        Assert.DoesNotContain(samples, s => s.Labels.ContainsKey("otel_metric_overflow"));
        // Nothing that names an agent: ids and names are unbounded and identify machines.
        Assert.DoesNotContain(samples, s => s.Labels.Values.Any(v => v.Contains(agent.Id.ToString(), StringComparison.Ordinal) || v == agent.Name));
    }
}
