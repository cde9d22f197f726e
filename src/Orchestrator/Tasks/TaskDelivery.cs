using System.Text.Json;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>Hands an agent its work: the heartbeat answer's <c>tasks</c> and <c>cancelledTasks</c>, and single tasks
/// it fetches. A delivery marks the task delivered; see <see cref="TaskClaims.ClaimDeliverableAsync"/>.</summary>
public sealed class TaskDelivery(
    TaskClaims claims,
    TaskCommands commands,
    TaskCredentials credentials,
    AgentWorkHints hints,
    TaskChanges changes,
    DatabaseAvailability database,
    ILogger<TaskDelivery> logger)
{
    /// <summary>The heartbeat's one call: claims what is deliverable (highest priority first, then oldest) and lists
    /// the tasks the agent must stop. With <paramref name="trustIdleHint"/>, an agent known to have nothing waiting
    /// gets the empty answer without a read; a caller woken by a task event must not trust it, as the hint may not
    /// have heard that event yet. Otherwise it costs one statement (the view), or two when something is deliverable
    /// (the view, then the claim, which returns the claimed rows). With <paramref name="resendUnstarted"/> (a new
    /// connection of the agent's, which may have lost what went out on the one before it) every delivered task the agent
    /// has not started goes out again now instead of after <c>RedeliverAfter</c>; agents de-duplicate by id.
    /// <paramref name="channel"/> names the way the tasks go out (heartbeat, stream) on their dispatch spans.
    /// While the database is not answering (<see cref="DatabaseAvailability"/>) the answer is empty without a read: the
    /// work waits for the next heartbeat or stream tick after the database is back.</summary>
    public async Task<AgentWork> TakeForAgentAsync(
        Guid agentId, bool trustIdleHint, bool resendUnstarted, string channel, CancellationToken cancellationToken)
    {
        var observed = hints.Observe(agentId);
        if (trustIdleHint && !resendUnstarted && hints.IsIdle(observed))
        {
            return AgentWork.None;
        }

        return await AskAsync(() => TakeAsync(agentId, observed, resendUnstarted, channel, cancellationToken), AgentWork.None, cancellationToken);
    }

    /// <summary>Runs <paramref name="work"/> while the database answers (<see cref="DatabaseAvailability"/>) and reports
    /// how it went; otherwise answers <paramref name="unavailable"/> without asking.</summary>
    private async Task<T> AskAsync<T>(Func<Task<T>> work, T unavailable, CancellationToken cancellationToken)
    {
        if (!database.TryAsk())
        {
            return unavailable;
        }

        T result;
        try
        {
            result = await work();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            database.Report(ex);
            throw;
        }

        database.Report(null);
        return result;
    }

    private async Task<AgentWork> TakeAsync(
        Guid agentId, AgentWorkHints.Entry observed, bool resendUnstarted, string channel, CancellationToken cancellationToken)
    {
        var view = await claims.ViewForAgentAsync(agentId, resendUnstarted, cancellationToken);
        if (!view.HasDeliverable && view.CancelledTasks.Count == 0)
        {
            hints.RecordIdle(agentId, observed, view.NextRedeliveryAt);
            return AgentWork.None;
        }

        var tasks = view.HasDeliverable
            ? await claims.ClaimDeliverableAsync(agentId, includePending: !view.Draining, resendUnstarted, cancellationToken)
            : [];
        return new AgentWork(await HandOutAsync(agentId, tasks, channel, cancellationToken), view.CancelledTasks);
    }

    /// <summary>For a caller a task's creation woke (a stream nudged because a task was created for its agent): claims
    /// at once, the drain rule inside the one statement, so a pushed task waits for one round trip instead of the
    /// view's and the claim's. The caller sends these, then takes as usual (<see cref="TakeForAgentAsync"/> without the
    /// idle hint) for cancellations and the hint; that view finds nothing more to claim unless something came
    /// meanwhile.</summary>
    public async Task<IReadOnlyList<DeliveredTask>> ClaimWokenAsync(Guid agentId, string channel, CancellationToken cancellationToken) =>
        await AskAsync(async () =>
        {
            var tasks = await claims.ClaimDeliverableAsync(agentId, includePending: null, resendUnstarted: false, cancellationToken);
            return await HandOutAsync(agentId, tasks, channel, cancellationToken);
        }, [], cancellationToken);

    /// <summary>Claimed tasks as they go out (an undeliverable one ends failed instead), logged and announced.</summary>
    private async Task<List<DeliveredTask>> HandOutAsync(Guid agentId, List<AgentTask> tasks, string channel, CancellationToken cancellationToken)
    {
        var delivered = new List<DeliveredTask>(tasks.Count);
        foreach (var task in tasks)
        {
            if (await DeliverableAsync(task, channel, cancellationToken) is { } ready)
            {
                delivered.Add(ready);
            }
        }

        if (delivered.Count > 0)
        {
            logger.TasksDelivered(delivered.Count, agentId, [.. delivered.Select(t => t.TaskId)]);
            foreach (var task in delivered)
            {
                // Not awaited: the agent gets its work without waiting for the other replicas to hear that it went out.
                // The announcement is queued in order behind the task's earlier ones and after the commit, publishing
                // never throws (a failure is logged), and it only tells watchers to read the task again.
                _ = changes.PublishAsync(task.TaskId, ended: false);
            }
        }

        return delivered;
    }

    /// <summary>The poll answer: summaries of what the next delivery would hand out, and tasks to stop.</summary>
    public async Task<PendingTasksResponse> PendingForAgentAsync(Guid agentId, CancellationToken cancellationToken) =>
        new(await claims.DeliverableSummariesAsync(agentId, cancellationToken), await claims.CancelledForAgentAsync(agentId, cancellationToken));

    /// <summary>One task fetched by its agent. An unstarted task counts as delivered; an ended one comes without credentials.</summary>
    public async Task<TaskResult> FetchAsync(Guid agentId, Guid taskId, CancellationToken cancellationToken)
    {
        var result = await claims.ClaimOneAsync(agentId, taskId, cancellationToken);
        if (result.Outcome == TaskOutcome.Ok && await DeliverableAsync(result.Task!, "fetch", cancellationToken) is null)
        {
            return new TaskResult(TaskOutcome.Conflict, result.Task, $"Task {taskId} cannot be delivered: {TooDeep}.");
        }

        if (result.Outcome == TaskOutcome.Ok)
        {
            logger.TaskFetched(agentId, taskId);
            await changes.PublishAsync(taskId, ended: false);
        }

        return result;
    }

    private static readonly string TooDeep = $"its payload is nested deeper than {Http.OpenJson.MaxDepth} levels, more than an answer can carry";

    /// <summary>The task as it goes out, or null when it can never be written: a payload stored by an earlier version
    /// deeper than answers can carry. Such a task ends failed, saying why, instead of failing the whole answer (and
    /// every redelivery of it) for the tasks handed out with it. The task goes out with the trace context of its
    /// dispatch span (or the one it was created in), which the agent continues.</summary>
    private async Task<DeliveredTask?> DeliverableAsync(AgentTask task, string channel, CancellationToken cancellationToken)
    {
        using var span = TaskSpans.Dispatch(task, channel);
        var payload = Payload(task);
        if (payload is not { } value || !Http.OpenJson.IsTooDeep(value))
        {
            return new DeliveredTask(task.Id, task.TaskType, payload, credentials.Unprotect(task.ProtectedCredentials), task.TimeoutSeconds)
            {
                TraceParent = span is null ? task.TraceParent : Telemetry.CurrentTraceParent(),
            };
        }

        span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, TooDeep);
        if (await commands.FailUndeliverableAsync(task.Id, $"Cannot be delivered: {TooDeep}.", cancellationToken))
        {
            logger.TaskUndeliverable(task.Id, task.AgentId, TooDeep);
            await changes.PublishAsync(task.Id, ended: true);
        }

        return null;
    }

    public AgentTaskResponse ToAgentResponse(AgentTask task) =>
        new(task.Id, task.TaskType, Payload(task), credentials.Unprotect(task.ProtectedCredentials), task.TimeoutSeconds,
            task.Priority, task.Status, task.CreatedAt)
        { TraceParent = task.TraceParent };

    private static JsonElement? Payload(AgentTask task) =>
        task.PayloadJson is null ? null : JsonDocument.Parse(task.PayloadJson).RootElement.Clone();
}
