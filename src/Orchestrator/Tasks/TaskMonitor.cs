using Microsoft.Extensions.Options;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>Ends overdue tasks: delivered ones past their timeout (the agent is told to stop them) and cancelling
/// ones past the grace period. Every replica may run it; the store's conditional updates decide each task once.</summary>
public sealed class TaskMonitor(
    IServiceScopeFactory scopes, TimeProvider time, IOptions<TaskOptions> options, TaskEvents events, TaskChanges changes,
    TaskMetrics metrics,
    ILogger<TaskMonitor> logger)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        BackgroundLoop.RunAsync(options.Value.MonitorInterval, time, passAtStart: true, RunOnceAsync,
            logger.TaskMonitorFailed, stoppingToken);

    /// <summary>One pass. Public so tests and operators' tooling can run it without waiting for the timer.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        TaskSweeper.Overdue overdue;
        await using (var scope = scopes.CreateAsyncScope())
        {
            overdue = await scope.ServiceProvider.GetRequiredService<TaskSweeper>().EndOverdueAsync(cancellationToken);
        }

        metrics.Ended(AgentTaskStatus.TimedOut, overdue.TimedOut.Count + overdue.Undelivered.Count);
        metrics.Ended(AgentTaskStatus.Cancelled, overdue.GraceEnded.Count);

        foreach (var task in overdue.TimedOut)
        {
            logger.TaskTimedOut(task.Id, task.AgentId);
            await events.CancelledAsync(task.Id, task.AgentId, cancellationToken);
        }

        foreach (var task in overdue.Undelivered)
        {
            logger.TaskTimedOutUndelivered(task.Id, task.AgentId);
        }

        foreach (var task in overdue.GraceEnded)
        {
            logger.TaskCancelUnconfirmed(task.Id, task.AgentId);
        }

        foreach (var task in overdue.TimedOut.Concat(overdue.Undelivered).Concat(overdue.GraceEnded))
        {
            await changes.PublishAsync(task.Id, ended: true);
        }
    }
}
