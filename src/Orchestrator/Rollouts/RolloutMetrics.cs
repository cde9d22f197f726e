using System.Diagnostics.Metrics;
using Orchestrator.Hosting;

namespace Orchestrator.Rollouts;

/// <summary>Rollouts by status (the unfinished ones counted by the driver from the database, so every replica reports
/// them all; the finished ones counted where they end), targets by outcome, and how long batches take. Attributes are
/// closed sets, never a rollout, agent or task type.</summary>
public sealed class RolloutMetrics
{
    public const string StatusAttribute = "orchestrator.rollout.status";
    public const string OutcomeAttribute = "orchestrator.rollout_target.status";

    private readonly Counter<long> _ended;
    private readonly Counter<long> _targets;
    private readonly Histogram<double> _batch;
    private IReadOnlyDictionary<RolloutStatus, int> _active = new Dictionary<RolloutStatus, int>();

    public RolloutMetrics(IMeterFactory meters)
    {
        var meter = meters.OrchestratorMeter();
        meter.CreateObservableUpDownCounter("orchestrator.rollouts", ObserveActive, "{rollout}",
            "Unfinished rollouts by status (pending, running, paused, cancelling), for the whole cluster.");
        _ended = meter.CreateCounter<long>("orchestrator.rollouts.completed", "{rollout}",
            "Rollouts that reached a final status (succeeded, failed, cancelled).");
        _targets = meter.CreateCounter<long>("orchestrator.rollout_targets.completed", "{target}",
            "Rollout targets that reached a final status (succeeded, failed, skipped, cancelled, not_started).");
        _batch = meter.CreateHistogram("orchestrator.rollout.batch.duration", "s",
            "Time from a batch's start to the end of its last task.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Telemetry.WaitBuckets });
    }

    /// <summary>The driver's latest count of unfinished rollouts.</summary>
    public void Counted(IReadOnlyDictionary<RolloutStatus, int> active) => Volatile.Write(ref _active, active);

    public void Ended(RolloutStatus status) => _ended.Add(1, new KeyValuePair<string, object?>(StatusAttribute, status.WireName()));

    public void TargetEnded(RolloutTargetStatus status) =>
        _targets.Add(1, new KeyValuePair<string, object?>(OutcomeAttribute, status.WireName()));

    public void BatchEnded(TimeSpan took) => _batch.Record(Math.Max(0, took.TotalSeconds));

    private IEnumerable<Measurement<int>> ObserveActive()
    {
        var active = Volatile.Read(ref _active);
        return RolloutStatuses.Active.Select(s =>
            new Measurement<int>(active.GetValueOrDefault(s), new KeyValuePair<string, object?>(StatusAttribute, s.WireName())));
    }
}
