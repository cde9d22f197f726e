using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Agents;
using Orchestrator.Audit;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Http;

namespace Orchestrator.Registration;

public static class RegisterEndpoint
{
    public const string TokenHeader = "X-Agent-Token";

    public static RouteHandlerBuilder MapRegister(this IEndpointRouteBuilder routes) =>
        routes.MapPost("/api/v1/agents/register", Register)
            .WithTags("Registration")
            .AllowAnonymous()
            .CarriesSecrets()
            .WithMetadata(new RegistrationRateLimit.Applies())
            .WithSummary("Register an agent with a registration token")
            .WithDescription(RegistrationDocs.Register)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

    private const string BadToken = "The registration token is unknown, expired, revoked or used up.";

    private static async Task<Results<Created<RegisterResponse>, ValidationProblem, ProblemHttpResult>> Register(
        RegisterRequest request,
        [FromHeader(Name = TokenHeader)] string? registrationToken,
        HttpContext context,
        OrchestratorDbContext db,
        AgentCredentials credentials,
        AuditLog audit,
        IOptions<AgentOptions> agentOptions,
        TimeProvider time,
        RegistrationMetrics metrics,
        RegistrationTokenUses tokenUses,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(registrationToken))
        {
            metrics.Outcome("no_token");
            return Problems.Unauthorized($"A registration token is required in the {TokenHeader} header.");
        }

        var errors = new Validation()
            .ValidateName(request.Name)
            .ValidateVersion(request.Version)
            .ValidateCapabilities(request.Capabilities)
            .ValidateLabels(request.Labels);
        var taskTypes = AgentRules.CheckTaskTypes(request.TaskTypes, "taskTypes", errors) ?? [];
        var missing = AgentRules.CheckMissingCapabilities(request.MissingCapabilities, "missingCapabilities", errors)
            ?? new SortedDictionary<string, string>();
        if (!errors.IsValid)
        {
            metrics.Outcome("invalid_request");
            return errors.ToProblem();
        }

        var name = request.Name!.Trim();
        var now = time.GetUtcNow().UtcDateTime;
        var token = await RegistrationTokens.FindUsableAsync(db, registrationToken, now, cancellationToken);
        if (token is null)
        {
            metrics.Outcome("bad_token");
            return Problems.Unauthorized(BadToken);
        }

        // Only a caller with a good token gets the CSR parsed.
        if (!AgentCredentials.ValidateCsr(errors, request.Csr).IsValid)
        {
            return errors.ToProblem();
        }

        // The use is taken before the transaction, in a statement of its own (see RegistrationTokenUses), and given back
        // by every refusal below when the use is disposed; it is spent only by the commit. A use taken meanwhile by other
        // registrations leaves this one refused, as if the token had been used up when it arrived.
        await using var use = await tokenUses.TakeAsync(token.Id);
        if (use is null)
        {
            metrics.Outcome("bad_token");
            return Problems.Unauthorized(BadToken);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        var labels = RegistrationTokens.LabelsOf(token) ?? [];
        foreach (var (key, value) in request.Labels ?? [])
        {
            labels[key] = value!;
        }

        var capabilities = (request.Capabilities ?? []).Select(c => c!).ToList();
        var agent = await db.Agents.FirstOrDefaultAsync(a => a.Name == name, cancellationToken);
        var reenrolled = false;
        if (token.AgentId is { } boundTo && agent?.Id != boundTo)
        {
            metrics.Outcome("token_for_another_agent");
            return Problems.Conflict(
                $"The registration token was issued for re-enrolling agent {boundTo}, not for registering '{name}'.");
        }

        if (agent is not null)
        {
            // Held until this registration commits: the agent's deletion waits for it (and then revokes what it issued),
            // or has removed the agent already. The row is read again under the hold.
            if (!await AgentRows.HoldAsync(db, agent.Id, cancellationToken))
            {
                metrics.Outcome("name_conflict");
                return Problems.ConflictForNow(context, TimeSpan.FromSeconds(1),
                    $"The agent named '{name}' was deleted while this registration ran; register again.");
            }

            await db.Entry(agent).ReloadAsync(cancellationToken);
            var live = await db.IssuedCertificates.AnyAsync(c => c.AgentId == agent.Id && c.NotAfter > now && c.RevokedAt == null, cancellationToken);
            if (live)
            {
                metrics.Outcome("name_conflict");
                return Problems.Conflict($"An agent named '{name}' is already registered.");
            }

            if (agent.Status != AgentStatus.Offline)
            {
                // Its certificates have expired, so it can no longer heartbeat: it is offline once its liveness window
                // closes (and the monitor's next pass sees it), and re-enrolment can go ahead then.
                metrics.Outcome("name_conflict");
                var offlineBy = (agent.LastHeartbeat ?? now) + agentOptions.Value.OfflineAfter + agentOptions.Value.HeartbeatInterval;
                return Problems.ConflictForNow(context, offlineBy - now,
                    $"An agent named '{name}' is registered ({agent.Id}) and still counted {agent.Status.ToString().ToLowerInvariant()}; " +
                    "its certificates have expired, so it goes offline within its liveness window: retry after Retry-After.");
            }

            if (token.AgentId != agent.Id)
            {
                metrics.Outcome("reenrolment_needs_agent_token");
                return Problems.Conflict(
                    $"An agent named '{name}' is already registered ({agent.Id}, offline, its certificates expired). Re-enrolling " +
                    $"it needs a registration token issued for it: POST /api/v1/registration-tokens with \"agentId\": \"{agent.Id}\".");
            }

            // Away longer than its certificates live: the same agent comes back under the same id.
            await db.AgentLabels.Where(l => l.AgentId == agent.Id).ExecuteDeleteAsync(cancellationToken);
            await db.AgentCapabilities.Where(c => c.AgentId == agent.Id).ExecuteDeleteAsync(cancellationToken);
            agent.Version = request.Version!.Trim();
            reenrolled = true;
        }
        else
        {
            agent = new Agent { Id = Guid.CreateVersion7(), Name = name, Version = request.Version!.Trim(), RegisteredAt = now };
            db.Agents.Add(agent);
        }

        agent.Status = AgentStatus.Online;
        agent.StatusChangedAt = now;
        agent.LastHeartbeat = now;
        agent.TaskTypes = AgentRules.StoredTaskTypes(taskTypes);
        agent.MissingCapabilities = AgentRules.StoredMissingCapabilities(missing);
        db.AgentLabels.AddRange(labels.Select(l => new AgentLabel { AgentId = agent.Id, Key = l.Key, Value = l.Value }));
        db.AgentCapabilities.AddRange(capabilities.Select(c => new AgentCapability { AgentId = agent.Id, Name = c }));
        audit.Record($"registration-token:{token.Id}", reenrolled ? "agent.reenrolled" : "agent.registered", "agent", agent.Id.ToString(),
            new { name, version = agent.Version, capabilities, taskTypes, missingCapabilities = missing, tokenId = token.Id });

        IssuedCredentials issued;
        try
        {
            issued = await credentials.IssueAsync(agent.Id, request.Csr, cancellationToken);
        }
        catch (DbUpdateException ex) when (ConstraintViolations.IsUniqueViolation(ex))
        {
            // Another registration of this name committed first; this one rolls back, its token unused.
            metrics.Outcome("name_conflict");
            return Problems.Conflict($"An agent named '{name}' is already registered.");
        }

        use.Spend();
        await transaction.CommitAsync(cancellationToken);
        metrics.Outcome(reenrolled ? "reenrolled" : "registered");
        loggers.CreateLogger(typeof(RegisterEndpoint).FullName!).AgentRegistered(name, agent.Id, reenrolled ? "re-enrolled" : "registered", token.Id);

        var settings = agentOptions.Value;
        return TypedResults.Created($"/api/v1/agents/{agent.Id}", new RegisterResponse(
            agent.Id,
            issued.Token,
            new AgentConfig((int)settings.HeartbeatInterval.TotalSeconds, (int)settings.TaskPollInterval.TotalSeconds, settings.LogLevel),
            new CertificateBundle(issued.CertificatePem, issued.PrivateKeyPem, issued.CaPem, issued.ExpiresAt)));
    }
}
