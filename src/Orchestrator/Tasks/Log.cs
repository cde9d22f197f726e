namespace Orchestrator.Tasks;

/// <summary>Every log line of tasks (event ids 800-899).</summary>
internal static partial class Log
{
    [LoggerMessage(800, LogLevel.Error, "Task monitor tick failed; retrying at the next tick")]
    public static partial void TaskMonitorFailed(this ILogger logger, Exception exception);

    [LoggerMessage(801, LogLevel.Warning, "Task {TaskId} of agent {AgentId} timed out")]
    public static partial void TaskTimedOut(this ILogger logger, Guid taskId, Guid agentId);

    [LoggerMessage(802, LogLevel.Warning, "Task {TaskId} of agent {AgentId} timed out undelivered: the agent did not collect it in time")]
    public static partial void TaskTimedOutUndelivered(this ILogger logger, Guid taskId, Guid agentId);

    [LoggerMessage(803, LogLevel.Warning, "Task {TaskId} of agent {AgentId} ended cancelled: the agent did not confirm within the grace period")]
    public static partial void TaskCancelUnconfirmed(this ILogger logger, Guid taskId, Guid agentId);

    [LoggerMessage(804, LogLevel.Information, "Task {TaskId} ({TaskType}) created for agent {AgentId} by {Actor}")]
    public static partial void TaskCreated(this ILogger logger, Guid taskId, string taskType, Guid agentId, string actor);

    [LoggerMessage(805, LogLevel.Information, "Task {TaskId} of agent {AgentId} is {Status} on request of {Actor}")]
    public static partial void TaskCancelRequested(this ILogger logger, Guid taskId, Guid agentId, string status, string actor);

    [LoggerMessage(806, LogLevel.Information, "Task {TaskId} completed by agent {AgentId}: {Status}")]
    public static partial void TaskCompleted(this ILogger logger, Guid taskId, Guid agentId, string status);

    [LoggerMessage(807, LogLevel.Information, "Delivered {Count} tasks to agent {AgentId}: {TaskIds}")]
    public static partial void TasksDelivered(this ILogger logger, int count, Guid agentId, Guid[] taskIds);

    [LoggerMessage(808, LogLevel.Information, "Agent {AgentId} fetched task {TaskId}")]
    public static partial void TaskFetched(this ILogger logger, Guid agentId, Guid taskId);

    [LoggerMessage(809, LogLevel.Warning, "Could not publish {Channel} for task {TaskId}")]
    public static partial void TaskEventNotPublished(this ILogger logger, Exception exception, string channel, Guid taskId);

    [LoggerMessage(810, LogLevel.Warning, "Task {TaskId} of agent {AgentId} failed: {Reason}")]
    public static partial void TaskUndeliverable(this ILogger logger, Guid taskId, Guid agentId, string reason);

    [LoggerMessage(811, LogLevel.Warning, "Idle sweep failed; every agent's tasks are read again at its next heartbeat or stream tick")]
    public static partial void IdleSweepFailed(this ILogger logger, Exception exception);
}
