using System.ComponentModel;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Tasks;

/// <summary>Operators and CI: create, read and cancel tasks.</summary>
public static class TaskEndpoints
{
    public static RouteGroupBuilder MapTasks(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapOperatorRoutes("/api/v1/tasks", "Tasks");

        group.MapPost("/", Create).RequireAuthorization(Policies.Operator)
            .WithSummary("Create a task for an agent")
            .WithDescription(TaskDocs.Create)
            .Produces<TaskResponse>(StatusCodes.Status200OK)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/", List).RequireAuthorization(Policies.Viewer)
            .Paged()
            .WithQuery(QueryParameter.OneOf<AgentTaskStatus>("status", "Only tasks in this state."))
            .WithSummary("List tasks, newest first")
            .WithDescription(TaskDocs.List)
            .ProducesValidationProblem();
        group.MapGet("/{taskId}", Get).RequireAuthorization(Policies.Viewer)
            .WithQuery(QueryParameter.Wait("task"))
            .WithSummary("Get a task with its status, result and logs; optionally wait for it to end")
            .WithDescription(TaskDocs.Get)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{taskId}/events", TaskFollowing.StreamAsync).RequireAuthorization(Policies.Viewer)
            .WithSummary("Follow a task: Server-Sent Events of its states, progress and log lines")
            .WithDescription(TaskDocs.Events)
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{taskId}/cancel", Cancel).RequireAuthorization(Policies.Operator)
            .WithSummary("Cancel a task")
            .WithDescription(TaskDocs.Cancel)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return group;
    }

    private static async Task<Results<Created<TaskResponse>, Ok<TaskResponse>, ValidationProblem, ProblemHttpResult>> Create(
        CreateTaskRequest request, [FromHeader(Name = "Idempotency-Key")] string? idempotencyHeader, HttpContext context, TaskCommands commands,
        TaskEvents events, IOptions<TaskOptions> options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var limits = options.Value;
        var errors = new Validation();
        var definition = new TaskDefinition(request.TaskType, request.Payload, request.Credentials, request.Priority, request.Timeout,
            request.Selector, TaskDefinition.IdempotencyKeyOf(request.IdempotencyKey, idempotencyHeader, errors));
        definition.Validate(errors, limits)
            .Require(request.AgentId is null != (request.Selector is null), "agentId", "Give exactly one of 'agentId' or 'selector'.");
        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        if (definition.Oversized(limits) is { } tooLarge)
        {
            return tooLarge;
        }

        var actor = context.User.Actor();
        var result = await commands.CreateAsync(definition.ToNewTask(limits, request.AgentId), actor, cancellationToken);
        switch (result.Outcome)
        {
            case TaskOutcome.Ok:
                var task = result.Task!;
                loggers.CreateLogger(typeof(TaskEndpoints)).TaskCreated(task.Id, task.TaskType, task.AgentId, actor);
                await events.CreatedAsync(task.Id, task.AgentId, cancellationToken);
                return TypedResults.Created($"/api/v1/tasks/{task.Id}", ToResponse(task, limits, withLogs: true));
            case TaskOutcome.Replayed:
                return TypedResults.Ok(ToResponse(result.Task!, limits, withLogs: true));
            default:
                return Problem(result);
        }
    }

    private static async Task<Results<Ok<List<TaskResponse>>, ValidationProblem>> List(
        HttpContext context, TaskQueries queries, IOptions<TaskOptions> options, Guid? agentId, Guid? rolloutId, string? status,
        CancellationToken cancellationToken)
    {
        if (!Page.TryRead(context.Request, out var page, out var errors))
        {
            return errors.ToProblem();
        }

        AgentTaskStatus? wanted = null;
        if (!string.IsNullOrEmpty(status))
        {
            if (!AgentTaskStatuses.TryParseWireName(status, out var parsed))
            {
                return errors.Add("status", "'status' must be one of " +
                    string.Join(", ", Enum.GetValues<AgentTaskStatus>().Select(s => s.WireName())) + ".").ToProblem();
            }

            wanted = parsed;
        }

        if (!page.TryAfterId(errors, out var before))
        {
            return errors.ToProblem();
        }

        var rows = await queries.ListAsync(agentId, rolloutId, wanted, before, page.Limit + 1, cancellationToken);
        var tasks = page.Finish(context, rows, t => t.Id.ToString());
        return TypedResults.Ok(tasks.Select(t => ToResponse(t, options.Value, withLogs: false)).ToList());
    }

    private static async Task<Results<Ok<TaskResponse>, ValidationProblem, ProblemHttpResult>> Get(
        Guid taskId,
        [FromQuery(Name = "wait"), Description("Seconds to wait for the task to end, 0-60 (whole seconds); answered at once without it.")]
        string? wait, TaskQueries queries, TaskChanges changes,
        TimeProvider time, IHostApplicationLifetime lifetime, IOptions<TaskOptions> options, CancellationToken cancellationToken)
    {
        var errors = new Validation();
        if (!TaskFollowing.TryReadWait(wait, errors, out var waitFor))
        {
            return errors.ToProblem();
        }

        await TaskFollowing.WaitForEndAsync(taskId, waitFor, queries, changes, time, lifetime, cancellationToken);
        var task = await queries.FindAsync(taskId, cancellationToken);
        return task is null ? Problems.NotFound($"No task has id {taskId}.") : TypedResults.Ok(ToResponse(task, options.Value, withLogs: true));
    }

    private static async Task<Results<Accepted<TaskResponse>, ProblemHttpResult>> Cancel(
        Guid taskId, HttpContext context, TaskCancellation cancellation, TaskQueries queries, IOptions<TaskOptions> options,
        CancellationToken cancellationToken)
    {
        var result = await cancellation.RequestAsync(taskId, context.User.Actor(), cancellationToken);
        if (result.Outcome != TaskOutcome.Ok)
        {
            return Problem(result);
        }

        var current = await queries.FindAsync(taskId, cancellationToken) ?? result.Task!;
        return TypedResults.Accepted($"/api/v1/tasks/{taskId}", ToResponse(current, options.Value, withLogs: true));
    }

    internal static ProblemHttpResult Problem(TaskResult result) => result.Outcome switch
    {
        TaskOutcome.NotFound => Problems.NotFound(result.Detail!),
        TaskOutcome.Forbidden => Problems.Forbidden(result.Detail!),
        TaskOutcome.Conflict => Problems.Conflict(result.Detail!),
        TaskOutcome.Unavailable => Problems.Unavailable(result.Detail!),
        TaskOutcome.Unprocessable => new Validation().Add("taskType", result.Detail!).ToUnprocessable(),
        _ => throw new InvalidOperationException($"{result.Outcome} is not an error."),
    };

    internal static ProblemHttpResult TooLarge(string detail) => Problems.Make(StatusCodes.Status413PayloadTooLarge, "Too large", detail);

    public static TaskResponse ToResponse(AgentTask task, TaskOptions options, bool withLogs)
    {
        // Lists keep a task's shape with an empty array: a page of tasks with thousands of lines each would be megabytes.
        List<TaskLogResponse> logs = [];
        if (withLogs)
        {
            logs = [.. task.Logs.OrderBy(l => l.Id).Select(l => new TaskLogResponse(l.Timestamp, l.Level, l.Message))];
            if (task.DroppedLogCount > 0)
            {
                logs.Add(new TaskLogResponse(task.CompletedAt ?? logs.LastOrDefault()?.Timestamp ?? task.CreatedAt, "warn",
                    $"[orchestrator] {task.DroppedLogCount} more log lines were dropped: a task keeps at most {options.MaxStoredLogLines} " +
                    "(Orchestrator:Tasks:MaxStoredLogLines)."));
            }
        }

        return new TaskResponse(task.Id, task.TaskType, task.AgentId, task.RolloutId, task.Status, task.StatusReason, task.Priority,
            task.TimeoutSeconds, task.CreatedAt, task.AssignedAt, task.StartedAt, task.CompletedAt, task.Progress,
            task.ResultJson is null ? null : JsonDocument.Parse(task.ResultJson).RootElement.Clone(), logs);
    }
}
