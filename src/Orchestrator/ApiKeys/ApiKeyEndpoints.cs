using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.ApiKeys;

public static class ApiKeyEndpoints
{
    public static RouteGroupBuilder MapApiKeys(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapOperatorRoutes("/api/v1/api-keys", "API keys").RequireAuthorization(Policies.Admin);

        group.MapPost("/", Create)
            .WithSummary("Create an API key")
            .WithDescription(ApiKeyDocs.Create)
            .ProducesValidationProblem();
        group.MapGet("/", List)
            .WithSummary("List active API keys (without the keys)")
            .ProducesValidationProblem();
        group.MapDelete("/{id}", Revoke)
            .WithSummary("Revoke an API key")
            .WithDescription(ApiKeyDocs.Revoke)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return group;
    }

    private static async Task<Results<Created<CreatedApiKeyResponse>, ValidationProblem>> Create(
        CreateApiKeyRequest request, HttpContext context, OrchestratorDbContext db, AuditLog audit, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var errors = new Validation()
            .RequireText(request.Name, "name", 128)
            .Require(request.Role is not null, "role", "'role' is required: viewer, operator or admin.");
        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        var secret = Secrets.New("ork");
        var key = new ApiKey
        {
            Id = Guid.CreateVersion7(),
            Name = request.Name!.Trim(),
            Role = request.Role!.Value,
            KeyHash = Secrets.Hash(secret),
            CreatedAt = time.GetUtcNow().UtcDateTime,
            CreatedBy = context.User.Actor(),
        };
        db.ApiKeys.Add(key);
        audit.Record(context.User, "apikey.created", "apikey", key.Id.ToString(), new { key.Name, role = key.Role });
        await db.SaveChangesAsync(cancellationToken);

        return TypedResults.Created($"/api/v1/api-keys/{key.Id}", new CreatedApiKeyResponse(key.Id, key.Name, key.Role, secret, key.CreatedAt));
    }

    private static async Task<Results<Ok<List<ApiKeyResponse>>, ValidationProblem>> List(
        HttpContext context, OrchestratorDbContext db, CancellationToken cancellationToken)
    {
        if (!Page.TryRead(context.Request, out var page, out var errors) || !page.TryAfterId(errors, out var after))
        {
            return errors.ToProblem();
        }

        var query = db.ApiKeys.AsNoTracking().Where(k => k.RevokedAt == null);
        if (after is { } cursor)
        {
            query = query.Where(k => k.Id.CompareTo(cursor) > 0);
        }

        var rows = await query.OrderBy(k => k.Id).Take(page.Limit + 1)
            .Select(k => new ApiKeyResponse(k.Id, k.Name, k.Role, k.CreatedAt, k.CreatedBy))
            .ToListAsync(cancellationToken);
        return TypedResults.Ok(page.Finish(context, rows, k => k.Id.ToString()));
    }

    private static async Task<Results<Ok<DeletedResponse>, ProblemHttpResult>> Revoke(
        Guid id, HttpContext context, OrchestratorDbContext db, AuditLog audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == id && k.RevokedAt == null, cancellationToken);
        if (key is null)
        {
            return Problems.NotFound($"No active API key has id {id}.");
        }

        if (key.Role == ApiKeyRole.Admin &&
            !await db.ApiKeys.AnyAsync(k => k.Id != id && k.Role == ApiKeyRole.Admin && k.RevokedAt == null, cancellationToken))
        {
            return Problems.Conflict("This is the last active admin key; create another admin key before revoking it.");
        }

        key.RevokedAt = time.GetUtcNow().UtcDateTime;
        audit.Record(context.User, "apikey.revoked", "apikey", key.Id.ToString(), new { key.Name });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(new DeletedResponse(true));
    }
}
