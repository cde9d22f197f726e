using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Tasks;

/// <summary>Agents (mTLS + token): poll, fetch and complete their own tasks. The route's <c>{id}</c> is the caller;
/// the agent group answers 403 for another agent's route.</summary>
public static class AgentTaskEndpoints
{
    /// <summary>Added to the agent group.</summary>
    public static RouteGroupBuilder MapAgentTasks(this RouteGroupBuilder agent)
    {
        var group = agent.MapGroup("").WithTags(ApiRoutes.AgentTag("tasks"));

        group.MapGet("/tasks", Pending)
            .WithSummary("List the agent's pending tasks (poll)")
            .WithDescription(TaskDocs.Pending)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/tasks/{taskId}", Fetch)
            .WithSummary("Fetch one of the agent's tasks with payload and credentials")
            .WithDescription(TaskDocs.Fetch)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPost("/tasks/{taskId}/complete", Complete)
            .WithSummary("Report a task's outcome")
            .WithDescription(TaskDocs.Complete)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        return group;
    }

    internal static async Task<Ok<PendingTasksResponse>> Pending(Guid id, TaskDelivery delivery, CancellationToken cancellationToken) =>
        TypedResults.Ok(await delivery.PendingForAgentAsync(id, cancellationToken));

    internal static async Task<Results<Ok<AgentTaskResponse>, ProblemHttpResult>> Fetch(
        Guid id, Guid taskId, TaskDelivery delivery, CancellationToken cancellationToken)
    {
        var result = await delivery.FetchAsync(id, taskId, cancellationToken);
        return result.Outcome == TaskOutcome.Ok ? TypedResults.Ok(delivery.ToAgentResponse(result.Task!)) : TaskEndpoints.Problem(result);
    }

    internal static async Task<Results<Ok<AcknowledgedResponse>, ValidationProblem, ProblemHttpResult>> Complete(
        Guid id, Guid taskId, CompleteTaskRequest request, TaskCommands commands, TaskChanges changes, IOptions<TaskOptions> options,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var limits = options.Value;
        var logs = request.Logs ?? [];
        var errors = new Validation().Require(request.Success is not null, "success", "'success' is required: true or false.")
            .RequireShallow(request.Result, "result")
            .Require(request.LogsSeq is null or >= 0, "logsSeq", "'logsSeq' must be a whole number from 0 (the first line's number).");
        for (var i = 0; i < logs.Count && i < limits.MaxLogLinesPerCompletion; i++)
        {
            errors.Require(logs[i] is not null && logs[i].Message is not null, $"logs[{i}].message", $"'logs[{i}].message' is required.");
            errors.Require(logs[i]?.Level is null || logs[i].Level!.Length <= TaskLog.MaxLevelLength, $"logs[{i}].level",
                $"'logs[{i}].level' must be at most {TaskLog.MaxLevelLength} characters.");
        }

        if (!errors.IsValid)
        {
            return errors.ToProblem();
        }

        if (logs.Count > limits.MaxLogLinesPerCompletion)
        {
            return TaskEndpoints.TooLarge($"'logs' has {logs.Count} lines; a completion may carry {limits.MaxLogLinesPerCompletion} " +
                "(Orchestrator:Tasks:MaxLogLinesPerCompletion). Stream longer logs as they happen.");
        }

        var longLine = logs.FindIndex(l => l.Message!.Length > limits.MaxLogLineLength);
        if (longLine >= 0)
        {
            return TaskEndpoints.TooLarge(
                $"'logs[{longLine}].message' is longer than {limits.MaxLogLineLength} characters (Orchestrator:Tasks:MaxLogLineLength).");
        }

        if (request.Result is { ValueKind: not JsonValueKind.Null } result && Encoding.UTF8.GetByteCount(result.GetRawText()) > limits.MaxResultBytes)
        {
            return TaskEndpoints.TooLarge($"'result' is larger than {limits.MaxResultBytes} bytes (Orchestrator:Tasks:MaxResultBytes).");
        }

        var outcome = await commands.CompleteAsync(id, taskId, request.Success!.Value, request.Result, logs, request.LogsSeq, cancellationToken);
        switch (outcome.Outcome)
        {
            case TaskOutcome.Ok:
                loggers.CreateLogger(typeof(AgentTaskEndpoints)).TaskCompleted(taskId, id, outcome.Task!.Status.WireName());
                await changes.PublishAsync(taskId, ended: true);
                return TypedResults.Ok(new AcknowledgedResponse(true));
            case TaskOutcome.Replayed:
                return TypedResults.Ok(new AcknowledgedResponse(true));
            default:
                return TaskEndpoints.Problem(outcome);
        }
    }
}
