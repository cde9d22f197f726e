namespace Orchestrator.Audit;

public sealed class AuditEvent
{
    public long Id { get; set; }
    public DateTime Timestamp { get; set; }

    /// <summary>Who did it: <c>apikey:&lt;name&gt;</c>, <c>agent:&lt;id&gt;</c> or <c>system</c>.</summary>
    public required string Actor { get; set; }

    /// <summary>Dotted verb such as <c>apikey.created</c>.</summary>
    public required string Action { get; set; }
    public required string SubjectType { get; set; }
    public string? SubjectId { get; set; }

    /// <summary>Extra facts as a JSON object; never a secret.</summary>
    public string? DetailsJson { get; set; }
}
