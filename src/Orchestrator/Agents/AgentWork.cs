namespace Orchestrator.Agents;

/// <summary>What a heartbeat answer hands the agent: tasks to run and ids of tasks to stop. The task dispatcher
/// replaces the default (nothing) by registering its own implementation after <c>AddAgents</c>.</summary>
public interface IAgentWorkSource
{
    ValueTask<AgentWork> ForHeartbeatAsync(Guid agentId, CancellationToken cancellationToken);
}

public sealed record AgentWork(IReadOnlyList<HeartbeatTask> Tasks, IReadOnlyList<Guid> CancelledTasks)
{
    public static readonly AgentWork None = new([], []);
}

internal sealed class NoAgentWork : IAgentWorkSource
{
    public ValueTask<AgentWork> ForHeartbeatAsync(Guid agentId, CancellationToken cancellationToken) => ValueTask.FromResult(AgentWork.None);
}
