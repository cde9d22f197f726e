using System.Text.Json.Serialization;
using Orchestrator.Certificates;

namespace Orchestrator.Agents;

public sealed record ResourceUsage(double? Cpu, double? Memory, double? Disk);

/// <summary>An item of <c>GET /api/v1/agents</c>: exactly the spec's fields.</summary>
public sealed record AgentSummary(
    Guid Id,
    string Name,
    string Version,
    AgentStatus Status,
    string[] Capabilities,
    DateTime? LastHeartbeat,
    ResourceUsage ResourceUsage);

public sealed record AgentTargetSummary(Guid Id, string Name, string Type);

public sealed record DrainState(string? Reason, DateTime RequestedAt, DateTime? Deadline);

/// <summary><c>GET /api/v1/agents/{id}</c>: the list fields and everything an operator needs to judge the agent.</summary>
public sealed record AgentDetails(
    Guid Id,
    string Name,
    string Version,
    AgentStatus Status,
    string[] Capabilities,
    DateTime? LastHeartbeat,
    ResourceUsage ResourceUsage,
    Dictionary<string, string> Labels,
    List<AgentTargetSummary> Targets,
    bool Draining,
    DrainState? Drain,
    DateTime? CertificateExpiresAt,
    DateTime RegisteredAt,
    DateTime StatusChangedAt,
    int RunningTasks);

public sealed record UpdateAgentRequest(Dictionary<string, string?>? Labels, List<string?>? Capabilities);

public sealed record DrainRequest(string? Reason, DateTime? Deadline);

public sealed record DeletedResponse(bool Deleted);

public sealed record HeartbeatRequest(
    string? Status,
    HeartbeatResourceUsage? ResourceUsage,
    List<string?>? Capabilities,
    int? RunningTasks,
    string? Csr);

public sealed record HeartbeatResourceUsage(double? Cpu, double? Memory, double? Disk);

/// <summary>A task handed to the agent in a heartbeat answer (the spec's shape).</summary>
public sealed record HeartbeatResponse(
    IReadOnlyList<Orchestrator.Tasks.DeliveredTask> Tasks,
    IReadOnlyList<Guid> CancelledTasks,
    // The spec's one optional field: absent, not null, when no renewal is due.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CertificateEndpoints.RenewalResponse? CertificateRenewal);
