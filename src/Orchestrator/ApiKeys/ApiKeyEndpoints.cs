using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.ApiKeys;

public static class ApiKeyEndpoints
{
    public static RouteGroupBuilder MapApiKeys(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapOperatorRoutes("/api/v1/api-keys", "API keys").RequireAuthorization(Policies.Admin);

        group.MapPost("/", Create)
            .CarriesSecrets()
            .WithSummary("Create an API key")
            .WithDescription(ApiKeyDocs.Create)
            .ProducesValidationProblem();
        group.MapGet("/", List)
            .Paged()
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
        var now = time.GetUtcNow().UtcDateTime;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // "Another admin remains" and the revocation are one step: the check is inside the UPDATE, and revocations
        // are serialised (a PostgreSQL advisory lock; SQLite has one writer), so two admins revoking each other at
        // once cannot both see the other as the one that remains. The UPDATE alone would not do on PostgreSQL:
        // under READ COMMITTED each statement's EXISTS reads a snapshot without the other's uncommitted revocation.
        await ClusterLocks.TakeAsync(db, "apikeys.revoke", cancellationToken);
        var keys = db.ApiKeys;
        var revoked = await keys
            .Where(k => k.Id == id && k.RevokedAt == null &&
                        (k.Role != ApiKeyRole.Admin || keys.Any(o => o.Id != id && o.Role == ApiKeyRole.Admin && o.RevokedAt == null)))
            .ExecuteUpdateAsync(u => u.SetProperty(k => k.RevokedAt, now), cancellationToken);
        if (revoked == 0)
        {
            // Only to say why: nothing changed, whatever this read finds.
            return await db.ApiKeys.AnyAsync(k => k.Id == id && k.RevokedAt == null, cancellationToken)
                ? Problems.Conflict("This is the last active admin key; create another admin key before revoking it.")
                : Problems.NotFound($"No active API key has id {id}.");
        }

        var name = await db.ApiKeys.Where(k => k.Id == id).Select(k => k.Name).SingleAsync(cancellationToken);
        audit.Record(context.User, "apikey.revoked", "apikey", id.ToString(), new { name });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(new DeletedResponse(true));
    }
}
