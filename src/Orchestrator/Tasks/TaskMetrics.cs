using System.Diagnostics.Metrics;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>A task's way through the service, counted where each step commits. Attributes are closed sets (the final
/// status, first delivery or a redelivery), never a task, agent or task type.</summary>
public sealed class TaskMetrics
{
    public const string StatusAttribute = "orchestrator.task.status";
    public const string DeliveryAttribute = "orchestrator.task.delivery";

    private readonly Counter<long> _created;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _ended;
    private readonly Histogram<double> _dispatch;

    public TaskMetrics(IMeterFactory meters, TaskChanges changes)
    {
        var meter = meters.OrchestratorMeter();
        meter.CreateObservableUpDownCounter("orchestrator.task_watches.open", () => changes.Watching(), "{request}",
            "Requests held on this replica until a task changes: ?wait= and /events.");
        _created = meter.CreateCounter<long>("orchestrator.tasks.created", "{task}", "Tasks created (an idempotent replay is not counted).");
        _delivered = meter.CreateCounter<long>("orchestrator.tasks.delivered", "{task}",
            "Tasks handed to their agent (heartbeat, stream or fetch), by first delivery or redelivery.");
        _ended = meter.CreateCounter<long>("orchestrator.tasks.completed", "{task}",
            "Tasks that reached a final status (succeeded, failed, cancelled, timed_out), however they got there.");
        _dispatch = meter.CreateHistogram("orchestrator.task.dispatch.duration", "s",
            "Time from a task's creation to its first delivery to its agent.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Telemetry.WaitBuckets });
    }

    public void Created() => _created.Add(1);

    /// <summary>A task just claimed for delivery: its <see cref="AgentTask.DeliveryCount"/> already counts this one.</summary>
    public void Delivered(AgentTask task, DateTime now)
    {
        var first = task.DeliveryCount <= 1;
        _delivered.Add(1, new KeyValuePair<string, object?>(DeliveryAttribute, first ? "first" : "redelivery"));
        if (first)
        {
            _dispatch.Record(Math.Max(0, (now - task.CreatedAt).TotalSeconds));
        }
    }

    public void Ended(AgentTaskStatus status, int count = 1)
    {
        if (count > 0)
        {
            _ended.Add(count, new KeyValuePair<string, object?>(StatusAttribute, status.WireName()));
        }
    }
}
