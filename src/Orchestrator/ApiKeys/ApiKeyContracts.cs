namespace Orchestrator.ApiKeys;

// The API key endpoints' wire records, nested in ApiKeyEndpoints so their published OpenAPI schema names stay as they are.
public static partial class ApiKeyEndpoints
{
    public sealed record CreateApiKeyRequest(string? Name, ApiKeyRole? Role);

    public sealed record CreatedApiKeyResponse(Guid Id, string Name, ApiKeyRole Role, string Key, DateTime CreatedAt);

    public sealed record ApiKeyResponse(Guid Id, string Name, ApiKeyRole Role, DateTime CreatedAt, string CreatedBy);

    public sealed record DeletedResponse(bool Deleted);
}
