namespace Orchestrator.Tasks;

/// <summary>What an agent gets in a heartbeat answer: tasks to run and ids of tasks to stop.</summary>
public sealed record AgentWork(IReadOnlyList<DeliveredTask> Tasks, IReadOnlyList<Guid> CancelledTasks)
{
    public static AgentWork None { get; } = new([], []);
}
