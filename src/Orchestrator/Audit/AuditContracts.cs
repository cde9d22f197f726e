using System.Text.Json;

namespace Orchestrator.Audit;

// The audit endpoints' wire records, nested in AuditEndpoints so their published OpenAPI schema names stay as they are.
public static partial class AuditEndpoints
{
    public sealed record AuditEventResponse(
        long Id, DateTime Timestamp, string Actor, string Action, string SubjectType, string? SubjectId, JsonElement? Details);
}
