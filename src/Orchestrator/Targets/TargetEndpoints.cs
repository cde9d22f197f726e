using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Targets;

public static class TargetEndpoints
{
    public const int MaxPropertiesBytes = 16 * 1024;

    public static RouteGroupBuilder MapTargets(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapOperatorRoutes("/api/v1/targets", "Targets");

        group.MapPost("/", Create).RequireAuthorization(Policies.Operator)
            .WithSummary("Create a deployment target assigned to an agent")
            .WithDescription(TargetDocs.Create)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("/", List).RequireAuthorization(Policies.Viewer)
            .Paged()
            .WithSummary("List targets")
            .WithDescription(TargetDocs.List)
            .ProducesValidationProblem();
        group.MapGet("/{id}", Get).RequireAuthorization(Policies.Viewer)
            .WithSummary("Get a target")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", Delete).RequireAuthorization(Policies.Operator)
            .WithSummary("Delete a target")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    private static async Task<Results<Created<TargetResponse>, ValidationProblem, ProblemHttpResult>> Create(
        CreateTargetRequest request, HttpContext context, OrchestratorDbContext db, ITargetAgents agents, AuditLog audit, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var errors = new Validation()
            .RequireText(request.Name, "name", 128)
            .RequireText(request.Type, "type", 64)
            .Require(request.AgentId is not null, "agentId", "'agentId' is required.");
        string? properties = null;
        if (request.Properties is { ValueKind: not JsonValueKind.Null } given)
        {
            properties = given.GetRawText();
            errors.Require(given.ValueKind == JsonValueKind.Object, "properties", "'properties' must be a JSON object.")
                .Require(System.Text.Encoding.UTF8.GetByteCount(properties) <= MaxPropertiesBytes, "properties",
                    $"'properties' must be at most {MaxPropertiesBytes} bytes.")
                .RequireShallow(given, "properties");
        }

        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        var agentId = request.AgentId!.Value;
        if (!await agents.ExistsAsync(agentId, cancellationToken))
        {
            return Problems.NotFound($"'agentId': no agent has id {agentId}.");
        }

        var name = request.Name!.Trim();
        if (await db.Targets.AnyAsync(t => t.Name == name, cancellationToken))
        {
            return Problems.Conflict($"A target named '{name}' already exists.");
        }

        var target = new Target
        {
            Id = Guid.CreateVersion7(),
            Name = name,
            Type = request.Type!.Trim(),
            AgentId = agentId,
            PropertiesJson = properties,
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        db.Targets.Add(target);
        audit.Record(context.User, "target.created", "target", target.Id.ToString(), new { target.Name, target.Type, target.AgentId });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            if (await NameTakenOrAgentGoneAsync(db, agents, target, cancellationToken) is { } problem)
            {
                return problem;
            }

            throw;
        }

        return TypedResults.Created($"/api/v1/targets/{target.Id}", ToResponse(target));
    }

    // A concurrent create of the same name, or the agent deleted in between, lose the race at the database.
    private static async Task<ProblemHttpResult?> NameTakenOrAgentGoneAsync(
        OrchestratorDbContext db, ITargetAgents agents, Target target, CancellationToken cancellationToken)
    {
        db.ChangeTracker.Clear();
        if (await db.Targets.AnyAsync(t => t.Name == target.Name, cancellationToken))
        {
            return Problems.Conflict($"A target named '{target.Name}' already exists.");
        }

        return await agents.ExistsAsync(target.AgentId!.Value, cancellationToken)
            ? null
            : Problems.NotFound($"'agentId': no agent has id {target.AgentId}.");
    }

    private static async Task<Results<Ok<List<TargetResponse>>, ValidationProblem>> List(
        HttpContext context, OrchestratorDbContext db, Guid? agentId, string? type, CancellationToken cancellationToken)
    {
        if (!Page.TryRead(context.Request, out var page, out var errors))
        {
            return errors.ToProblem();
        }

        var query = db.Targets.AsNoTracking();
        if (agentId is not null)
        {
            query = query.Where(t => t.AgentId == agentId);
        }

        if (!string.IsNullOrEmpty(type))
        {
            query = query.Where(t => t.Type == type);
        }

        if (page.After is not null)
        {
            query = query.Where(t => string.Compare(t.Name, page.After) > 0);
        }

        var rows = await query.OrderBy(t => t.Name).Take(page.Limit + 1).ToListAsync(cancellationToken);
        return TypedResults.Ok(page.Finish(context, rows.Select(ToResponse).ToList(), t => t.Name));
    }

    private static async Task<Results<Ok<TargetResponse>, ProblemHttpResult>> Get(
        Guid id, OrchestratorDbContext db, CancellationToken cancellationToken) =>
        await db.Targets.AsNoTracking().FirstOrDefaultAsync(t => t.Id == id, cancellationToken) is { } target
            ? TypedResults.Ok(ToResponse(target))
            : Problems.NotFound($"No target has id {id}.");

    private static async Task<Results<Ok<DeletedResponse>, ProblemHttpResult>> Delete(
        Guid id, HttpContext context, OrchestratorDbContext db, AuditLog audit, CancellationToken cancellationToken)
    {
        var target = await db.Targets.FirstOrDefaultAsync(t => t.Id == id, cancellationToken);
        if (target is null)
        {
            return Problems.NotFound($"No target has id {id}.");
        }

        db.Targets.Remove(target);
        audit.Record(context.User, "target.deleted", "target", id.ToString(), new { target.Name });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(new DeletedResponse(true));
    }

    private static TargetResponse ToResponse(Target target) => new(
        target.Id, target.Name, target.Type, target.AgentId,
        target.PropertiesJson is null ? null : JsonDocument.Parse(target.PropertiesJson).RootElement.Clone(),
        target.CreatedAt);
}
