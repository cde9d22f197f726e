using Orchestrator.Agent.Tests.Support;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>The service stopping and starting again under a running agent (a service of the test's own).</summary>
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
}
