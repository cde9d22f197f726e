namespace Orchestrator.ApiKeys;

public sealed class ApiKey
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public ApiKeyRole Role { get; set; }

    /// <summary>SHA-256 of the key; keys are 256-bit random values, so a fast hash is enough.</summary>
    public required byte[] KeyHash { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    public required string CreatedBy { get; set; }
}
