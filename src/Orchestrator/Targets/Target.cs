namespace Orchestrator.Targets;

public sealed class Target
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public required string Type { get; set; }

    /// <summary>Null when unassigned (for example after its agent was deleted).</summary>
    public Guid? AgentId { get; set; }
    public string? PropertiesJson { get; set; }
    public DateTime CreatedAt { get; set; }
}
