using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Tasks;

public sealed class TaskCreationTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task An_operator_creates_a_pending_task_for_an_agent_and_never_sees_its_credentials(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();

        var created = await app.CreateTaskAsync(new
        {
            taskType = "docker.pull",
            agentId = agent,
            payload = new { image = "myapp", tag = "v2.3.1" },
            credentials = new Dictionary<string, string> { ["registry.password"] = "s3cr3t-registry-token" },
            priority = 10,
        });

        Assert.Equal("pending", created.GetProperty("status").GetString());
        Assert.Equal(agent, created.GetProperty("agentId").GetGuid());
        Assert.Equal(10, created.GetProperty("priority").GetInt32());
        Assert.Equal(300, created.GetProperty("timeout").GetInt32());
        foreach (var field in new[] { "assignedAt", "startedAt", "completedAt", "progress", "result", "statusReason" })
        {
            Assert.Equal(System.Text.Json.JsonValueKind.Null, created.GetProperty(field).ValueKind);
        }

        Assert.Equal(0, created.GetProperty("logs").GetArrayLength());
        var fetched = await app.GetTaskAsync(created.GetProperty("taskId").GetGuid());
        var list = await (await app.AdminClient().GetAsync($"/api/v1/tasks?agentId={agent}")).ShouldBe(HttpStatusCode.OK);
        foreach (var answer in new[] { created.GetRawText(), fetched.GetRawText(), list.GetRawText() })
        {
            Assert.DoesNotContain("s3cr3t-registry-token", answer);
            Assert.DoesNotContain("credentials", answer);
        }

        Assert.DoesNotContain("s3cr3t-registry-token", app.Logs.AllText);
    }

    [SkippableTheory, BothProviders]
    public async Task A_selector_picks_the_least_loaded_online_match_before_degraded_ones(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        // Unique label values keep the other tests' agents on this shared host out of the selection.
        var labels = new Dictionary<string, string> { ["datacenter"] = SharedApps.Unique("us-east") };
        var busy = await app.SeedAgentAsync(capabilities: ["docker", "compose"], labels: labels);
        var idle = await app.SeedAgentAsync(capabilities: ["docker", "compose", "ssh"], labels: labels);
        await app.SeedAgentAsync(status: AgentStatus.Degraded, capabilities: ["docker", "compose"], labels: labels);
        await app.SeedAgentAsync(capabilities: ["docker", "compose"], labels: labels, draining: true);
        await app.SeedAgentAsync(status: AgentStatus.Offline, capabilities: ["docker", "compose"], labels: labels);
        await app.SeedAgentAsync(capabilities: ["docker"], labels: labels);
        await app.SeedAgentAsync(capabilities: ["docker", "compose"], labels: new() { ["datacenter"] = SharedApps.Unique("eu-west") });
        await app.CreateTaskForAsync(busy);
        var selector = new { capabilities = new[] { "docker", "compose" }, labels };

        var first = await app.CreateTaskAsync(new { taskType = "docker.run", selector, payload = new { image = "web" } });
        var second = await app.CreateTaskAsync(new { taskType = "docker.run", selector, payload = new { image = "web" } });

        Assert.Equal(idle, first.GetProperty("agentId").GetGuid());
        Assert.Contains(second.GetProperty("agentId").GetGuid(), new[] { busy, idle });
    }

    [SkippableTheory, BothProviders]
    public async Task A_selector_falls_back_to_a_degraded_agent_and_answers_503_when_nothing_matches(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        // A label of this test's own keeps the other tests' agents on this shared host out of the selection.
        var mine = new Dictionary<string, string> { ["test"] = SharedApps.Unique("fallback") };
        var degraded = await app.SeedAgentAsync(status: AgentStatus.Degraded, capabilities: ["ssh"], labels: mine);
        await app.SeedAgentAsync(status: AgentStatus.Offline, capabilities: ["winrm"], labels: mine);
        await app.SeedAgentAsync(capabilities: ["winrm"], labels: mine, draining: true);

        var chosen = await app.CreateTaskAsync(new { taskType = "ssh.run", selector = new { capabilities = new[] { "ssh" }, labels = mine } });
        var none = await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "winrm.run", selector = new { capabilities = new[] { "winrm" }, labels = mine } }))
            .ShouldBeProblem(HttpStatusCode.ServiceUnavailable);

        Assert.Equal(degraded, chosen.GetProperty("agentId").GetGuid());
        Assert.Contains("winrm", none.GetProperty("detail").GetString());
    }

    [SkippableTheory, BothProviders]
    public async Task A_targeted_agent_must_exist_be_online_and_not_draining(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var offline = await app.SeedAgentAsync(status: AgentStatus.Offline);
        var draining = await app.SeedAgentAsync(draining: true);
        var degraded = await app.SeedAgentAsync(status: AgentStatus.Degraded);
        var admin = app.AdminClient();

        var unavailable = await (await admin.PostJson("/api/v1/tasks", new { taskType = "x", agentId = offline })).ShouldBeProblem(HttpStatusCode.ServiceUnavailable);
        await (await admin.PostJson("/api/v1/tasks", new { taskType = "x", agentId = Guid.NewGuid() })).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await admin.PostJson("/api/v1/tasks", new { taskType = "x", agentId = draining })).ShouldBeProblem(HttpStatusCode.Conflict);
        await (await admin.PostJson("/api/v1/tasks", new { taskType = "x", agentId = degraded })).ShouldBe(HttpStatusCode.Created);

        Assert.Contains("offline", unavailable.GetProperty("detail").GetString());
    }

    [SkippableTheory]
    [InlineData("""{"taskType":"x"}""", "agentId")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","selector":{}}""", "agentId")]
    [InlineData("""{"agentId":"AGENT"}""", "taskType")]
    [InlineData("""{"taskType":"x y","agentId":"AGENT"}""", "taskType")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","priority":101}""", "priority")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","priority":-1}""", "priority")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","timeout":0}""", "timeout")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","timeout":100000000}""", "timeout")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","payload":[1,2]}""", "payload")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","credentials":{"a":null}}""", "credentials")]
    [InlineData("""{"taskType":"x","agentId":"AGENT","idempotencyKey":""}""", "idempotencyKey")]
    public async Task Bad_task_requests_are_400_naming_the_field(string json, string field)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();

        var problem = await (await app.AdminClient().PostRaw("/api/v1/tasks", json.Replace("AGENT", agent.ToString())))
            .ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
    }

    [SkippableFact]
    public async Task Oversized_payloads_and_credentials_are_413_naming_the_limit()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:Tasks:MaxPayloadBytes"] = "100",
            ["Orchestrator:Tasks:MaxCredentialsBytes"] = "50",
        });
        var agent = await app.SeedAgentAsync();

        var payload = await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "x", agentId = agent, payload = new { blob = new string('a', 200) } }))
            .ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge);
        var credentials = await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "x", agentId = agent, credentials = new { key = new string('k', 60) } }))
            .ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge);

        Assert.Contains("Orchestrator:Tasks:MaxPayloadBytes", payload.GetProperty("detail").GetString());
        Assert.Contains("Orchestrator:Tasks:MaxCredentialsBytes", credentials.GetProperty("detail").GetString());
        Assert.DoesNotContain(new string('k', 60), credentials.GetRawText());
    }

    [SkippableTheory, BothProviders]
    public async Task The_same_idempotency_key_returns_the_first_task_even_when_requests_race(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var key = SharedApps.Unique("ci-run");
        var body = new { taskType = "deploy", agentId = agent, idempotencyKey = key };

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => app.AdminClient().PostJson("/api/v1/tasks", body)));

        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Created);
        Assert.All(answers, a => Assert.Contains(a.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.OK }));
        var ids = await Task.WhenAll(answers.Select(async a => (await a.ShouldBe(a.StatusCode)).GetProperty("taskId").GetGuid()));
        Assert.Single(ids.Distinct());
        var list = await (await app.AdminClient().GetAsync($"/api/v1/tasks?agentId={agent}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(1, list.GetArrayLength());
        await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "other", agentId = agent, idempotencyKey = key }))
            .ShouldBeProblem(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task The_Idempotency_Key_header_works_as_the_body_field_and_the_two_must_agree()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var key = SharedApps.Unique("ci-run");
        HttpRequestMessage Create(object body, string header)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", header);
            return request;
        }

        var created = await (await app.AdminClient().SendAsync(Create(new { taskType = "deploy", agentId = agent }, key))).ShouldBe(HttpStatusCode.Created);
        var replayed = await (await app.AdminClient().SendAsync(Create(new { taskType = "deploy", agentId = agent }, key))).ShouldBe(HttpStatusCode.OK);
        var viaBody = await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "deploy", agentId = agent, idempotencyKey = key }))
            .ShouldBe(HttpStatusCode.OK);
        var differing = await (await app.AdminClient().SendAsync(Create(new { taskType = "deploy", agentId = agent, idempotencyKey = key }, key + "-2")))
            .ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal(created.GetProperty("taskId").GetGuid(), replayed.GetProperty("taskId").GetGuid());
        Assert.Equal(created.GetProperty("taskId").GetGuid(), viaBody.GetProperty("taskId").GetGuid());
        Assert.True(differing.GetProperty("errors").TryGetProperty("idempotencyKey", out _));
        Assert.Equal(1, (await (await app.AdminClient().GetAsync($"/api/v1/tasks?agentId={agent}")).ShouldBe(HttpStatusCode.OK)).GetArrayLength());
    }

    [SkippableTheory, BothProviders]
    public async Task Creation_is_audited_and_announced_to_every_replica(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var heard = new ConcurrentQueue<string>();
        using var _ = app.Services.GetRequiredService<IClusterEvents>().Subscribe(TaskEvents.Created, heard.Enqueue);

        var task = await app.CreateTaskForAsync(agent, credentials: new { token = "hunter2-token" });

        var announced = TaskEvents.Parse(Assert.Single(heard, h => TaskEvents.Parse(h).AgentId == agent));
        Assert.Equal(new TaskEvents.Payload(task, agent), announced);
        var audit = await (await app.AdminClient().GetAsync($"/api/v1/audit?action=task.created&subjectId={task}")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(agent, Assert.Single(audit.EnumerateArray()).GetProperty("details").GetProperty("agentId").GetGuid());
        Assert.DoesNotContain("hunter2-token", audit.GetRawText());
    }

    [SkippableFact]
    public async Task A_viewer_reads_tasks_but_cannot_create_or_cancel_them()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();
        var task = await app.CreateTaskForAsync(agent);
        var viewer = app.Client(await app.ApiKeyAsync("viewer"));

        await (await viewer.GetAsync($"/api/v1/tasks/{task}")).ShouldBe(HttpStatusCode.OK);
        await (await viewer.PostJson("/api/v1/tasks", new { taskType = "x", agentId = agent })).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await viewer.PostAsync($"/api/v1/tasks/{task}/cancel", null)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await app.Client().GetAsync($"/api/v1/tasks/{task}")).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableTheory, BothProviders]
    public async Task Tasks_are_listed_newest_first_filtered_by_agent_and_status_and_paged(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var other = await app.SeedAgentAsync();
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await app.CreateTaskForAsync(agent));
            await Task.Delay(5);
        }

        await app.CreateTaskForAsync(other);
        await app.TakeAsync(agent);
        var admin = app.AdminClient();

        var first = await admin.GetAsync($"/api/v1/tasks?agentId={agent}&status=assigned&limit=2");
        var page1 = await first.ShouldBe(HttpStatusCode.OK);
        var link = first.Headers.GetValues("Link").Single();
        var page2 = await (await admin.GetAsync(link[1..link.IndexOf('>')])).ShouldBe(HttpStatusCode.OK);

        var listed = page1.EnumerateArray().Concat(page2.EnumerateArray()).Select(t => t.GetProperty("taskId").GetGuid()).ToList();
        Assert.Equal(ids.AsEnumerable().Reverse(), listed);
        Assert.All(page1.EnumerateArray(), t => Assert.Equal(0, t.GetProperty("logs").GetArrayLength()));
        Assert.Equal(0, (await (await admin.GetAsync($"/api/v1/tasks?agentId={agent}&status=pending")).ShouldBe(HttpStatusCode.OK)).GetArrayLength());
        await (await admin.GetAsync("/api/v1/tasks?status=done")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await admin.GetAsync("/api/v1/tasks?agentId=nope")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await admin.GetAsync($"/api/v1/tasks/{Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound);
    }
}
