using System.Diagnostics;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>The spans of a task's life and their attributes. A task keeps the <c>traceparent</c> of the span that created
/// it (<see cref="AgentTask.TraceParent"/>), so its creation, each delivery to the agent, the agent's own work (the agent
/// continues the trace it is handed) and the completion form one trace. Docs: docs/observability.md.</summary>
public static class TaskSpans
{
    public const string TaskId = "orchestrator.task.id";
    public const string TaskType = "orchestrator.task.type";
    public const string AgentId = "orchestrator.agent.id";
    public const string Outcome = "orchestrator.outcome";
    public const string Delivery = "orchestrator.task.delivery";
    public const string DeliveryCount = "orchestrator.task.delivery_count";
    public const string Status = "orchestrator.task.status";
    public const string Claimed = "orchestrator.tasks.claimed";

    /// <summary>One delivery of a task to its agent (<paramref name="channel"/>: heartbeat, stream or fetch), in the
    /// task's trace, linked to the request or stream that carried it.</summary>
    public static Activity? Dispatch(AgentTask task, string channel)
    {
        var span = Telemetry.StartInTrace("task.dispatch", task.TraceParent, ActivityKind.Producer);
        span?.SetTag(TaskId, task.Id).SetTag(TaskType, task.TaskType).SetTag(AgentId, task.AgentId)
            .SetTag(Delivery, channel).SetTag(DeliveryCount, task.DeliveryCount);
        return span;
    }

    /// <summary>The agent's completion of a task, in the task's trace (a child of the agent's request when the agent
    /// propagated the trace).</summary>
    public static Activity? Complete(AgentTask task, bool success)
    {
        var span = Telemetry.StartInTrace("task.complete", task.TraceParent, ActivityKind.Consumer);
        span?.SetTag(TaskId, task.Id).SetTag(TaskType, task.TaskType).SetTag(AgentId, task.AgentId).SetTag("orchestrator.task.success", success);
        return span;
    }
}
