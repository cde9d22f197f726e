namespace Orchestrator.Agents;

public static class AgentActor
{
    /// <summary>How an agent appears in audit events, the same form <c>Policies.Actor</c> gives an agent principal.</summary>
    public static string Of(Guid agentId) => $"agent:{agentId}";

    public const string System = "system";
}
