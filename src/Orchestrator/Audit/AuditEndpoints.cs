using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Audit;

public static class AuditEndpoints
{
    public static RouteGroupBuilder MapAudit(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapOperatorRoutes("/api/v1/audit", "Audit").RequireAuthorization(Policies.Admin);
        group.MapGet("/", List).WithName("listAuditEvents")
            .Paged()
            .WithSummary("List audit events, newest first")
            .WithDescription(AuditDocs.List)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return group;
    }

    private static async Task<Results<Ok<List<AuditEventResponse>>, ValidationProblem>> List(
        HttpContext context, OrchestratorDbContext db, string? action, string? subjectId, CancellationToken cancellationToken)
    {
        if (!Page.TryRead(context.Request, out var page, out var errors))
        {
            return errors.ToProblem();
        }

        var query = db.AuditEvents.AsNoTracking();
        if (page.After is not null)
        {
            if (!long.TryParse(page.After, NumberStyles.None, CultureInfo.InvariantCulture, out var afterId))
            {
                return new Validation().Add("after", "'after' is not a cursor this service issued.").ToProblem();
            }

            query = query.Where(e => e.Id < afterId);
        }

        if (!string.IsNullOrEmpty(action))
        {
            query = query.Where(e => e.Action == action);
        }

        if (!string.IsNullOrEmpty(subjectId))
        {
            query = query.Where(e => e.SubjectId == subjectId);
        }

        var rows = await query.OrderByDescending(e => e.Id).Take(page.Limit + 1).ToListAsync(cancellationToken);
        var events = page.Finish(context, rows, e => e.Id.ToString(CultureInfo.InvariantCulture));
        return TypedResults.Ok(events.Select(e => new AuditEventResponse(
            e.Id, e.Timestamp, e.Actor, e.Action, e.SubjectType, e.SubjectId,
            e.DetailsJson is null ? null : JsonDocument.Parse(e.DetailsJson).RootElement.Clone())).ToList());
    }
}
