using System.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Http;
using Orchestrator.Security;
using Orchestrator.Tasks;

namespace Orchestrator.Agents;

public static class AgentEndpoints
{
    private const int MaxDrainReasonLength = 512;

    public static RouteGroupBuilder MapAgents(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapOperatorRoutes("/api/v1/agents", "Agents");

        group.MapGet("/", List).RequireAuthorization(Policies.Viewer)
            .Paged()
            .WithQuery(
                QueryParameter.OneOf<AgentStatus>("status", "Only agents in this state."),
                new QueryParameter("label", "Only agents with this label, as key=value; repeat for several (all must match).") { Repeats = true },
                new QueryParameter("capability", "Only agents with this capability; repeat for several (all must match).")
                {
                    Repeats = true, Allowed = [.. AgentRules.KnownCapabilities.Order(StringComparer.Ordinal)],
                })
            .WithSummary("List agents")
            .WithDescription(AgentDocs.List)
            .ProducesValidationProblem();
        group.MapGet("/{id}", Get).RequireAuthorization(Policies.Viewer)
            .WithSummary("Get an agent's details")
            .WithDescription(AgentDocs.Get)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{id}", Update).RequireAuthorization(Policies.Operator)
            .WithSummary("Update an agent's labels and capabilities")
            .WithDescription(AgentDocs.Update)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", Delete).RequireAuthorization(Policies.Operator)
            .WithSummary("Delete an agent and revoke its credentials")
            .WithDescription(AgentDocs.Delete)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{id}/drain", Drain).RequireAuthorization(Policies.Operator)
            .WithSummary("Drain an agent")
            .WithDescription(AgentDocs.Drain)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{id}/resume", Resume).RequireAuthorization(Policies.Operator)
            .WithSummary("Resume a drained agent")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    /// <summary>The agent's heartbeat, added to the agent group.</summary>
    public static RouteGroupBuilder MapHeartbeat(this RouteGroupBuilder agent)
    {
        var group = agent.MapGroup("").WithTags(ApiRoutes.AgentTag("heartbeat"));
        group.MapPost("/heartbeat", SendHeartbeat)
            .WithSummary("Send a heartbeat (agent)")
            .WithDescription(AgentDocs.Heartbeat)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    // The answer to nearly every heartbeat, made once: Ok<T> and the response are immutable.
    private static readonly Ok<HeartbeatResponse> NothingToSay = TypedResults.Ok(new HeartbeatResponse([], [], null));

    private static async Task<Results<Ok<HeartbeatResponse>, ValidationProblem, ProblemHttpResult>> SendHeartbeat(
        Guid id, HeartbeatRequest request, HttpContext context, HeartbeatProcessor processor, AgentWorkHints hints,
        IOptions<CertificateOptions> certificates, AgentMetrics metrics, TimeProvider time, CancellationToken cancellationToken)
    {
        var startedAt = Stopwatch.GetTimestamp();
        using var roundTrips = DatabaseRoundTrips.Count();
        if (!Heartbeat.TryRead(request, out var heartbeat, out var errors) || !AgentCredentials.ValidateCsr(errors, heartbeat.Csr).IsValid)
        {
            return errors.ToProblem();
        }

        if (!await processor.ProcessAsync(id, heartbeat, cancellationToken))
        {
            return NoSuchAgent(id);
        }

        // The liveness part is done (in memory: the buffer is written when the database answers again). If the
        // database cannot hand out work right now, the heartbeat is still answered, with no work: the tasks wait for
        // the next heartbeat, and the agent is not sent into a retry loop for what it came to report.
        // An agent known to have nothing waiting (nearly every heartbeat) is answered without building the delivery
        // service and its database context, as renewal below is.
        var assigned = AgentWork.None;
        if (!hints.KnowsIdle(id))
        {
            try
            {
                assigned = await context.RequestServices.GetRequiredService<TaskDelivery>()
                    .TakeForAgentAsync(id, trustIdleHint: true, resendUnstarted: false, "heartbeat", cancellationToken);
            }
            catch (Exception ex) when (TransientFailures.IsTransient(ex))
            {
                assigned = AgentWork.None;
            }
        }

        // The same rule as AgentCredentials.IsRenewalDue, decided from the principal so that a routine heartbeat does
        // not build the credentials service (and its database context) only to learn that nothing is due. A CSR for
        // a new key is a rotation the agent asks for now.
        RenewalResponse? renewal = null;
        if (context.User.CertificateExpiresAt() - time.GetUtcNow().UtcDateTime <= certificates.Value.RenewBefore ||
            AgentCredentials.RotatesKey(context.User, heartbeat.Csr))
        {
            var credentials = context.RequestServices.GetRequiredService<AgentCredentials>();
            try
            {
                var renewed = await credentials.RenewAsync(context.User, heartbeat.Csr, cancellationToken);
                if (renewed is null)
                {
                    // Revoked or deleted since this heartbeat was authenticated: the agent hears so now.
                    return Problems.Unauthorized(AgentCredentials.RevokedDetail);
                }

                renewal = renewed.ToRenewal();
            }
            catch (Exception ex) when (TransientFailures.IsTransient(ex) && heartbeat.Csr is null)
            {
                // Still due, so the next heartbeat asks again. A CSR (a key rotation the agent asked for) is not
                // dropped silently: that heartbeat answers 503 and the agent retries it.
            }
        }

        metrics.HeartbeatApplied(heartbeat.Status, startedAt, roundTrips.Statements);
        return ReferenceEquals(assigned, AgentWork.None) && renewal is null
            ? NothingToSay
            : TypedResults.Ok(new HeartbeatResponse(assigned.Tasks, assigned.CancelledTasks, renewal));
    }

    private static async Task<Results<Ok<List<AgentSummary>>, ValidationProblem>> List(
        HttpContext context, AgentStore store, CancellationToken cancellationToken)
    {
        Page.TryRead(context.Request, out var page, out var errors);
        var query = context.Request.Query;

        AgentStatus? status = null;
        var rawStatus = query["status"];
        if (rawStatus.Count > 1)
        {
            errors.Add("status", "'status' may be given once.");
        }
        else if (rawStatus.Count == 1)
        {
            status = rawStatus[0] switch
            {
                "online" => AgentStatus.Online,
                "offline" => AgentStatus.Offline,
                "degraded" => AgentStatus.Degraded,
                _ => null,
            };
            errors.Require(status is not null, "status", "'status' must be online, offline or degraded.");
        }

        var capabilities = query["capability"].Select(c => c ?? "").ToList();
        errors.Require(capabilities.All(AgentRules.IsKnownCapability), "capability",
            $"'capability' must be one of {string.Join(", ", AgentRules.KnownCapabilities.Order(StringComparer.Ordinal))}.");

        var labels = new List<KeyValuePair<string, string>>();
        foreach (var label in query["label"])
        {
            var separator = label?.IndexOf('=') ?? -1;
            if (separator <= 0)
            {
                errors.Add("label", "'label' must be key=value.");
                continue;
            }

            labels.Add(new(label![..separator], label[(separator + 1)..]));
        }

        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        var rows = await store.ListAsync(new AgentStore.ListFilter(status, capabilities, labels), page.Limit + 1, page.After, cancellationToken);
        return TypedResults.Ok(page.Finish(context, rows, a => a.Name));
    }

    private static async Task<Results<Ok<AgentDetails>, ProblemHttpResult>> Get(Guid id, AgentStore store, CancellationToken cancellationToken) =>
        await store.GetAsync(id, cancellationToken) is { } agent ? TypedResults.Ok(agent) : NoSuchAgent(id);

    private static async Task<Results<Ok<AgentDetails>, ValidationProblem, ProblemHttpResult>> Update(
        Guid id, UpdateAgentRequest request, HttpContext context, AgentStore store, AgentStateCache cache, CancellationToken cancellationToken)
    {
        var errors = new Validation();
        errors.Require(request.Labels is not null || request.Capabilities is not null, "labels",
            "Give 'labels', 'capabilities' or both.");
        errors.ValidateLabels(request.Labels);
        var capabilities = AgentRules.CheckCapabilities(request.Capabilities, "capabilities", errors);
        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        var labels = request.Labels?.ToDictionary(l => l.Key, l => l.Value!, StringComparer.Ordinal);
        if (!await store.UpdateAsync(id, labels, capabilities, context.User, cancellationToken))
        {
            return NoSuchAgent(id);
        }

        if (capabilities is not null)
        {
            await cache.PublishChangedAsync([id], CancellationToken.None);
        }

        return TypedResults.Ok((await store.GetAsync(id, cancellationToken))!);
    }

    private static async Task<Results<Ok<DeletedResponse>, ProblemHttpResult>> Delete(
        Guid id, HttpContext context, AgentStore store, AgentCredentials credentials, AgentStateCache cache, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        if (!await store.ExistsAsync(id, cancellationToken))
        {
            return NoSuchAgent(id);
        }

        // Revocation first, committed and announced to every replica, so the agent is shut out even if removing its
        // registration fails; DELETE again finishes the job.
        await credentials.RevokeAllAsync(id, context.User.Actor(), cancellationToken);
        var deletion = await store.DeleteAsync(id, context.User, cancellationToken);
        if (deletion is null)
        {
            return NoSuchAgent(id);
        }

        // Certificates renewed while the revocation above ran were revoked with the agent's row: announced before the
        // answer, so no credential of the agent works anywhere once the operator hears it is deleted.
        await credentials.AnnounceRevokedAsync(id, deletion.RevokedSerials, CancellationToken.None);

        await cache.PublishChangedAsync([id], CancellationToken.None);
        loggers.CreateLogger(typeof(AgentEndpoints))
            .AgentDeleted(deletion.Name, id, context.User.Actor(), deletion.RevokedSerials.Length, deletion.UnassignedTargets);
        return TypedResults.Ok(new DeletedResponse(true));
    }

    private static async Task<Results<Ok<AgentDetails>, ValidationProblem, ProblemHttpResult>> Drain(
        Guid id, DrainRequest? request, HttpContext context, AgentStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var reason = string.IsNullOrWhiteSpace(request?.Reason) ? null : request.Reason.Trim();
        var deadline = request?.Deadline?.ToUniversalTime();
        var errors = new Validation()
            .Require(reason is null || reason.Length <= MaxDrainReasonLength, "reason",
                $"'reason' must be at most {MaxDrainReasonLength} characters.")
            .Require(deadline is null || deadline > time.GetUtcNow().UtcDateTime, "deadline", "'deadline' must be in the future.");
        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        if (!await store.DrainAsync(id, reason, deadline, context.User, cancellationToken))
        {
            return NoSuchAgent(id);
        }

        return TypedResults.Ok((await store.GetAsync(id, cancellationToken))!);
    }

    private static async Task<Results<Ok<AgentDetails>, ProblemHttpResult>> Resume(
        Guid id, HttpContext context, AgentStore store, AgentStateCache cache, CancellationToken cancellationToken)
    {
        if (!await store.ResumeAsync(id, context.User, cancellationToken))
        {
            return NoSuchAgent(id);
        }

        // Tasks that waited out the drain are deliverable again: every replica looks for them at once.
        await cache.PublishChangedAsync([id], CancellationToken.None);

        return TypedResults.Ok((await store.GetAsync(id, cancellationToken))!);
    }

    private static ProblemHttpResult NoSuchAgent(Guid id) => Problems.NotFound($"No agent has id {id}.");
}
