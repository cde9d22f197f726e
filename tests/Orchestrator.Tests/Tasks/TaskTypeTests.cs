using System.Net;
using System.Text.Json;
using Orchestrator.Hosting;
using Orchestrator.Tests.Agents;
using Orchestrator.Tests.Rollouts;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Tasks;

/// <summary>DESIGN "Agent records", task types: agents say what they run, the service refuses a task no target agent can
/// run, checks the payloads of the built-in types against their schemas, and a failure says why.</summary>
public sealed class TaskTypeTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task An_agent_reports_the_task_types_it_runs_at_registration_and_a_heartbeat_that_carries_them_replaces_them(
        DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync(taskTypes: ["docker.run", "agent.noop", "docker.run"]);

        var registered = await DetailsAsync(app, agent.Id);
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy", taskTypes = new[] { "shell.run" } }))
            .ShouldBe(HttpStatusCode.OK);
        var replaced = await DetailsAsync(app, agent.Id);
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "degraded" })).ShouldBe(HttpStatusCode.OK);
        var kept = await DetailsAsync(app, agent.Id);

        Assert.Equal(["agent.noop", "docker.run"], TaskTypes(registered));
        Assert.Equal(["shell.run"], TaskTypes(replaced));
        Assert.Equal(["shell.run"], TaskTypes(kept));
        var older = await app.RegisterAgentAsync();
        Assert.Equal(JsonValueKind.Null, (await DetailsAsync(app, older.Id)).GetProperty("taskTypes").ValueKind);
    }

    [Fact]
    public async Task A_task_type_that_is_not_one_is_refused_at_registration_and_in_a_heartbeat()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var heartbeat = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat",
            new { status = "healthy", taskTypes = new[] { "docker.run", "has space" } })).ShouldBeProblem(HttpStatusCode.BadRequest);
        var token = await app.CreateRegistrationTokenAsync();
        var registration = await (await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(
            new { name = SharedApps.Unique("typed"), version = "1", taskTypes = new[] { "" } }, token))).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(heartbeat.GetProperty("errors").TryGetProperty("taskTypes[1]", out _), heartbeat.GetRawText());
        Assert.True(registration.GetProperty("errors").TryGetProperty("taskTypes[0]", out _), registration.GetRawText());
    }

    [SkippableTheory, BothProviders]
    public async Task A_task_for_an_agent_that_does_not_run_its_type_is_a_422_naming_the_type_and_the_types_it_runs(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync(taskTypes: ["docker.run", "agent.noop"]);

        var problem = await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "docker.runn", agentId = agent }))
            .ShouldBeProblem(HttpStatusCode.UnprocessableEntity);

        var message = problem.GetProperty("errors").GetProperty("taskType")[0].GetString()!;
        Assert.Contains("'docker.runn'", message);
        Assert.Contains("agent.noop, docker.run", message);
        Assert.Empty(await app.TasksAsync(agent));
        await app.CreateTaskAsync(new { taskType = "agent.noop", agentId = agent });
    }

    [SkippableTheory, BothProviders]
    public async Task A_selector_offers_a_task_only_to_agents_that_run_its_type_or_reported_none(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var labels = new Dictionary<string, string> { ["pool"] = SharedApps.Unique("typed") };
        var runsNoop = await app.SeedAgentAsync(labels: labels, taskTypes: ["agent.noop"]);
        var runsDocker = await app.SeedAgentAsync(labels: labels, taskTypes: ["docker.pull", "docker.run"]);
        var onlyNoop = new Dictionary<string, string> { ["pool"] = SharedApps.Unique("noop-only") };
        await app.SeedAgentAsync(labels: onlyNoop, taskTypes: ["agent.noop"]);
        var untyped = new Dictionary<string, string> { ["pool"] = SharedApps.Unique("untyped") };
        var older = await app.SeedAgentAsync(labels: untyped);

        var docker = await app.CreateTaskAsync(new { taskType = "docker.run", selector = new { labels }, payload = new { image = "web" } });
        var noop = await app.CreateTaskAsync(new { taskType = "agent.noop", selector = new { labels } });
        var refused = await (await app.AdminClient().PostJson("/api/v1/tasks",
            new { taskType = "docker.run", selector = new { labels = onlyNoop }, payload = new { image = "web" } }))
            .ShouldBeProblem(HttpStatusCode.UnprocessableEntity);
        var anything = await app.CreateTaskAsync(new { taskType = "acme.deploy", selector = new { labels = untyped } });

        Assert.Equal(runsDocker, docker.GetProperty("agentId").GetGuid());
        Assert.Equal(runsNoop, noop.GetProperty("agentId").GetGuid());
        Assert.Equal(older, anything.GetProperty("agentId").GetGuid());
        var message = refused.GetProperty("errors").GetProperty("taskType")[0].GetString()!;
        Assert.Contains("'docker.run'", message);
        Assert.Contains("agent.noop", message);
    }

    public static TheoryData<string, string, string> BadPayloads => new()
    {
        { "docker.run", """{ "tag": "2.4" }""", "payload.image" },
        { "docker.run", """{ "image": "web", "detach": "no" }""", "payload.detach" },
        { "docker.run", """{ "image": "web", "pull": "sometimes" }""", "payload.pull" },
        { "docker.run", """{ "image": "web", "env": { "A": 1 } }""", "payload.env.A" },
        { "docker.run", """{ "image": "web", "detatch": false }""", "payload.detatch" },
        { "docker.stop", """{ "container": "web", "timeoutSeconds": 7200 }""", "payload.timeoutSeconds" },
        { "shell.run", """{ "command": [] }""", "payload.command" },
        { "compose.up", """{ "project": "Web App", "compose": "services: {}" }""", "payload.project" },
        { "docker.pull", "null", "payload.image" },
    };

    [Theory, MemberData(nameof(BadPayloads))]
    public async Task A_built_in_task_whose_payload_breaks_its_schema_is_a_400_naming_the_field(string taskType, string payload, string field)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();

        var problem = await (await app.AdminClient().PostRaw("/api/v1/tasks",
            $$"""{ "taskType": "{{taskType}}", "agentId": "{{agent}}", "payload": {{payload}} }""")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
        Assert.Empty(await app.TasksAsync(agent));
    }

    [Fact]
    public async Task A_missing_required_field_is_named_in_words_an_operator_can_act_on()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();

        var problem = await (await app.AdminClient().PostJson("/api/v1/tasks", new { taskType = "docker.run", agentId = agent, payload = new { } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);
        var unknown = await (await app.AdminClient().PostJson("/api/v1/tasks",
            new { taskType = "docker.run", agentId = agent, payload = new { image = "web", detatch = false } })).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal("Payload field 'image' is required for docker.run.", problem.GetProperty("errors").GetProperty("payload.image")[0].GetString());
        Assert.Contains("'detatch' is not a field of docker.run", unknown.GetProperty("errors").GetProperty("payload.detatch")[0].GetString());
        Assert.Contains("detach", unknown.GetProperty("errors").GetProperty("payload.detatch")[0].GetString());
    }

    [Fact]
    public async Task Payloads_of_other_task_types_are_the_agents_business()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.SeedAgentAsync();

        var created = await app.CreateTaskAsync(new { taskType = "acme.deploy", agentId = agent, payload = new { anything = new[] { 1, 2 } } });

        Assert.Equal("pending", created.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_payload_schemas_are_published_in_the_OpenAPI_document()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var document = await (await app.Client().GetAsync("/swagger/v1/swagger.json")).ShouldBe(HttpStatusCode.OK);

        var schemas = document.GetProperty("components").GetProperty("schemas");
        var run = schemas.GetProperty("Payload.docker.run");
        Assert.Equal(["image"], run.GetProperty("required").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal("boolean", run.GetProperty("properties").GetProperty("detach").GetProperty("type").GetString());
        foreach (var type in new[] { "agent.noop", "docker.pull", "docker.stop", "shell.run", "compose.up", "compose.down" })
        {
            Assert.True(schemas.TryGetProperty($"Payload.{type}", out _), type);
        }
    }

    [SkippableTheory, BothProviders]
    public async Task A_failed_task_carries_the_agents_reason_in_its_status_reason_with_credentials_masked(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.SeedAgentAsync();
        var failed = await app.CreateTaskForAsync(agent, credentials: new Dictionary<string, string> { ["token"] = "tok-3f9a8b7c" });
        var silent = await app.CreateTaskForAsync(agent);

        await app.CompleteAsync(agent, failed, success: false, new { exitCode = 3, error = "The container exited with code 3 (login tok-3f9a8b7c)." });
        await app.CompleteAsync(agent, silent, success: false, new { exitCode = 1 });

        var reason = (await app.GetTaskAsync(failed)).GetProperty("statusReason").GetString()!;
        Assert.StartsWith("The container exited with code 3 (login ", reason);
        Assert.DoesNotContain("tok-3f9a8b7c", reason);
        Assert.Equal("The agent reported failure.", (await app.GetTaskAsync(silent)).GetProperty("statusReason").GetString());
    }

    [Fact]
    public async Task A_rollout_naming_an_agent_that_does_not_run_its_type_is_a_422_and_a_selector_leaves_such_agents_out()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var labels = new Dictionary<string, string> { ["fleet"] = SharedApps.Unique("typed") };
        var runs = await app.SeedAgentAsync(labels: labels, taskTypes: ["agent.noop"]);
        var doesNot = await app.SeedAgentAsync(labels: labels, taskTypes: ["docker.run"]);

        var problem = await (await app.AdminClient().PostJson("/api/v1/rollouts", new { taskType = "agent.noop", agentIds = new[] { runs, doesNot } }))
            .ShouldBeProblem(HttpStatusCode.UnprocessableEntity);
        var rollout = await app.CreateRolloutAsync(new { taskType = "agent.noop", selector = new { labels } });

        Assert.Contains("does not run task type 'agent.noop'", problem.GetProperty("errors").GetProperty("agentIds[1]")[0].GetString());
        Assert.Equal([runs], rollout.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("agentId").GetGuid()));
    }

    private static async Task<JsonElement> DetailsAsync(TestApp app, Guid agentId) =>
        await (await app.AdminClient().GetAsync($"/api/v1/agents/{agentId}")).ShouldBe(HttpStatusCode.OK);

    private static string[] TaskTypes(JsonElement details) =>
        [.. details.GetProperty("taskTypes").EnumerateArray().Select(t => t.GetString()!)];
}
