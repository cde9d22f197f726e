using System.Text.Json.Serialization;

namespace Orchestrator.Contracts;

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
    int RunningTasks,
    // The task types the agent reported it runs; null when it reported none (it is offered every type).
    string[]? TaskTypes,
    // The capabilities the agent looked for and did not find, each with the agent's reason; empty when none.
    Dictionary<string, string> MissingCapabilities);

/// <summary><c>PUT /api/v1/agents/{id}</c>: each field given replaces the stored set.</summary>
public sealed record UpdateAgentRequest(Dictionary<string, string?>? Labels, List<string?>? Capabilities);

public sealed record DrainRequest(string? Reason, DateTime? Deadline);

public sealed record HeartbeatRequest(
    string? Status,
    HeartbeatResourceUsage? ResourceUsage,
    List<string?>? Capabilities,
    int? RunningTasks,
    string? Csr,
    // Replaces the reported task types when given, as capabilities do.
    List<string?>? TaskTypes = null,
    // Replaces the reported missing capabilities (capability → why the agent did not find it) when given.
    Dictionary<string, string?>? MissingCapabilities = null);

public sealed record HeartbeatResourceUsage(double? Cpu, double? Memory, double? Disk);

/// <summary>The heartbeat answer: tasks delivered now (the spec's shape), ids of tasks to stop, and a renewal when due.</summary>
public sealed record HeartbeatResponse(
    IReadOnlyList<DeliveredTask> Tasks,
    IReadOnlyList<Guid> CancelledTasks,
    // The spec's one optional field: absent, not null, when no renewal is due.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] RenewalResponse? CertificateRenewal);

/// <summary><c>POST /api/v1/agents/{id}/certificate/renew</c>; a CSR rotates the key.</summary>
public sealed record RenewRequest(string? Csr);

/// <summary>The renewal answer (also the heartbeat's <c>certificateRenewal</c>): <c>key</c> is null, since renewal
/// certifies the agent's current key, or the key of the CSR it sent.</summary>
public sealed record RenewalResponse(string Cert, string? Key, string Ca, DateTime ExpiresAt, string Token);

/// <summary><c>GET /api/v1/agents/{id}/identity</c>.</summary>
public sealed record IdentityResponse(Guid AgentId, string CertificateSerial, DateTime CertificateExpiresAt);
