using System.Net.Http.Json;
using System.Text.Json;
using Orchestrator.Testing;

namespace Orchestrator.Cli.Tests;

public sealed class CommandTests(CliFixture service) : IClassFixture<CliFixture>
{
    public static TheoryData<string[]> UsageMistakes => new()
    {
        { ["tasks", "create", "--type", "agent.noop"] },
        { ["tasks", "create", "--type", "agent.noop", "--agent", Guid.NewGuid().ToString(), "--selector", "capability=docker"] },
        { ["tasks", "create", "--type", "agent.noop", "--selector", "env"] },
        { ["tasks", "create", "--type", "agent.noop", "--agent", Guid.NewGuid().ToString(), "--wait-timeout", "10"] },
        { ["tasks", "create", "--type", "agent.noop", "--agent", Guid.NewGuid().ToString(), "--payload", "[1, 2]"] },
        { ["tasks", "get", "not-a-uuid"] },
        { ["tasks", "wait", Guid.NewGuid().ToString(), "--timeout", "soon"] },
        { ["tasks", "ls", "--status", "done"] },
        { ["tasks"] },
        { ["agents", "ls", "--no-such-flag"] },
        { ["agents", "label", Guid.NewGuid().ToString()] },
        { ["agents", "ls", "-o", "yaml"] },
        { ["api-keys", "create", "--name", "ci", "--role", "root"] },
    };

    [Theory]
    [MemberData(nameof(UsageMistakes))]
    public async Task A_usage_mistake_exits_64_with_the_reason_on_stderr_and_nothing_on_stdout(string[] args)
    {
        var result = await service.RunAsync(args);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Empty(result.Out);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_api_key_on_the_command_line_is_refused_without_echoing_it()
    {
        var result = await CliFixture.RunWithAsync(new Dictionary<string, string>(), null,
            ["agents", "ls", "--server", service.App.BaseAddress.ToString(), "--api-key", "ork_visible-secret"]);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.DoesNotContain("ork_visible-secret", result.Error, StringComparison.Ordinal);
        Assert.Contains("--api-key-file", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_key_exits_2_with_the_problem_on_stderr_and_nothing_on_stdout()
    {
        var result = await CliFixture.RunWithAsync(
            new Dictionary<string, string> { ["ORCHESTRATOR_URL"] = service.App.BaseAddress.ToString(), ["ORCHESTRATOR_API_KEY"] = "ork_wrong-key", ["ORCHESTRATOR_CA_FILE"] = service.CaFile },
            null, ["agents", "ls"]);

        Assert.Equal(ExitCodes.Refused, result.ExitCode);
        Assert.Empty(result.Out);
        Assert.Contains("401 Unauthorized", result.Error, StringComparison.Ordinal);
        Assert.Contains("API key", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("ork_wrong-key", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refusal_with_field_errors_lists_each_field_on_stderr()
    {
        using var agent = await service.AgentAsync();

        var result = await service.RunAsync("tasks", "create", "--type", "bad type!", "--agent", agent.Credentials!.AgentId.ToString(), "--priority", "101");

        Assert.Equal(ExitCodes.Refused, result.ExitCode);
        Assert.Empty(result.Out);
        Assert.Contains("400", result.Error, StringComparison.Ordinal);
        Assert.Contains("  taskType: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("  priority: ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_agent_matching_the_selector_exits_2_naming_the_selector()
    {
        var result = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--selector", $"capability=nomad,label:team={Guid.NewGuid():N}");

        Assert.Equal(ExitCodes.Refused, result.ExitCode);
        Assert.Empty(result.Out);
        Assert.Contains("503", result.Error, StringComparison.Ordinal);
        Assert.Contains("capability 'nomad'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_task_created_in_a_CI_job_that_traces_goes_to_its_agent_in_the_jobs_trace()
    {
        using var agent = await service.AgentAsync();
        var trace = System.Diagnostics.ActivityTraceId.CreateRandom();
        var job = new Dictionary<string, string>
        {
            [CliApp.TraceParentVariable] = $"00-{trace.ToHexString()}-{System.Diagnostics.ActivitySpanId.CreateRandom().ToHexString()}-01",
        };

        (await service.RunAsync(job, "tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString())).Ok();
        var delivered = Assert.Single((await agent.HeartbeatAsync(new Contracts.HeartbeatRequest("healthy", null, null, 0, null))).Tasks);

        Assert.NotNull(delivered.TraceParent);
        Assert.Equal(trace, System.Diagnostics.ActivityContext.Parse(delivered.TraceParent, null).TraceId);
    }

    [Fact]
    public async Task Json_output_of_get_and_ls_is_the_APIs_answer()
    {
        using var agent = await service.AgentAsync(["docker", "ecs"], new() { ["team"] = Guid.NewGuid().ToString("N") });
        var agentId = agent.Credentials!.AgentId;
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agentId.ToString(), "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetString()!;
        var api = service.App.AdminClient();

        var task = await service.RunAsync("tasks", "get", taskId, "-o", "json");
        var agents = await service.RunAsync("agents", "ls", "--capability", "ecs", "--status", "online", "-o", "json");
        var details = await service.RunAsync("-o", "json", "agents", "get", agentId.ToString());

        Assert.Equal(ExitCodes.Ok, task.ExitCode);
        Assert.True(JsonElement.DeepEquals(await api.GetFromJsonAsync<JsonElement>($"/api/v1/tasks/{taskId}"), task.Json));
        Assert.True(JsonElement.DeepEquals(await api.GetFromJsonAsync<JsonElement>("/api/v1/agents?capability=ecs&status=online"), agents.Json));
        Assert.Contains(agents.Json.EnumerateArray(), a => a.GetProperty("id").GetGuid() == agentId);
        Assert.Equal(agentId, details.Json.GetProperty("id").GetGuid());
        Assert.Equal("pending", created.Json.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_list_follows_every_page_and_limit_stops_early()
    {
        var description = $"paged-{Guid.NewGuid():N}";
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ExitCodes.Ok, (await service.RunAsync("tokens", "create", "--description", description)).ExitCode);
        }

        var all = await service.RunAsync("tokens", "ls", "-o", "json");
        var two = await service.RunAsync("tokens", "ls", "--limit", "2", "-o", "json");
        var table = await service.RunAsync("tokens", "ls");

        Assert.Equal(3, all.Json.EnumerateArray().Count(t => t.GetProperty("description").GetString() == description));
        Assert.Equal(2, two.Json.GetArrayLength());
        Assert.Equal(3, table.Out.Split('\n').Count(l => l.Contains(description, StringComparison.Ordinal)));
        Assert.StartsWith("ID ", table.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registration_token_is_created_shown_once_listed_and_revoked()
    {
        var created = await service.RunAsync("tokens", "create", "--description", "ci runners", "--max-uses", "3", "--label", "env=ci", "-o", "json");
        var id = created.Json.GetProperty("id").GetString()!;

        var revoked = await service.RunAsync("tokens", "revoke", id);
        var listed = await service.RunAsync("tokens", "ls", "-o", "wide");

        Assert.StartsWith("orr_", created.Json.GetProperty("token").GetString(), StringComparison.Ordinal);
        Assert.Equal($"registration token {id} revoked\n", revoked.Out);
        var row = Assert.Single(listed.Out.Split('\n'), l => l.StartsWith(id, StringComparison.Ordinal));
        Assert.Contains("revoked", row, StringComparison.Ordinal);
        Assert.Contains("env=ci", row, StringComparison.Ordinal);
        Assert.DoesNotContain(created.Json.GetProperty("token").GetString()!, listed.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_for_re_enrolling_an_agent_names_it_and_a_bad_id_is_a_usage_error()
    {
        using var agent = await service.AgentAsync();
        var id = agent.Credentials!.AgentId.ToString();

        var created = await service.RunAsync("tokens", "create", "--agent", id, "-o", "json");
        var listed = await service.RunAsync("tokens", "ls", "-o", "wide");
        var bad = await service.RunAsync("tokens", "create", "--agent", "web-01");

        Assert.Equal(id, created.Json.GetProperty("agentId").GetString());
        var row = Assert.Single(listed.Out.Split('\n'), l => l.StartsWith(created.Json.GetProperty("id").GetString()!, StringComparison.Ordinal));
        Assert.Contains(id, row, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, bad.ExitCode);
    }

    [Fact]
    public async Task Labels_are_set_and_removed_and_the_others_stay()
    {
        using var agent = await service.AgentAsync(labels: new() { ["zone"] = "a", ["tier"] = "web" });
        var id = agent.Credentials!.AgentId.ToString();

        var result = await service.RunAsync("agents", "label", id, "env=prod", "tier-", "-o", "json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        var labels = result.Json.GetProperty("labels");
        Assert.Equal("prod", labels.GetProperty("env").GetString());
        Assert.Equal("a", labels.GetProperty("zone").GetString());
        Assert.False(labels.TryGetProperty("tier", out _));
    }

    [Fact]
    public async Task A_drained_agent_takes_no_task_until_it_is_resumed()
    {
        using var agent = await service.AgentAsync();
        var id = agent.Credentials!.AgentId.ToString();

        var drained = await service.RunAsync("agents", "drain", id, "--reason", "kernel upgrade", "--deadline", "30m");
        var refused = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", id);
        var resumed = await service.RunAsync("agents", "resume", id, "-o", "json");
        var accepted = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", id);

        Assert.Equal(ExitCodes.Ok, drained.ExitCode);
        Assert.Contains(" yes ", drained.Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Refused, refused.ExitCode);
        Assert.Contains("409", refused.Error, StringComparison.Ordinal);
        Assert.False(resumed.Json.GetProperty("draining").GetBoolean());
        Assert.Equal(ExitCodes.Ok, accepted.ExitCode);
    }

    [Fact]
    public async Task A_task_carries_its_payload_and_a_credential_read_from_a_file_to_the_agent_that_matches_the_selector()
    {
        var team = Guid.NewGuid().ToString("N");
        using var agent = await service.AgentAsync(["docker"], new() { ["team"] = team });
        var secret = Path.Combine(TempDirectories.New("orch-cli-"), "secret");
        await File.WriteAllTextAsync(secret, "s3cret-from-file\n");

        var created = await CliFixture.RunWithAsync(new Dictionary<string, string>(), """{"image":"busybox","tag":"1.36"}""",
            ["tasks", "create", "--type", "docker.pull", "--payload", "@-", "--credential", $"registry.password=@{secret}",
                "--credential", "registry.username=ci", "--selector", "capability=docker", $"team={team}", "--priority", "7", "-o", "json",
                "--server", service.App.BaseAddress.ToString(), "--ca-file", service.CaFile, "--api-key-file", service.AdminKeyFile]);
        created.Ok();
        var delivered = await agent.FetchTaskAsync(created.Json.GetProperty("taskId").GetGuid());

        Assert.Equal(ExitCodes.Ok, created.ExitCode);
        Assert.Equal(agent.Credentials!.AgentId, created.Json.GetProperty("agentId").GetGuid());
        Assert.Equal(7, created.Json.GetProperty("priority").GetInt32());
        Assert.Equal("busybox", delivered.Payload!.Value.GetProperty("image").GetString());
        Assert.Equal("s3cret-from-file", delivered.Credentials!["registry.password"]);
        Assert.Equal("ci", delivered.Credentials["registry.username"]);
        Assert.DoesNotContain("s3cret", created.Out, StringComparison.Ordinal);
        File.Delete(secret);
    }

    [Fact]
    public async Task Targets_and_api_keys_are_created_listed_and_removed()
    {
        using var agent = await service.AgentAsync();
        var name = $"web-{Guid.NewGuid():N}";

        var target = await service.RunAsync("targets", "create", "--name", name, "--type", "docker-host", "--agent", agent.Credentials!.AgentId.ToString(),
            "--property", "region=eu", "-o", "json");
        var targets = await service.RunAsync("targets", "ls", "--agent", agent.Credentials.AgentId.ToString(), "-o", "wide");
        var removed = await service.RunAsync("targets", "rm", target.Json.GetProperty("id").GetString()!, "-o", "json");
        var key = await service.RunAsync("api-keys", "create", "--name", name, "--role", "viewer", "-o", "json");
        var keys = await service.RunAsync("api-keys", "ls");
        var revoked = await service.RunAsync("api-keys", "revoke", key.Json.GetProperty("id").GetString()!);

        Assert.Equal("eu", target.Json.GetProperty("properties").GetProperty("region").GetString());
        Assert.Contains(targets.Out.Split('\n'), l => l.Contains(name, StringComparison.Ordinal) && l.Contains("\"region\":\"eu\"", StringComparison.Ordinal));
        Assert.True(removed.Json.GetProperty("deleted").GetBoolean());
        Assert.Equal("viewer", key.Json.GetProperty("role").GetString());
        Assert.Contains(keys.Out.Split('\n'), l => l.Contains(name, StringComparison.Ordinal) && l.Contains("viewer", StringComparison.Ordinal));
        Assert.DoesNotContain(key.Json.GetProperty("key").GetString()!, keys.Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Ok, revoked.ExitCode);
    }

    [Fact]
    public async Task The_audit_trail_shows_who_created_a_task()
    {
        using var agent = await service.AgentAsync();
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetString()!;

        var audit = await service.RunAsync("audit", "ls", "--subject", taskId, "--action", "task.created");

        Assert.Equal(ExitCodes.Ok, audit.ExitCode);
        Assert.Contains(audit.Out.Split('\n'), l => l.Contains($"task/{taskId}", StringComparison.Ordinal) && l.Contains("task.created", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_ca_bundle_is_pinned_by_fingerprint_and_printed_without_a_key()
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(service.CaFile));
        var fingerprint = Client.ServerTrust.FingerprintOf(certificate);

        var bundle = await CliFixture.RunWithAsync(new Dictionary<string, string>(), null,
            ["ca", "bundle", "--server", service.App.BaseAddress.ToString(), "--ca-fingerprint", fingerprint]);
        var wrong = await CliFixture.RunWithAsync(new Dictionary<string, string>(), null,
            ["ca", "bundle", "--server", service.App.BaseAddress.ToString(), "--ca-fingerprint", "sha256:" + new string('0', 64)]);

        Assert.Equal(ExitCodes.Ok, bundle.ExitCode);
        Assert.Equal((await File.ReadAllTextAsync(service.CaFile)).Trim(), bundle.Out.Trim());
        Assert.Equal(ExitCodes.Unavailable, wrong.ExitCode);
        Assert.Empty(wrong.Out);
    }

    [Fact]
    public async Task A_server_whose_CA_is_not_pinned_is_not_trusted()
    {
        var result = await CliFixture.RunWithAsync(new Dictionary<string, string> { ["ORCHESTRATOR_API_KEY"] = TestApp.AdminKey }, null,
            ["agents", "ls", "--server", service.App.BaseAddress.ToString()]);

        Assert.Equal(ExitCodes.Unavailable, result.ExitCode);
        Assert.Empty(result.Out);
        Assert.Contains("--ca-file", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(TestApp.AdminKey, result.Error, StringComparison.Ordinal);
    }
}
