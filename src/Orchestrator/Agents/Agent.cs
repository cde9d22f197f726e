namespace Orchestrator.Agents;

public sealed class Agent
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public required string Version { get; set; }
    public AgentStatus Status { get; set; }
    public DateTime RegisteredAt { get; set; }
    public DateTime StatusChangedAt { get; set; }
    public DateTime? LastHeartbeat { get; set; }

    public double? CpuPercent { get; set; }
    public double? MemoryPercent { get; set; }
    public double? DiskPercent { get; set; }
    public int RunningTasks { get; set; }

    public DateTime? DrainRequestedAt { get; set; }
    public string? DrainReason { get; set; }
    public DateTime? DrainDeadline { get; set; }

    /// <summary>The task types the agent reported it runs, sorted and comma-separated (a task type has no comma); null
    /// when it reported none, and then it is offered every type. One column, not a table: it is read with the agent
    /// and matched with one LIKE-free containment test (see <see cref="AgentStorage.Running"/>).</summary>
    public string? TaskTypes { get; set; }

    /// <summary>The capabilities the agent looked for and did not find, with its reasons: a JSON object sorted by
    /// capability (<see cref="AgentRules.StoredMissingCapabilities"/>); null when none. Shown, never matched.</summary>
    public string? MissingCapabilities { get; set; }

    public List<AgentLabel> Labels { get; set; } = [];
    public List<AgentCapability> Capabilities { get; set; } = [];
}

public sealed class AgentLabel
{
    public Guid AgentId { get; set; }
    public required string Key { get; set; }
    public required string Value { get; set; }
}

public sealed class AgentCapability
{
    public Guid AgentId { get; set; }
    public required string Name { get; set; }
}
