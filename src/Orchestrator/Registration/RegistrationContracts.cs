namespace Orchestrator.Registration;

// The registration endpoints' wire records, nested in their endpoint classes so their published OpenAPI schema names
// stay as they are.
public static partial class RegisterEndpoint
{
    public sealed record RegisterRequest(
        string? Name, string? Version, List<string?>? Capabilities, Dictionary<string, string?>? Labels, string? Csr);

    public sealed record AgentConfig(int HeartbeatInterval, int TaskPollInterval, string LogLevel);

    public sealed record CertificateBundle(string Cert, string? Key, string Ca, DateTime ExpiresAt);

    public sealed record RegisterResponse(Guid AgentId, string Token, AgentConfig Config, CertificateBundle Certificate);
}

public static partial class RegistrationTokenEndpoints
{
    public sealed record CreateTokenRequest(string? Description, int? ExpiresInMinutes, int? MaxUses, Dictionary<string, string?>? Labels);

    public sealed record CreatedTokenResponse(Guid Id, string Token, DateTime ExpiresAt, int MaxUses);

    public sealed record TokenResponse(
        Guid Id, string? Description, DateTime CreatedAt, DateTime ExpiresAt, int MaxUses, int Uses, DateTime? RevokedAt,
        string CreatedBy, Dictionary<string, string>? Labels);

    public sealed record DeletedResponse(bool Deleted);
}
