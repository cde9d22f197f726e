namespace Orchestrator.Tasks;

public enum TaskOutcome
{
    Ok,
    Replayed,
    NotFound,
    Forbidden,
    Conflict,
    Unavailable,
    /// <summary>No target agent runs the task's type: a 422 naming the type and the types available.</summary>
    Unprocessable,
}

public sealed record TaskResult(TaskOutcome Outcome, AgentTask? Task = null, string? Detail = null)
{
    /// <summary>The agent's own task, or the answer to give instead: unknown, or another agent's.</summary>
    public static TaskResult Owned(AgentTask? task, Guid agentId, Guid taskId) =>
        task is null ? new TaskResult(TaskOutcome.NotFound, Detail: $"No task has id {taskId}.")
        : task.AgentId != agentId ? new TaskResult(TaskOutcome.Forbidden, Detail: $"Task {taskId} belongs to another agent.")
        : new TaskResult(TaskOutcome.Ok, task);
}
