using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;
using Orchestrator.Http;

namespace Orchestrator.Tasks;

/// <summary>Agents (mTLS + token): poll, fetch and complete their own tasks. The route's <c>{id}</c> is the caller;
/// the group's agent requirement answers 403 for another agent's route.</summary>
public static class AgentTaskEndpoints
{
    internal static async Task<Ok<PendingTasksResponse>> Pending(Guid id, TaskDelivery delivery, CancellationToken cancellationToken) =>
        TypedResults.Ok(await delivery.PendingForAgentAsync(id, cancellationToken));

    internal static async Task<Results<Ok<AgentTaskResponse>, ProblemHttpResult>> Fetch(
        Guid id, Guid taskId, TaskDelivery delivery, CancellationToken cancellationToken)
    {
        var result = await delivery.FetchAsync(id, taskId, cancellationToken);
        return result.Outcome == TaskOutcome.Ok ? TypedResults.Ok(delivery.ToAgentResponse(result.Task!)) : TaskEndpoints.Problem(result);
    }

    internal static async Task<Results<Ok<AcknowledgedResponse>, ValidationProblem, ProblemHttpResult>> Complete(
        Guid id, Guid taskId, CompleteTaskRequest request, TaskStore store, IOptions<TaskOptions> options, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var limits = options.Value;
        var logs = request.Logs ?? [];
        var errors = new Validation().Require(request.Success is not null, "success", "'success' is required: true or false.");
        for (var i = 0; i < logs.Count && i < limits.MaxLogLinesPerCompletion; i++)
        {
            errors.Require(logs[i] is not null && logs[i].Message is not null, $"logs[{i}].message", $"'logs[{i}].message' is required.");
            errors.Require(logs[i]?.Level is null || logs[i].Level!.Length <= TaskStore.MaxLevelLength, $"logs[{i}].level",
                $"'logs[{i}].level' must be at most {TaskStore.MaxLevelLength} characters.");
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
            return TaskEndpoints.TooLarge($"'logs[{longLine}].message' is longer than {limits.MaxLogLineLength} characters (Orchestrator:Tasks:MaxLogLineLength).");
        }

        if (request.Result is { ValueKind: not JsonValueKind.Null } result && Encoding.UTF8.GetByteCount(result.GetRawText()) > limits.MaxResultBytes)
        {
            return TaskEndpoints.TooLarge($"'result' is larger than {limits.MaxResultBytes} bytes (Orchestrator:Tasks:MaxResultBytes).");
        }

        var outcome = await store.CompleteAsync(id, taskId, request.Success!.Value, request.Result, logs, cancellationToken);
        switch (outcome.Outcome)
        {
            case TaskOutcome.Ok:
                loggers.CreateLogger(typeof(AgentTaskEndpoints)).LogInformation("Task {TaskId} completed by agent {AgentId}: {Status}",
                    taskId, id, outcome.Task!.Status.WireName());
                return TypedResults.Ok(new AcknowledgedResponse(true));
            case TaskOutcome.Replayed:
                return TypedResults.Ok(new AcknowledgedResponse(true));
            default:
                return TaskEndpoints.Problem(outcome);
        }
    }
}
