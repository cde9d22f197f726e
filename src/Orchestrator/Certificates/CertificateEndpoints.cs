using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Certificates;

public static class CertificateEndpoints
{
    public static RouteGroupBuilder MapCertificateAuthority(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/ca").WithTags("Certificate authority");
        group.MapGet("/", TrustBundle)
            .AllowAnonymous()
            .WithSummary("The CA trust bundle (PEM)")
            .WithDescription(CertificateDocs.TrustBundle)
            .Produces<string>(StatusCodes.Status200OK, "application/x-pem-file");
        // HEAD as monitors and `curl -I` use it; one operation in the document (GET) describes both.
        group.MapMethods("/", [HttpMethods.Head], TrustBundle).AllowAnonymous().ExcludeFromDescription();
        group.MapPost("/rotate", Rotate)
            .RequireAuthorization(Policies.Admin)
            .WithSummary("Rotate the CA root and the token signing key")
            .WithDescription(CertificateDocs.Rotate)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return group;
    }

    /// <summary>Agent routes about the caller's own credentials, added to the agent group.</summary>
    public static RouteGroupBuilder MapAgentCredentials(this RouteGroupBuilder agent)
    {
        var group = agent.MapGroup("").WithTags(ApiRoutes.AgentTag("credentials"));
        group.MapGet("/identity", Identity)
            .WithSummary("Who the agent's credentials say it is")
            .WithDescription(CertificateDocs.Identity);
        group.MapPost("/certificate/renew", Renew)
            .WithSummary("Renew the agent's certificate and token")
            .WithDescription(CertificateDocs.Renew)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        return group;
    }

    private static async Task<ContentHttpResult> TrustBundle(CertificateAuthority ca, CancellationToken cancellationToken) =>
        TypedResults.Text(await ca.TrustBundlePemAsync(cancellationToken), "application/x-pem-file");

    private static async Task<Results<Ok<RotatedResponse>, ProblemHttpResult>> Rotate(
        HttpContext context, OrchestratorDbContext db, CertificateAuthority ca, AgentTokens tokens, AuditLog audit, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var activatesAt = now + ca.RotationOverlap;
        var root = ca.NewRoot(db, activatesAt);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await ClusterLocks.TakeAsync(db, "ca.root", cancellationToken);
        var pending = await db.CaRoots.AsNoTracking().Where(r => r.Id != root.Id && r.ActivatesAt > now).FirstOrDefaultAsync(cancellationToken);
        if (pending is not null)
        {
            return Problems.Conflict(
                $"A rotation is already under way: root {pending.Id} starts signing at {pending.ActivatesAt:u}. Rotate again after that.");
        }

        var retiring = await db.CaRoots.Where(r => r.RetiredAt == null && r.Id != root.Id).ToListAsync(cancellationToken);
        foreach (var old in retiring)
        {
            old.RetiredAt = activatesAt;
        }

        var signingKey = await tokens.RotateAsync(db, cancellationToken);
        audit.Record(context.User, "ca.rotated", "ca", root.Id.ToString(),
            new { notAfter = root.NotAfter, activatesAt, retired = retiring.Select(r => r.Id), tokenSigningKey = signingKey });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        await ca.AnnounceChangeAsync(cancellationToken);
        await tokens.AnnounceChangeAsync(cancellationToken);
        return TypedResults.Ok(
            new RotatedResponse(root.Id, root.CertificatePem, root.NotAfter, activatesAt, [.. retiring.Select(r => r.Id)], signingKey));
    }

    private static Ok<IdentityResponse> Identity(HttpContext context) =>
        TypedResults.Ok(new IdentityResponse(context.User.AgentId(), context.User.CertificateSerialOf(), context.User.CertificateExpiresAt()));

    private static async Task<Results<Ok<RenewalResponse>, ValidationProblem, ProblemHttpResult>> Renew(
        RenewRequest? request, HttpContext context, AgentCredentials credentials, CancellationToken cancellationToken)
    {
        var errors = AgentCredentials.ValidateCsr(new Validation(), request?.Csr);
        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        var issued = await credentials.RenewAsync(context.User, request?.Csr, cancellationToken);
        return issued is null ? Problems.Unauthorized(AgentCredentials.RevokedDetail) : TypedResults.Ok(issued.ToRenewal());
    }
}
