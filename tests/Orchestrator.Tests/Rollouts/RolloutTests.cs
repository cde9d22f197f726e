using System.Net;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Agents;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Rollouts;

/// <summary>Rollouts through the API on a shared service per provider, with registered agents that fetch and complete
/// their tasks over mTLS.</summary>
public sealed class RolloutTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task Batches_start_one_after_another_and_each_agent_gets_exactly_one_task(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var fleet = await app.FleetAsync(4);

        var created = await app.CreateRolloutAsync(new
        {
            name = "web 2.4", taskType = "docker.run", payload = new { image = "myapp", tag = "2.4" }, selector = fleet.Selector,
            strategy = new { batchSize = 2 },
        });
        var id = created.Id();

        Assert.Equal("pending", created.GetProperty("status").GetString());
        Assert.Equal(2, created.GetProperty("batchCount").GetInt32());
        Assert.Equal(fleet.Agents.Select(a => a.Name), created.Targets().Select(t => t.GetProperty("agentName").GetString()));
        Assert.Equal([1, 1, 2, 2], created.Targets().Select(t => t.GetProperty("batch").GetInt32()));
        var first = await app.BatchStartedAsync(id, 1);
        await fleet[0].FinishAsync(first.TaskOf(fleet[0]), success: true);
        var half = await app.RolloutWhenAsync(id, r => r.StatusOf(fleet[0]) == "succeeded", "the first target succeeded");
        Assert.Equal(1, half.GetProperty("currentBatch").GetInt32());
        Assert.Equal(JsonValueKindNull, half.Target(fleet[2]).GetProperty("taskId").ValueKind);

        await fleet[1].FinishAsync(first.TaskOf(fleet[1]), success: true);
        var second = await app.BatchStartedAsync(id, 2);
        await fleet[2].FinishAsync(second.TaskOf(fleet[2]), success: true);
        await fleet[3].FinishAsync(second.TaskOf(fleet[3]), success: true);
        var done = await app.StatusIsAsync(id, "succeeded");

        Assert.Equal(4, done.Count("succeeded"));
        Assert.Equal(4, done.Count("total"));
        Assert.NotNull(done.GetProperty("completedAt").GetString());
        var tasks = await app.TasksOfAsync(id);
        Assert.Equal(4, tasks.Count);
        Assert.Equal(fleet.Agents.Select(a => a.Id).Order(), tasks.Select(t => t.GetProperty("agentId").GetGuid()).Order());
        Assert.All(tasks, t => Assert.Equal(id, t.GetProperty("rolloutId").GetGuid()));
        Assert.All(tasks, t => Assert.Equal("docker.run", t.GetProperty("taskType").GetString()));
    }

    [SkippableTheory, BothProviders]
    public async Task A_failure_over_the_limit_stops_the_rollout_and_the_targets_not_started_never_start(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var fleet = await app.FleetAsync(5);
        var id = (await app.CreateRolloutAsync(new
        {
            taskType = "docker.run", payload = new { image = "myapp" }, agentIds = fleet.Agents.Select(a => a.Id), strategy = new { batchSize = 2 },
        })).Id();

        var before = await MetricsAsync(app);
        var first = await app.BatchStartedAsync(id, 1);
        await fleet[0].FinishAsync(first.TaskOf(fleet[0]), success: true);
        await fleet[1].FinishAsync(first.TaskOf(fleet[1]), success: false);
        var failed = await app.StatusIsAsync(id, "failed");

        Assert.Equal(["succeeded", "failed", "not_started", "not_started", "not_started"], fleet.Agents.Select(a => failed.StatusOf(a)));
        Assert.Equal((5, 1, 1, 3), (failed.Count("total"), failed.Count("succeeded"), failed.Count("failed"), failed.Count("notStarted")));
        Assert.Equal(0, failed.Count("pending") + failed.Count("running") + failed.Count("skipped") + failed.Count("cancelled"));
        Assert.Contains("more than the 0 allowed", failed.GetProperty("statusReason").GetString());
        Assert.Equal(1, failed.GetProperty("currentBatch").GetInt32());
        Assert.Equal(2, (await app.TasksOfAsync(id)).Count);
        await app.ControlAsync(id, "pause", HttpStatusCode.Conflict);
        await app.ControlAsync(id, "cancel", HttpStatusCode.Conflict);
        // Metrics count just after the commit the answer above read.
        var after = before;
        await Poll.Until(async () =>
        {
            after = await MetricsAsync(app);
            return Increase("orchestrator_rollouts_completed_total", ("orchestrator_rollout_status", "failed")) > 0;
        }, "the rollout's end counted");
        Assert.Equal(1, Increase("orchestrator_rollouts_completed_total", ("orchestrator_rollout_status", "failed")));
        Assert.Equal(3, Increase("orchestrator_rollout_targets_completed_total", ("orchestrator_rollout_target_status", "not_started")));
        Assert.Equal(1, Increase("orchestrator_rollout_targets_completed_total", ("orchestrator_rollout_target_status", "failed")));
        Assert.Equal(1, Increase("orchestrator_rollout_batch_duration_seconds_count"));

        double Increase(string name, params (string, string)[] labels) => (after.Value(name, labels) ?? 0) - (before.Value(name, labels) ?? 0);
    }

    [SkippableTheory, BothProviders]
    public async Task A_canary_batch_pauses_the_rollout_until_an_operator_resumes_it(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var fleet = await app.FleetAsync(3);
        var id = (await app.CreateRolloutAsync(new
        {
            taskType = "agent.noop", selector = fleet.Selector, strategy = new { canary = 1, batchSize = 2, maxFailures = 1 },
        })).Id();

        var canary = await app.BatchStartedAsync(id, 1);
        Assert.Equal(2, canary.GetProperty("batchCount").GetInt32());
        await fleet[0].FinishAsync(canary.TaskOf(fleet[0]), success: true);
        var paused = await app.StatusIsAsync(id, "paused");
        Assert.Contains("canary", paused.GetProperty("statusReason").GetString());
        Assert.Equal(1, paused.GetProperty("currentBatch").GetInt32());
        Assert.Equal(2, paused.Count("pending"));

        var resumed = await app.ControlAsync(id, "resume");
        Assert.Equal("running", resumed.GetProperty("status").GetString());
        var rest = await app.BatchStartedAsync(id, 2);
        await fleet[1].FinishAsync(rest.TaskOf(fleet[1]), success: true);
        await fleet[2].FinishAsync(rest.TaskOf(fleet[2]), success: false);
        var done = await app.StatusIsAsync(id, "succeeded");

        Assert.Equal((2, 1), (done.Count("succeeded"), done.Count("failed")));
    }

    [SkippableTheory, BothProviders]
    public async Task Pause_holds_the_next_batch_and_cancel_stops_the_rollout_and_its_running_tasks(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var fleet = await app.FleetAsync(6);
        var id = (await app.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector, strategy = new { batchSize = 2 } })).Id();
        var first = await app.BatchStartedAsync(id, 1);

        Assert.Equal("paused", (await app.ControlAsync(id, "pause")).GetProperty("status").GetString());
        await fleet[0].FinishAsync(first.TaskOf(fleet[0]), success: true);
        await fleet[1].FinishAsync(first.TaskOf(fleet[1]), success: true);
        var held = await app.RolloutWhenAsync(id, r => r.Count("succeeded") == 2, "the first batch succeeded");
        Assert.Equal(("paused", 1), (held.GetProperty("status").GetString(), held.GetProperty("currentBatch").GetInt32()));

        await app.ControlAsync(id, "resume");
        var second = await app.BatchStartedAsync(id, 2);
        var running = second.TaskOf(fleet[2]);
        var waiting = second.TaskOf(fleet[3]);
        await (await fleet[2].Client.GetAsync($"/api/v1/agents/{fleet[2].Id}/tasks/{running}")).ShouldBe(HttpStatusCode.OK);
        var cancelling = await app.ControlAsync(id, "cancel");

        Assert.Equal("cancelling", cancelling.GetProperty("status").GetString());
        Assert.Equal(["not_started", "not_started"], fleet.Agents.Skip(4).Select(a => cancelling.StatusOf(a)));
        Assert.Equal("cancelling", await StatusOfTaskAsync(app, running));
        Assert.Equal("cancelled", await StatusOfTaskAsync(app, waiting));
        await app.ControlAsync(id, "pause", HttpStatusCode.Conflict);
        await (await fleet[2].Client.PostJson($"/api/v1/agents/{fleet[2].Id}/tasks/{running}/complete", new { success = false }))
            .ShouldBe(HttpStatusCode.OK);
        var cancelled = await app.StatusIsAsync(id, "cancelled");

        Assert.Equal((2, 2, 2), (cancelled.Count("succeeded"), cancelled.Count("cancelled"), cancelled.Count("notStarted")));
        Assert.Equal(2, cancelled.GetProperty("currentBatch").GetInt32());
        Assert.Equal(4, (await app.TasksOfAsync(id)).Count);
        await app.ControlAsync(id, "cancel", HttpStatusCode.Conflict);
        await app.ControlAsync(id, "resume", HttpStatusCode.Conflict);
        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?subjectId={id}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(["rollout.created", "rollout.paused", "rollout.resumed", "rollout.cancelled", "rollout.ended"],
            audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()).Reverse());
    }

    [SkippableTheory, BothProviders]
    public async Task Agents_offline_or_draining_when_their_batch_starts_are_skipped_with_the_reason(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var fleet = await app.FleetAsync(4);
        await (await app.AdminClient().PostJson($"/api/v1/agents/{fleet[1].Id}/drain", new { reason = "kernel update" }))
            .ShouldBe(HttpStatusCode.OK);
        var created = await app.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector });
        var id = created.Id();
        Assert.Equal([fleet[0].Id, fleet[2].Id, fleet[3].Id], created.Targets().Select(t => t.GetProperty("agentId").GetGuid()));

        var first = await app.BatchStartedAsync(id, 1);
        await (await app.AdminClient().PostJson($"/api/v1/agents/{fleet[2].Id}/drain", new { })).ShouldBe(HttpStatusCode.OK);
        await app.QueryAsync(db => db.Agents.Where(a => a.Id == fleet[3].Id)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, AgentStatus.Offline)));
        await fleet[0].FinishAsync(first.TaskOf(fleet[0]), success: true);
        var done = await app.StatusIsAsync(id, "succeeded");

        Assert.Equal((1, 2, 0), (done.Count("succeeded"), done.Count("skipped"), done.Count("failed")));
        Assert.Contains("draining", done.Target(fleet[2]).GetProperty("statusReason").GetString());
        Assert.Contains("offline", done.Target(fleet[3]).GetProperty("statusReason").GetString());
        Assert.Single(await app.TasksOfAsync(id));
    }

    [SkippableFact]
    public async Task Lists_page_newest_first_and_filter_by_status()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var fleet = await app.FleetAsync(1);
        var older = (await app.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector })).Id();
        var newer = (await app.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector })).Id();
        await app.ControlAsync(newer, "cancel");
        await app.StatusIsAsync(newer, "cancelled");

        var page = await app.AdminClient().GetAsync("/api/v1/rollouts?limit=1");
        var listed = await page.ShouldBe(HttpStatusCode.OK);
        var cancelled = await (await app.AdminClient().GetAsync("/api/v1/rollouts?status=cancelled&limit=1000")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(newer, listed[0].Id());
        Assert.Equal(0, listed[0].GetProperty("targets").GetArrayLength());
        Assert.Equal(1, listed[0].Count("total"));
        Assert.Contains("rel=\"next\"", page.Headers.GetValues("Link").Single());
        Assert.Contains(cancelled.EnumerateArray(), r => r.Id() == newer);
        Assert.DoesNotContain(cancelled.EnumerateArray(), r => r.Id() == older);
        await (await app.AdminClient().GetAsync("/api/v1/rollouts?status=sideways")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await app.AdminClient().GetAsync($"/api/v1/rollouts/{Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound);
        await app.ControlAsync(Guid.NewGuid(), "pause", HttpStatusCode.NotFound);
    }

    private static async Task<List<PrometheusText.Sample>> MetricsAsync(TestApp app) =>
        PrometheusText.Parse(await (await app.Client().GetAsync("/metrics")).Content.ReadAsStringAsync());

    private static async Task<string> StatusOfTaskAsync(TestApp app, Guid taskId) =>
        (await (await app.AdminClient().GetAsync($"/api/v1/tasks/{taskId}")).ShouldBe(HttpStatusCode.OK)).GetProperty("status").GetString()!;

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;
}
