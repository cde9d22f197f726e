using Orchestrator.Agent.Tests.Support;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>The service stopping and starting again under a running agent, and the agent restarting while a result
/// waits for the service (a service of the test's own).</summary>
public sealed class ServiceRestartTests
{
    [SkippableTheory, BothProviders]
    public async Task The_service_restarting_under_a_running_task_loses_nothing(DatabaseProvider provider)
    {
        await using var world = await AgentWorld.StartAsync(provider);
        await using var agent = RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with { AllowShell = true }));
        var id = await agent.StartedAsync();
        var release = Path.Combine(TempDirectories.New(), "go");
        var task = await world.CreateTaskAsync(id, "shell.run", new
        {
            command = new[] { "sh", "-c", $"echo waiting; while [ ! -e {release} ]; do sleep 0.05; done; echo released" },
        });
        await world.StatusAsync(task.TaskId, AgentTaskStatus.Running);

        await world.RestartServiceAsync();
        await File.WriteAllTextAsync(release, "");
        var ended = await world.EndedAsync(task.TaskId);
        var after = await world.CreateTaskAsync(id, "agent.noop");

        Assert.Equal(AgentTaskStatus.Succeeded, ended.Status);
        Assert.Contains(ended.Logs!, l => l.Message == "released");
        Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(after.TaskId)).Status);
        Assert.False(agent.Exit.IsCompleted);
    }

    [SkippableTheory, BothProviders]
    public async Task A_result_the_service_could_not_take_is_kept_on_disk_and_reported_after_the_agent_restarts(DatabaseProvider provider)
    {
        await using var world = await AgentWorld.StartAsync(provider);
        var state = TempDirectories.New();
        var outbox = Path.Combine(state, "outbox");
        var settings = world.Settings(state, await world.TokenFileAsync(), s => s with { AllowShell = true });
        var release = Path.Combine(TempDirectories.New(), "go");
        Guid taskId;
        await using (var agent = RunningAgent.Start(settings))
        {
            var id = await agent.StartedAsync();
            var task = await world.CreateTaskAsync(id, "shell.run", new
            {
                command = new[] { "sh", "-c", $"while [ ! -e {release} ]; do sleep 0.05; done; echo finished" },
            });
            taskId = task.TaskId;
            await world.StatusAsync(taskId, AgentTaskStatus.Running);

            // The task ends while the service is down: nobody takes the completion, so the agent keeps it on disk.
            await world.StopServiceAsync();
            await File.WriteAllTextAsync(release, "");
            await Poll.Until(() => File.Exists(Path.Combine(outbox, $"{taskId}.json")), "the completion to wait in the outbox", TimeSpan.FromSeconds(30));
            Assert.Equal(ExitCodes.Ok, await agent.StopAsync(TimeSpan.FromSeconds(60)));
        }

        Assert.True(File.Exists(Path.Combine(outbox, $"{taskId}.json")), "The agent stopped without keeping the completion.");
        await world.StartServiceAsync();
        await using var restarted = RunningAgent.Start(settings with { Token = null });
        await restarted.StartedAsync();
        var ended = await world.EndedAsync(taskId);

        Assert.Equal(AgentTaskStatus.Succeeded, ended.Status);
        Assert.Equal(0, ended.Result!.Value.GetProperty("exitCode").GetInt32());
        await Poll.Until(() => !File.Exists(Path.Combine(outbox, $"{taskId}.json")), "the acknowledged completion to leave the outbox");
    }
}
