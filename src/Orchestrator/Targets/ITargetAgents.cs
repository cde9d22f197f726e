namespace Orchestrator.Targets;

/// <summary>Whether the agent a target is assigned to exists. The agent registry (Agents) answers it; Agents sits
/// above Targets (an agent's details list its targets, deleting it unassigns them), so Targets asks through this.</summary>
public interface ITargetAgents
{
    Task<bool> ExistsAsync(Guid agentId, CancellationToken cancellationToken);
}
