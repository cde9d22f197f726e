namespace Orchestrator.Registration;

public sealed class RegistrationToken
{
    public Guid Id { get; set; }

    /// <summary>SHA-256 of the token; the token itself is shown once and never stored.</summary>
    public required byte[] TokenHash { get; set; }
    public string? Description { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime ExpiresAt { get; set; }
    public int MaxUses { get; set; } = 1;
    public int Uses { get; set; }
    public DateTime? RevokedAt { get; set; }
    public required string CreatedBy { get; set; }

    /// <summary>Labels given to agents registering with this token (JSON object).</summary>
    public string? LabelsJson { get; set; }

    /// <summary>Set on a token for re-enrolling that agent: it re-enrols that agent only, and re-enrolment needs one.
    /// Not a foreign key: the token outlives the agent's deletion, unusable, in the list and the audit trail.</summary>
    public Guid? AgentId { get; set; }
}
