using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Housekeeping;
using Orchestrator.Tasks;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Foundation;

public sealed class RetentionAndMetricsTests
{
    [SkippableTheory, BothProviders]
    public async Task Ended_tasks_and_old_audit_events_are_removed_after_their_retention_and_unfinished_work_stays(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        // Long enough that the waiting task is still unfinished when retention runs (retention, not expiry, is tested).
        await using var app = await TestApp.StartAsync(provider, clock, new Dictionary<string, string?> { ["Orchestrator:Tasks:UndeliveredTimeout"] = "60.00:00:00" });
        var agent = await app.SeedAgentAsync();
        var ended = await app.CreateTaskForAsync(agent);
        await app.TakeAsync(agent);
        Assert.Equal(TaskOutcome.Ok, (await app.CompleteAsync(agent, ended, success: true)).Outcome);
        var waiting = await app.CreateTaskForAsync(agent);

        clock.Advance(TimeSpan.FromDays(29));
        await app.Services.GetRequiredService<Retention>().SweepAsync(CancellationToken.None);
        await (await app.AdminClient().GetAsync($"/api/v1/tasks/{ended}")).ShouldBe(HttpStatusCode.OK);

        clock.Advance(TimeSpan.FromDays(2));
        await app.Services.GetRequiredService<Retention>().SweepAsync(CancellationToken.None);
        await (await app.AdminClient().GetAsync($"/api/v1/tasks/{ended}")).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Equal("pending", await app.StatusOfAsync(waiting));
        var audit = await (await app.AdminClient().GetAsync("/api/v1/audit?action=task.created")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(2, audit.GetArrayLength());

        clock.Advance(TimeSpan.FromDays(366));
        await app.Services.GetRequiredService<Retention>().SweepAsync(CancellationToken.None);
        audit = await (await app.AdminClient().GetAsync("/api/v1/audit?action=task.created")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(0, audit.GetArrayLength());
    }

    [SkippableFact]
    public async Task Metrics_count_agents_and_tasks_by_status_in_prometheus_text()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite,
            settings: new Dictionary<string, string?> { ["Orchestrator:Metrics:CensusInterval"] = "00:00:00.100" });
        var agent = await app.SeedAgentAsync();
        await app.CreateTaskForAsync(agent);

        // The counts come from the census, which runs in the background: wait for a pass that saw the new task.
        HttpResponseMessage response = null!;
        List<PrometheusText.Sample> samples = [];
        await Poll.Until(async () =>
        {
            response = await app.Client().GetAsync("/metrics");
            samples = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
            return samples.Value("orchestrator_tasks", ("orchestrator_task_status", "pending")) == 1;
        }, "the census to count the new task");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(1, samples.Value("orchestrator_agents", ("orchestrator_agent_status", "online")));
        Assert.Equal(0, samples.Value("orchestrator_agents", ("orchestrator_agent_status", "offline")));
        Assert.Equal(0, samples.Value("orchestrator_tasks", ("orchestrator_task_status", "running")));
        Assert.Equal(0, samples.Value("orchestrator_task_streams_open"));
    }
}
