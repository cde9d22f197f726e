using System.Diagnostics;
using System.Diagnostics.Metrics;
using Orchestrator.Hosting;

namespace Orchestrator.Agents;

/// <summary>What the heartbeat path records. Attributes are closed sets (the reported status), never an agent id.</summary>
public sealed class AgentMetrics
{
    public const string StatusAttribute = "orchestrator.agent.status";

    private readonly Counter<long> _heartbeats;
    private readonly Histogram<double> _heartbeatDuration;
    private readonly Histogram<int> _heartbeatRoundTrips;

    public AgentMetrics(IMeterFactory meters)
    {
        var meter = meters.OrchestratorMeter();
        _heartbeats = meter.CreateCounter<long>("orchestrator.agent.heartbeats", "{heartbeat}",
            "Heartbeats accepted (valid, from an existing agent), by the status the agent reported.");
        _heartbeatDuration = meter.CreateHistogram("orchestrator.agent.heartbeat.duration", "s",
            "Time to apply a heartbeat and hand out its work and renewal, from its validated body to its answer.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Telemetry.RequestBuckets });
        _heartbeatRoundTrips = meter.CreateHistogram<int>("orchestrator.agent.heartbeat.db.round_trips", "{statement}",
            "Statements a heartbeat sent to the database while it was answered (liveness itself is written in batches, apart).",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20] });
    }

    public static string StatusName(AgentStatus status) => status switch
    {
        AgentStatus.Online => "online",
        AgentStatus.Degraded => "degraded",
        _ => "offline",
    };

    /// <summary>An accepted heartbeat, timed from <paramref name="startedAt"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void HeartbeatApplied(AgentStatus reported, long startedAt, int roundTrips)
    {
        var status = new KeyValuePair<string, object?>(StatusAttribute, StatusName(reported));
        _heartbeats.Add(1, status);
        _heartbeatDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, status);
        _heartbeatRoundTrips.Record(roundTrips);
    }
}
