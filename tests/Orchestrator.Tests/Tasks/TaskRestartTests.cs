using Orchestrator.Hosting;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Tasks;

public sealed class TaskRestartTests
{
    [SkippableTheory, BothProviders]
    public async Task Every_task_reaches_a_final_state_across_a_restart(DatabaseProvider provider)
    {
        var clock = TaskKit.Clock();
        var credentials = new Dictionary<string, string> { ["token"] = "survives-restart-secret" };
        Guid agent, delivered, running, cancelling, pending, afterRestart;
        using var storage = await TestStorage.CreateAsync(provider);
        await using (var app = TestApp.StartOn(storage, clock))
        {
            agent = await app.SeedAgentAsync();
            delivered = await app.CreateTaskForAsync(agent, timeout: 60);
            running = await app.CreateTaskForAsync(agent, timeout: 600);
            cancelling = await app.CreateTaskForAsync(agent, timeout: 600);
            await app.TakeAsync(agent);
            await app.ProgressAsync(agent, running, 50);
            await (await app.AdminClient().PostAsync($"/api/v1/tasks/{cancelling}/cancel", null)).ShouldBe(System.Net.HttpStatusCode.Accepted);
            pending = await app.CreateTaskForAsync(agent, credentials: credentials);
            afterRestart = await app.CreateTaskForAsync(agent, priority: 100);
        }

        await using var restarted = TestApp.StartOn(storage, clock);
        {
            var work = await restarted.TakeAsync(agent);
            Assert.Equal([afterRestart, pending], work.Tasks.Select(t => t.TaskId));
            Assert.Equal("survives-restart-secret", work.Tasks.Single(t => t.TaskId == pending).Credentials!["token"]);
            Assert.Contains(cancelling, work.CancelledTasks);

            await restarted.CompleteAsync(agent, pending, true);
            await restarted.CompleteAsync(agent, running, true);
            clock.Advance(TimeSpan.FromMinutes(2));
            await restarted.RunMonitorAsync();
            await restarted.CompleteAsync(agent, afterRestart, false);

            Assert.Equal("timed_out", await restarted.StatusOfAsync(delivered));
            Assert.Equal("succeeded", await restarted.StatusOfAsync(running));
            Assert.Equal("cancelled", await restarted.StatusOfAsync(cancelling));
            Assert.Equal("succeeded", await restarted.StatusOfAsync(pending));
            Assert.Equal("failed", await restarted.StatusOfAsync(afterRestart));
        }
    }
}
