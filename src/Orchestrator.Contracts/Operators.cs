using System.Text.Json;

namespace Orchestrator.Contracts;

/// <summary><c>POST /api/v1/api-keys</c> (admin).</summary>
public sealed record CreateApiKeyRequest(string? Name, ApiKeyRole? Role);

/// <summary>The key is in this answer only.</summary>
public sealed record CreatedApiKeyResponse(Guid Id, string Name, ApiKeyRole Role, string Key, DateTime CreatedAt);

public sealed record ApiKeyResponse(Guid Id, string Name, ApiKeyRole Role, DateTime CreatedAt, string CreatedBy);

/// <summary><c>POST /api/v1/targets</c>.</summary>
public sealed record CreateTargetRequest(string? Name, string? Type, Guid? AgentId, JsonElement? Properties);

public sealed record TargetResponse(Guid Id, string Name, string Type, Guid? AgentId, JsonElement? Properties, DateTime CreatedAt);

public sealed record AuditEventResponse(long Id, DateTime Timestamp, string Actor, string Action, string SubjectType, string? SubjectId, JsonElement? Details);

/// <summary><c>POST /api/v1/ca/rotate</c> (admin).</summary>
/// <summary><c>ActivatesAt</c>: when the new root starts signing; until then it is only published in the trust bundle.</summary>
public sealed record RotatedResponse(Guid RootId, string Certificate, DateTime NotAfter, DateTime ActivatesAt, Guid[] RetiredRootIds, string TokenSigningKeyId);

/// <summary>RFC 9457 problem details as the API writes them (<c>errors</c> on validation problems, keyed by field).</summary>
public sealed record ProblemDocument(
    string? Type, string? Title, int? Status, string? Detail, string? Instance, string? TraceId, Dictionary<string, string[]>? Errors);
