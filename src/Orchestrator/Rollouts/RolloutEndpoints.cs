using System.ComponentModel;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Orchestrator.Http;
using Orchestrator.Security;
using Orchestrator.Tasks;

namespace Orchestrator.Rollouts;

/// <summary>Operators and CI: create rollouts, watch them, pause, resume and cancel them.</summary>
public static class RolloutEndpoints
{
    public static RouteGroupBuilder MapRollouts(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapOperatorRoutes("/api/v1/rollouts", "Rollouts");

        group.MapPost("/", Create).RequireAuthorization(Policies.Operator)
            .WithSummary("Create a rollout: one task for every agent of a target set, batch by batch")
            .WithDescription(RolloutDocs.Create)
            .Produces<RolloutResponse>(StatusCodes.Status200OK)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapGet("/", List).RequireAuthorization(Policies.Viewer)
            .Paged()
            .WithQuery(QueryParameter.OneOf<RolloutStatus>("status", "Only rollouts in this state."))
            .WithSummary("List rollouts, newest first")
            .WithDescription(RolloutDocs.List)
            .ProducesValidationProblem();
        group.MapGet("/{rolloutId}", Get).RequireAuthorization(Policies.Viewer)
            .WithQuery(QueryParameter.Wait("rollout"))
            .WithSummary("Get a rollout with its counts and targets; optionally wait for it to end")
            .WithDescription(RolloutDocs.Get)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{rolloutId}/events", RolloutFollowing.StreamAsync).RequireAuthorization(Policies.Viewer)
            .WithSummary("Follow a rollout: Server-Sent Events of its batches, targets and states")
            .WithDescription(RolloutDocs.Events)
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{rolloutId}/pause", Pause).RequireAuthorization(Policies.Operator)
            .WithSummary("Pause a rollout: no batch starts until it is resumed")
            .WithDescription(RolloutDocs.Pause)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPost("/{rolloutId}/resume", Resume).RequireAuthorization(Policies.Operator)
            .WithSummary("Resume a paused rollout (also after its canary batch)")
            .WithDescription(RolloutDocs.Resume)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPost("/{rolloutId}/cancel", Cancel).RequireAuthorization(Policies.Operator)
            .WithSummary("Cancel a rollout: no new batch, its running tasks cancelled")
            .WithDescription(RolloutDocs.Cancel)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return group;
    }

    private static async Task<Results<Created<RolloutResponse>, Ok<RolloutResponse>, ValidationProblem, ProblemHttpResult>> Create(
        CreateRolloutRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyHeader,
        HttpContext context, RolloutCommands commands, IOptions<TaskOptions> taskOptions, IOptions<RolloutOptions> options,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var limits = taskOptions.Value;
        var errors = new Validation();
        var definition = new TaskDefinition(request.TaskType, request.Payload, request.Credentials, request.Priority, request.Timeout,
            request.Selector, TaskDefinition.IdempotencyKeyOf(request.IdempotencyKey, idempotencyHeader, errors));
        definition.Validate(errors, limits)
            .Require(request.Selector is null != (request.AgentIds is null), "selector", "Give exactly one of 'selector' or 'agentIds'.")
            .Require(request.Name is null || (request.Name.Length is > 0 and <= 128 && !request.Name.Any(char.IsControl)), "name",
                "'name' must be 1 to 128 printable characters.");
        CheckAgentIds(request.AgentIds, options.Value.MaxTargets, errors);
        var strategy = CheckStrategy(request.Strategy, options.Value.MaxTargets, errors);
        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        if (definition.Oversized(limits) is { } tooLarge)
        {
            return tooLarge;
        }

        var actor = context.User.Actor();
        var wanted = new RolloutCommands.NewRollout(
            request.Name, definition.ToNewTask(limits, agentId: null), request.Selector, request.AgentIds, strategy, definition.IdempotencyKey);
        var result = await commands.CreateAsync(wanted, actor, cancellationToken);
        switch (result.Outcome)
        {
            case RolloutOutcome.Ok:
                var rollout = result.Rollout!;
                loggers.CreateLogger(typeof(RolloutEndpoints)).RolloutCreated(rollout.Id, rollout.TaskType, actor, rollout.Targets.Count,
                    rollout.BatchCount);
                return TypedResults.Created($"/api/v1/rollouts/{rollout.Id}", RolloutResponses.ToResponse(rollout));
            case RolloutOutcome.Replayed:
                return TypedResults.Ok(RolloutResponses.ToResponse(result.Rollout!));
            default:
                return Problem(result);
        }
    }

    private static void CheckAgentIds(List<Guid>? agentIds, int maxTargets, Validation errors)
    {
        if (agentIds is null)
        {
            return;
        }

        errors.Require(agentIds.Count is > 0, "agentIds", "'agentIds' must name at least one agent.")
            .Require(agentIds.Count <= maxTargets, "agentIds",
                $"'agentIds' may name at most {maxTargets} agents (Orchestrator:Rollouts:MaxTargets).");
        var seen = new HashSet<Guid>();
        for (var i = 0; i < agentIds.Count && agentIds.Count <= maxTargets; i++)
        {
            errors.Require(seen.Add(agentIds[i]), $"agentIds[{i}]", $"'agentIds[{i}]' repeats agent {agentIds[i]}.");
        }
    }

    /// <summary>Checks the strategy and fills in its defaults (batches of 1, no failure tolerated, no pause, no canary).</summary>
    private static RolloutStrategy CheckStrategy(RolloutStrategy? strategy, int maxTargets, Validation errors)
    {
        var (size, percent, failures, failurePercent, pause, canary) = strategy ?? new RolloutStrategy(null, null, null, null, null, null);
        errors.Require(size is null || percent is null, "strategy.batchSize", "Give at most one of 'strategy.batchSize' or 'strategy.batchPercent'.")
            .Require(size is null || (size >= 1 && size <= maxTargets), "strategy.batchSize", $"'strategy.batchSize' must be from 1 to {maxTargets}.")
            .Require(percent is null or (>= 1 and <= 100), "strategy.batchPercent", "'strategy.batchPercent' must be from 1 to 100.")
            .Require(failures is null || failurePercent is null, "strategy.maxFailures",
                "Give at most one of 'strategy.maxFailures' or 'strategy.maxFailurePercent'.")
            .Require(failures is null or >= 0, "strategy.maxFailures", "'strategy.maxFailures' must not be negative.")
            .Require(failurePercent is null or (>= 0 and <= 100), "strategy.maxFailurePercent", "'strategy.maxFailurePercent' must be from 0 to 100.")
            .Require(pause is null or (>= 0 and <= RolloutPlan.MaxPauseSeconds), "strategy.pauseSeconds",
                $"'strategy.pauseSeconds' must be from 0 to {RolloutPlan.MaxPauseSeconds}.")
            .Require(canary is null || (canary >= 0 && canary <= maxTargets), "strategy.canary",
                $"'strategy.canary' must be from 0 to {maxTargets}.");
        return new RolloutStrategy(
            size ?? (percent is null ? 1 : null), percent, failures ?? (failurePercent is null ? 0 : null), failurePercent, pause ?? 0,
            canary is 0 ? null : canary);
    }

    private static async Task<Results<Ok<List<RolloutResponse>>, ValidationProblem>> List(
        HttpContext context, RolloutQueries queries, string? status, CancellationToken cancellationToken)
    {
        if (!Page.TryRead(context.Request, out var page, out var errors))
        {
            return errors.ToProblem();
        }

        RolloutStatus? wanted = null;
        if (!string.IsNullOrEmpty(status))
        {
            if (!WireNames.TryParse<RolloutStatus>(status, out var parsed))
            {
                return errors.Add("status", "'status' must be one of " +
                    string.Join(", ", Enum.GetValues<RolloutStatus>().Select(s => s.WireName())) + ".").ToProblem();
            }

            wanted = parsed;
        }

        if (!page.TryAfterId(errors, out var before))
        {
            return errors.ToProblem();
        }

        var rows = await queries.ListAsync(wanted, before, page.Limit + 1, cancellationToken);
        var rollouts = page.Finish(context, rows, r => r.Rollout.Id.ToString());
        return TypedResults.Ok(rollouts.Select(r => RolloutResponses.ToResponse(r.Rollout, r.Counts, withTargets: false)).ToList());
    }

    private static async Task<Results<Ok<RolloutResponse>, ValidationProblem, ProblemHttpResult>> Get(
        Guid rolloutId,
        [FromQuery(Name = "wait"), Description("Seconds to wait for the rollout to end, 0-60 (whole seconds); answered at once without it.")]
        string? wait, RolloutQueries queries, RolloutChanges changes, TimeProvider time, IHostApplicationLifetime lifetime,
        CancellationToken cancellationToken)
    {
        var errors = new Validation();
        if (!TaskFollowing.TryReadWait(wait, errors, out var waitFor))
        {
            return errors.ToProblem();
        }

        await RolloutFollowing.WaitForEndAsync(rolloutId, waitFor, queries, changes, time, lifetime, cancellationToken);
        var rollout = await queries.FindAsync(rolloutId, cancellationToken);
        return rollout is null ? Problems.NotFound($"No rollout has id {rolloutId}.") : TypedResults.Ok(RolloutResponses.ToResponse(rollout));
    }

    private static Task<Results<Accepted<RolloutResponse>, ProblemHttpResult>> Pause(
        Guid rolloutId, HttpContext context, RolloutCommands commands, CancellationToken cancellationToken) =>
        ControlAsync(rolloutId, commands.PauseAsync(rolloutId, context.User.Actor(), cancellationToken));

    private static Task<Results<Accepted<RolloutResponse>, ProblemHttpResult>> Resume(
        Guid rolloutId, HttpContext context, RolloutCommands commands, CancellationToken cancellationToken) =>
        ControlAsync(rolloutId, commands.ResumeAsync(rolloutId, context.User.Actor(), cancellationToken));

    private static Task<Results<Accepted<RolloutResponse>, ProblemHttpResult>> Cancel(
        Guid rolloutId, HttpContext context, RolloutCommands commands, CancellationToken cancellationToken) =>
        ControlAsync(rolloutId, commands.CancelAsync(rolloutId, context.User.Actor(), cancellationToken));

    private static async Task<Results<Accepted<RolloutResponse>, ProblemHttpResult>> ControlAsync(Guid rolloutId, Task<RolloutResult> command)
    {
        var result = await command;
        return result.Outcome == RolloutOutcome.Ok
            ? TypedResults.Accepted($"/api/v1/rollouts/{rolloutId}", RolloutResponses.ToResponse(result.Rollout!))
            : Problem(result);
    }

    private static ProblemHttpResult Problem(RolloutResult result) => result.Outcome switch
    {
        RolloutOutcome.NotFound => Problems.NotFound(result.Detail!),
        RolloutOutcome.Conflict => Problems.Conflict(result.Detail!),
        RolloutOutcome.Unprocessable => result.Errors!.ToUnprocessable(),
        _ => throw new InvalidOperationException($"{result.Outcome} is not an error."),
    };
}
