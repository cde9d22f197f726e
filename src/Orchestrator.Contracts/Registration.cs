namespace Orchestrator.Contracts;

/// <summary><c>POST /api/v1/agents/register</c> (header <c>X-Agent-Token</c>). Fields are nullable because the
/// server validates them and names what is missing. <c>taskTypes</c>: the task types the agent runs (none: any);
/// <c>missingCapabilities</c>: capabilities the agent looked for and did not find, each with its reason.</summary>
public sealed record RegisterRequest(
    string? Name, string? Version, List<string?>? Capabilities, Dictionary<string, string?>? Labels, string? Csr,
    List<string?>? TaskTypes = null, Dictionary<string, string?>? MissingCapabilities = null);

/// <summary>Durations in whole seconds, as the spec's <c>config</c>.</summary>
public sealed record AgentConfig(int HeartbeatInterval, int TaskPollInterval, string LogLevel);

/// <summary><c>key</c> is null when the agent sent a CSR (the key never left the agent).</summary>
public sealed record CertificateBundle(string Cert, string? Key, string Ca, DateTime ExpiresAt);

public sealed record RegisterResponse(Guid AgentId, string Token, AgentConfig Config, CertificateBundle Certificate);

/// <summary><c>POST /api/v1/registration-tokens</c>. <c>AgentId</c> makes a token for re-enrolling that agent only
/// (an agent offline with every certificate expired); such a token registers no other name.</summary>
public sealed record CreateTokenRequest(
    string? Description, int? ExpiresInMinutes, int? MaxUses, Dictionary<string, string?>? Labels, Guid? AgentId = null);

/// <summary>The token is in this answer only.</summary>
public sealed record CreatedTokenResponse(Guid Id, string Token, DateTime ExpiresAt, int MaxUses, Guid? AgentId = null);

public sealed record TokenResponse(
    Guid Id, string? Description, DateTime CreatedAt, DateTime ExpiresAt, int MaxUses, int Uses, DateTime? RevokedAt,
    string CreatedBy, Dictionary<string, string>? Labels, Guid? AgentId = null);

/// <summary>Every delete answers this, as the spec's agent delete does.</summary>
public sealed record DeletedResponse(bool Deleted);
