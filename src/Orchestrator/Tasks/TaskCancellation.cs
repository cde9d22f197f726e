namespace Orchestrator.Tasks;

/// <summary>An operator's cancel, with what must follow its commit: the log line, the agent told to stop (on every
/// replica), and waits and event streams of the task woken. The task API and rollouts cancel through it.</summary>
public sealed class TaskCancellation(TaskCommands commands, TaskEvents events, TaskChanges changes, ILogger<TaskCancellation> logger)
{
    public async Task<TaskResult> RequestAsync(Guid taskId, string actor, CancellationToken cancellationToken)
    {
        var result = await commands.RequestCancelAsync(taskId, actor, cancellationToken);
        if (result is not { Outcome: TaskOutcome.Ok, Task: { } task })
        {
            return result;
        }

        logger.TaskCancelRequested(task.Id, task.AgentId, task.Status.WireName(), actor);
        if (task.Status == AgentTaskStatus.Cancelling)
        {
            await events.CancelledAsync(task.Id, task.AgentId, cancellationToken);
        }

        await changes.PublishAsync(task.Id, ended: task.Status.IsEnded());
        return result;
    }
}
