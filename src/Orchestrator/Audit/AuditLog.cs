using System.Security.Claims;
using System.Text.Json;
using Orchestrator.Data;
using Orchestrator.Security;

namespace Orchestrator.Audit;

/// <summary>Adds audit events to the caller's unit of work, so an event is saved exactly when its change is.</summary>
public sealed class AuditLog(OrchestratorDbContext db, TimeProvider time)
{
    public void Record(ClaimsPrincipal user, string action, string subjectType, string? subjectId, object? details = null) =>
        Record(user.Actor(), action, subjectType, subjectId, details);

    public void Record(string actor, string action, string subjectType, string? subjectId, object? details = null) =>
        db.AuditEvents.Add(new AuditEvent
        {
            Timestamp = time.GetUtcNow().UtcDateTime,
            Actor = actor,
            Action = action,
            SubjectType = subjectType,
            SubjectId = subjectId,
            DetailsJson = details is null ? null : JsonSerializer.Serialize(details, Http.WireJson.Options),
        });
}
