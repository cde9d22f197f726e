using System.Net;
using Orchestrator.Contracts;

namespace Orchestrator.Client.Tests;

public sealed class AgentClientTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private async Task<(AgentClient Client, System.Security.Cryptography.ECDsa Key)> RegisterAsync(string? name = null)
    {
        var key = CertificateRequests.NewKey();
        name ??= $"client-{Guid.NewGuid():N}"[..20];
        var client = new AgentClient(service.Options());
        var registered = await client.RegisterAsync(await service.RegistrationTokenAsync(),
            new RegisterRequest(name, "1.0.0", ["docker"], new() { ["zone"] = "a" }, CertificateRequests.CreatePem(key, name)));
        client.UseCredentials(new AgentCredentials(registered.AgentId, CertificateRequests.WithKey(registered.Certificate.Cert, key), registered.Token));
        Assert.Null(registered.Certificate.Key);
        return (client, key);
    }

    [Fact]
    public async Task An_agent_registers_with_a_csr_heartbeats_and_receives_its_task_on_the_stream_then_completes_it()
    {
        var (agent, _) = await RegisterAsync();
        using var _agent = agent;
        using var operators = service.Operator();
        await using var stream = await agent.ConnectTaskStreamAsync();

        var beat = await agent.HeartbeatAsync(new HeartbeatRequest("healthy", new HeartbeatResourceUsage(1, 2, 3), ["docker"], 0, null));
        var created = await operators.Tasks.CreateAsync(new CreateTaskRequest("agent.noop", null,
            new() { ["registry.password"] = "s3cret" }, null, null, agent.Credentials!.AgentId, null, null));
        var assigned = Assert.IsType<TaskAssignedMessage>(await stream.ReceiveAsync());
        await stream.SendLogAsync(new TaskLogMessage(created.TaskId, "info", "working with s3cret"));
        await stream.SendProgressAsync(new TaskProgressMessage(created.TaskId, 50, "half"));
        // A line without a seq is not acknowledged: the server has the line once the task shows it.
        await LoggedAsync(operators, created.TaskId);
        var ack = await agent.CompleteTaskAsync(created.TaskId, new CompleteTaskRequest(true, System.Text.Json.JsonSerializer.SerializeToElement(new { ok = 1 }), []));
        var again = await agent.CompleteTaskAsync(created.TaskId, new CompleteTaskRequest(true, System.Text.Json.JsonSerializer.SerializeToElement(new { ok = 1 }), []));
        var done = await operators.Tasks.GetAsync(created.TaskId);

        Assert.Empty(beat.Tasks);
        Assert.Null(beat.CertificateRenewal);
        Assert.Equal(created.TaskId, assigned.Task.TaskId);
        Assert.Equal("s3cret", assigned.Task.Credentials!["registry.password"]);
        Assert.True(ack.Acknowledged);
        Assert.True(again.Acknowledged);
        Assert.Equal(AgentTaskStatus.Succeeded, done.Status);
        Assert.Contains(done.Logs!, l => l.Message.Contains("working with", StringComparison.Ordinal) && !l.Message.Contains("s3cret", StringComparison.Ordinal));
    }

    private static async Task LoggedAsync(OrchestratorClient operators, Guid taskId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await operators.Tasks.GetAsync(taskId)) is { Progress: not 50 } or { Logs.Count: 0 })
        {
            Assert.True(DateTime.UtcNow < deadline, "The stream's log line and progress never reached the task.");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_different_completion_of_an_ended_task_is_a_409()
    {
        var (agent, _) = await RegisterAsync();
        using var _agent = agent;
        using var operators = service.Operator();
        var created = await operators.Tasks.CreateAsync(new CreateTaskRequest("agent.noop", null, null, null, null, agent.Credentials!.AgentId, null, null));
        await agent.FetchTaskAsync(created.TaskId);
        await agent.CompleteTaskAsync(created.TaskId, new CompleteTaskRequest(true, null, null));

        var conflict = await Assert.ThrowsAsync<OrchestratorApiException>(() => agent.CompleteTaskAsync(created.TaskId, new CompleteTaskRequest(false, null, null)));

        Assert.Equal(HttpStatusCode.Conflict, conflict.Status);
    }

    [Fact]
    public async Task Renewal_with_a_new_key_swaps_credentials_and_the_next_calls_use_them()
    {
        var (agent, _) = await RegisterAsync();
        using var _agent = agent;
        var before = await agent.GetIdentityAsync();
        var newKey = CertificateRequests.NewKey();

        var renewed = await agent.RenewAsync(CertificateRequests.CreatePem(newKey, "renewed"));
        agent.UseCredentials(new AgentCredentials(before.AgentId, CertificateRequests.WithKey(renewed.Cert, newKey), renewed.Token));
        var after = await agent.GetIdentityAsync();
        var pending = await agent.GetPendingTasksAsync();

        Assert.NotEqual(before.CertificateSerial, after.CertificateSerial);
        Assert.Empty(pending.Tasks);
    }

    [Fact]
    public async Task A_deleted_agent_is_refused_with_401_on_calls_and_on_the_stream()
    {
        var (agent, _) = await RegisterAsync();
        using var _agent = agent;
        using var operators = service.Operator();

        await operators.Agents.DeleteAsync(agent.Credentials!.AgentId);
        var call = await Assert.ThrowsAsync<OrchestratorApiException>(() => agent.GetIdentityAsync());
        var stream = await Assert.ThrowsAsync<OrchestratorApiException>(() => agent.ConnectTaskStreamAsync());

        Assert.Equal(HttpStatusCode.Unauthorized, call.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, stream.Status);
    }

    [Fact]
    public async Task Registration_with_a_spent_token_is_refused_and_not_retried()
    {
        var token = await service.RegistrationTokenAsync();
        using var client = new AgentClient(service.Options());
        var key = CertificateRequests.NewKey();
        await client.RegisterAsync(token, new RegisterRequest($"one-{Guid.NewGuid():N}"[..16], "1", null, null, CertificateRequests.CreatePem(key, "one")));

        var refused = await Assert.ThrowsAsync<OrchestratorApiException>(() =>
            client.RegisterAsync(token, new RegisterRequest($"two-{Guid.NewGuid():N}"[..16], "1", null, null, CertificateRequests.CreatePem(key, "two"))));

        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
    }
}
