using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Agents;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Registration;

public static class RegistrationTokenEndpoints
{
    public const int MaxExpiresInMinutes = 1440;
    public const int MaxUsesLimit = 10_000;

    public static RouteGroupBuilder MapRegistrationTokens(this IEndpointRouteBuilder routes)
    {
        // Viewers read everything but secrets (DESIGN: viewer = reads); creating and revoking is operators' work.
        var group = routes.MapOperatorRoutes("/api/v1/registration-tokens", "Registration tokens").RequireAuthorization(Policies.Viewer);
        group.MapPost("/", Create).RequireAuthorization(Policies.Operator).CarriesSecrets()
            .WithSummary("Create a registration token")
            .WithDescription(RegistrationDocs.CreateToken)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/", List)
            .Paged()
            .WithSummary("List registration tokens (without the tokens)")
            .ProducesValidationProblem();
        group.MapDelete("/{id}", Revoke).RequireAuthorization(Policies.Operator)
            .WithSummary("Revoke a registration token")
            .WithDescription(RegistrationDocs.RevokeToken)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    private static async Task<Results<Created<CreatedTokenResponse>, ValidationProblem, ProblemHttpResult>> Create(
        CreateTokenRequest request, HttpContext context, OrchestratorDbContext db, AuditLog audit, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var errors = new Validation()
            .Require(request.Description is null || request.Description.Length <= 512, "description", "'description' must be at most 512 characters.")
            .Require(request.ExpiresInMinutes is null or (>= 1 and <= MaxExpiresInMinutes), "expiresInMinutes",
                $"'expiresInMinutes' must be from 1 to {MaxExpiresInMinutes}.")
            .Require(request.MaxUses is null or (>= 1 and <= MaxUsesLimit), "maxUses", $"'maxUses' must be from 1 to {MaxUsesLimit}.")
            .ValidateLabels(request.Labels);
        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        if (request.AgentId is { } agentId && !await db.Agents.AnyAsync(a => a.Id == agentId, cancellationToken))
        {
            return Problems.NotFound($"'agentId': no agent has id {agentId}.");
        }

        var secret = Secrets.New("orr");
        var now = time.GetUtcNow().UtcDateTime;
        var token = new RegistrationToken
        {
            Id = Guid.CreateVersion7(),
            TokenHash = Secrets.Hash(secret),
            Description = request.Description,
            CreatedAt = now,
            ExpiresAt = now.AddMinutes(request.ExpiresInMinutes ?? MaxExpiresInMinutes),
            MaxUses = request.MaxUses ?? 1,
            CreatedBy = context.User.Actor(),
            LabelsJson = request.Labels is { Count: > 0 } ? JsonSerializer.Serialize(request.Labels, WireJson.Options) : null,
            AgentId = request.AgentId,
        };
        db.RegistrationTokens.Add(token);
        audit.Record(context.User, "registration-token.created", "registration-token", token.Id.ToString(),
            new { token.Description, token.ExpiresAt, token.MaxUses, token.AgentId });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/registration-tokens/{token.Id}",
            new CreatedTokenResponse(token.Id, secret, token.ExpiresAt, token.MaxUses, token.AgentId));
    }

    private static async Task<Results<Ok<List<TokenResponse>>, ValidationProblem>> List(
        HttpContext context, OrchestratorDbContext db, CancellationToken cancellationToken)
    {
        if (!Page.TryRead(context.Request, out var page, out var errors) || !page.TryAfterId(errors, out var after))
        {
            return errors.ToProblem();
        }

        var query = db.RegistrationTokens.AsNoTracking();
        if (after is { } cursor)
        {
            query = query.Where(t => t.Id.CompareTo(cursor) > 0);
        }

        var rows = await query.OrderBy(t => t.Id).Take(page.Limit + 1).ToListAsync(cancellationToken);
        var answer = rows.Select(t => new TokenResponse(t.Id, t.Description, t.CreatedAt, t.ExpiresAt, t.MaxUses, t.Uses, t.RevokedAt, t.CreatedBy,
            RegistrationTokens.LabelsOf(t), t.AgentId)).ToList();
        return TypedResults.Ok(page.Finish(context, answer, t => t.Id.ToString()));
    }

    private static async Task<Results<Ok<DeletedResponse>, ProblemHttpResult>> Revoke(
        Guid id, HttpContext context, OrchestratorDbContext db, AuditLog audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var token = await db.RegistrationTokens.FirstOrDefaultAsync(t => t.Id == id && t.RevokedAt == null, cancellationToken);
        if (token is null)
        {
            return Problems.NotFound($"No active registration token has id {id}.");
        }

        token.RevokedAt = time.GetUtcNow().UtcDateTime;
        audit.Record(context.User, "registration-token.revoked", "registration-token", token.Id.ToString());
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(new DeletedResponse(true));
    }
}

/// <summary>Registration token storage: the atomic consumption is the one query that matters.</summary>
public static class RegistrationTokens
{
    /// <summary>The token presented, when it can still register an agent (known, not revoked, not expired, a use left);
    /// read only: its use is taken by <see cref="RegistrationTokenUses"/>.</summary>
    public static async Task<RegistrationToken?> FindUsableAsync(
        OrchestratorDbContext db, string presented, DateTime now, CancellationToken cancellationToken)
    {
        if (presented.Length is 0 or > 256)
        {
            return null;
        }

        var hash = Secrets.Hash(presented);
        var token = await db.RegistrationTokens.AsNoTracking()
            .Where(t => t.TokenHash == hash && t.RevokedAt == null && t.ExpiresAt > now && t.Uses < t.MaxUses)
            .FirstOrDefaultAsync(cancellationToken);
        // The lookup is by hash; the constant-time comparison keeps the decision itself free of timing signals.
        return token is not null && Secrets.Matches(token.TokenHash, presented) ? token : null;
    }

    public static Dictionary<string, string>? LabelsOf(RegistrationToken token) =>
        token.LabelsJson is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(token.LabelsJson, WireJson.Options);
}
