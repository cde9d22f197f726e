using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Cli.Tests;

/// <summary><c>tasks create --wait</c>, <c>tasks wait</c> and <c>--follow</c> against the real service, with an agent
/// driven through the typed agent client. Each wait is bounded only so a defect fails instead of hanging.</summary>
public sealed class WaitTests(CliFixture service) : IClassFixture<CliFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public enum Ending
    {
        Succeeds,
        Fails,
        IsCancelled,
        TimesOut,
    }

    [Theory]
    [InlineData(Ending.Succeeds, ExitCodes.Ok, "succeeded")]
    [InlineData(Ending.Fails, ExitCodes.TaskFailed, "failed")]
    [InlineData(Ending.IsCancelled, ExitCodes.TaskFailed, "cancelled")]
    [InlineData(Ending.TimesOut, ExitCodes.TaskFailed, "timed_out")]
    public async Task Create_and_wait_exits_with_the_tasks_outcome(Ending ending, int exitCode, string status)
    {
        using var agent = await service.AgentAsync();
        await using var stream = await agent.ConnectTaskStreamAsync();

        var run = service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "--timeout", "5", "--wait");
        var task = Assert.IsType<TaskAssignedMessage>(await stream.ReceiveAsync().WaitAsync(Bound)).Task;
        switch (ending)
        {
            case Ending.Succeeds or Ending.Fails:
                await agent.CompleteTaskAsync(task.TaskId, new CompleteTaskRequest(ending == Ending.Succeeds, null, null));
                break;
            case Ending.IsCancelled:
                using (var operators = service.Operator())
                {
                    await operators.Tasks.CancelAsync(task.TaskId);
                }

                Assert.IsType<TaskCancelledMessage>(await stream.ReceiveAsync().WaitAsync(Bound));
                await agent.CompleteTaskAsync(task.TaskId, new CompleteTaskRequest(false, null, null));
                break;
            case Ending.TimesOut:
                service.Clock.Advance(TimeSpan.FromSeconds(6));
                await service.App.Services.GetRequiredService<Orchestrator.Tasks.TaskMonitor>().RunOnceAsync(CancellationToken.None);
                break;
        }

        var result = await run.WaitAsync(Bound);

        Assert.Equal(exitCode, result.ExitCode);
        Assert.Contains($" {status}", result.Out, StringComparison.Ordinal);
        Assert.StartsWith("ID ", result.Out, StringComparison.Ordinal);
        if (exitCode == ExitCodes.TaskFailed)
        {
            Assert.StartsWith($"task {task.TaskId} {status}: ", result.Error, StringComparison.Ordinal);
        }
        else
        {
            Assert.Empty(result.Error);
        }
    }

    [Fact]
    public async Task Follow_says_why_a_task_cannot_move_while_its_agent_drains()
    {
        using var agent = await service.AgentAsync();
        var agentId = agent.Credentials!.AgentId;
        using var operators = service.Operator();
        var task = await operators.Tasks.CreateAsync(new CreateTaskRequest("agent.noop", null, null, null, null, agentId, null, null));
        await operators.Agents.DrainAsync(agentId, new DrainRequest("kernel upgrade", null));

        var result = await service.RunAsync("tasks", "wait", task.TaskId.ToString(), "--follow", "--timeout", "3s").WaitAsync(Bound);

        Assert.Equal(ExitCodes.WaitTimedOut, result.ExitCode);
        var waiting = Assert.Single(result.Out.Split('\n'), l => l.StartsWith("--- waiting: ", StringComparison.Ordinal));
        Assert.Contains("is draining (kernel upgrade)", waiting, StringComparison.Ordinal);
        Assert.Contains("waits until the agent is resumed", waiting, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Follow_prints_the_states_progress_and_lines_the_agent_sends_and_the_json_of_the_end()
    {
        using var agent = await service.AgentAsync();
        await using var stream = await agent.ConnectTaskStreamAsync();

        var run = service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "--follow");
        var task = Assert.IsType<TaskAssignedMessage>(await stream.ReceiveAsync().WaitAsync(Bound)).Task;
        await stream.SendLogAsync(new TaskLogMessage(task.TaskId, "info", "pulling busybox"));
        await stream.SendProgressAsync(new TaskProgressMessage(task.TaskId, 50, "half way"));
        await stream.SendLogAsync(new TaskLogMessage(task.TaskId, "warn", "slow registry"));
        // Lines without a seq are not acknowledged: complete only once they are stored, as an agent that waits for its
        // sends would.
        using (var operators = service.Operator())
        {
            await Poll.Until(async () => (await operators.Tasks.GetAsync(task.TaskId)).Logs!.Count == 2, "the streamed lines to be stored");
        }

        await agent.CompleteTaskAsync(task.TaskId, new CompleteTaskRequest(true, null, [new TaskLogEntry(null, "info", "pulled")]));
        var result = await run.WaitAsync(Bound);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        var lines = result.Out.Split('\n');
        Assert.Equal($"--- task {task.TaskId} (agent.noop) on agent {agent.Credentials.AgentId}", lines[0]);
        int At(string text) => Array.FindIndex(lines, l => l.EndsWith(text, StringComparison.Ordinal));
        Assert.True(At("--- pending") < At("--- running"));
        Assert.True(At("--- running") < At("info  pulling busybox"));
        Assert.True(At("info  pulling busybox") < At("warn  slow registry"));
        Assert.True(At("warn  slow registry") < At("info  pulled"));
        Assert.True(At("info  pulled") < At("--- succeeded: The agent reported success."));
        Assert.Contains("--- assigned", lines);
        // Progress events carry the latest progress: a follower that reads after the end sees the success's 100 %.
        Assert.Contains(lines, l => l is "--- 50% half way" or "--- 100% half way");
    }

    [Fact]
    public async Task Wait_with_json_prints_the_APIs_final_answer_and_follow_goes_to_stderr()
    {
        using var agent = await service.AgentAsync();
        await using var stream = await agent.ConnectTaskStreamAsync();
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetGuid();
        await stream.ReceiveAsync().WaitAsync(Bound);

        var run = service.RunAsync("tasks", "wait", taskId.ToString(), "--follow", "-o", "json");
        await stream.SendLogAsync(new TaskLogMessage(taskId, "info", "working"));
        await agent.CompleteTaskAsync(taskId, new CompleteTaskRequest(false, JsonSerializer.SerializeToElement(new { exitCode = 3 }), null));
        var result = await run.WaitAsync(Bound);
        var api = await service.App.AdminClient().GetFromJsonAsync<JsonElement>($"/api/v1/tasks/{taskId}");

        Assert.Equal(ExitCodes.TaskFailed, result.ExitCode);
        Assert.True(JsonElement.DeepEquals(api, result.Json));
        Assert.Contains("info  working", result.Error, StringComparison.Ordinal);
        Assert.Contains($"task {taskId} failed: The agent reported failure.", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wait_that_runs_out_exits_124_with_the_task_as_it_is()
    {
        using var agent = await service.AgentAsync();
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetString()!;

        var result = await service.RunAsync("tasks", "wait", taskId, "--timeout", "0");

        Assert.Equal(ExitCodes.WaitTimedOut, result.ExitCode);
        Assert.Contains(" pending", result.Out, StringComparison.Ordinal);
        Assert.StartsWith($"task {taskId} is still pending: the wait ran out after 0s", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Interrupting_a_wait_exits_130_and_leaves_the_task_alone()
    {
        using var agent = await service.AgentAsync();
        var created = await service.RunAsync("tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "-o", "json");
        var taskId = created.Json.GetProperty("taskId").GetGuid();
        using var interrupt = new CancellationTokenSource();

        var run = CliFixture.RunWithAsync(new Dictionary<string, string>(), null,
            ["tasks", "wait", taskId.ToString(), "--server", service.App.BaseAddress.ToString(), "--ca-file", service.CaFile, "--api-key-file", service.AdminKeyFile],
            interrupt.Token);
        await WatchersAsync(service.App, taskId);
        await interrupt.CancelAsync();
        var result = await run.WaitAsync(Bound);
        using var operators = service.Operator();

        Assert.Equal(ExitCodes.Interrupted, result.ExitCode);
        Assert.Equal(AgentTaskStatus.Pending, (await operators.Tasks.GetAsync(taskId)).Status);
    }

    [SkippableFact]
    public async Task A_wait_survives_a_restart_of_the_service()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        var before = TestApp.StartOn(storage, clock);
        var address = before.BaseAddress;
        var caFile = Path.Combine(TempDirectories.New("orch-cli-"), "ca.pem");
        await File.WriteAllTextAsync(caFile, await before.Client().GetStringAsync("/api/v1/ca"));
        using var agent = await CliFixture.AgentOfAsync(before, caFile);
        var variables = new Dictionary<string, string>
        {
            ["ORCHESTRATOR_URL"] = address.ToString(),
            ["ORCHESTRATOR_API_KEY"] = TestApp.AdminKey,
            ["ORCHESTRATOR_CA_FILE"] = caFile,
        };
        var created = await CliFixture.RunWithAsync(variables, null, ["tasks", "create", "--type", "agent.noop", "--agent", agent.Credentials!.AgentId.ToString(), "-o", "json"]);
        var taskId = created.Json.GetProperty("taskId").GetGuid();

        var run = CliFixture.RunWithAsync(variables, null, ["tasks", "wait", taskId.ToString()]);
        await WatchersAsync(before, taskId);
        await before.DisposeAsync();
        await using var after = TestApp.StartOn(storage, clock, new Dictionary<string, string?> { ["urls"] = $"https://127.0.0.1:{address.Port}" });
        await agent.FetchTaskAsync(taskId);
        await agent.CompleteTaskAsync(taskId, new CompleteTaskRequest(true, null, null));
        var result = await run.WaitAsync(Bound);

        Assert.Equal(address, after.BaseAddress);
        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Contains(" succeeded", result.Out, StringComparison.Ordinal);
        File.Delete(caFile);
    }

    /// <summary>The command's wait has reached the service (it is held there, not answered).</summary>
    private static Task WatchersAsync(TestApp app, Guid taskId) =>
        Poll.Until(() => app.Services.GetRequiredService<Orchestrator.Tasks.TaskChanges>().Watching(taskId) > 0, $"the wait for task {taskId} to be held");
}
