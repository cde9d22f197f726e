using System.Diagnostics.Metrics;

namespace Orchestrator.Hosting;

/// <summary>How long events between replicas take, from the sender's publish to this replica hearing it: the delay
/// before another replica closes a revoked agent's stream or wakes a wait. Measured on two clocks (the sender's in the
/// event, this replica's on arrival), so a skew between replicas shows in it too; a negative lag counts as 0.</summary>
public sealed class ClusterEventMetrics
{
    public const string ChannelAttribute = "orchestrator.cluster.channel";

    private static readonly IReadOnlyList<double> LagBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Histogram<double> _lag;

    public ClusterEventMetrics(IMeterFactory meters) =>
        _lag = meters.OrchestratorMeter().CreateHistogram("orchestrator.cluster.event.lag", "s",
            "Time from another replica publishing a cluster event to this replica receiving it, by channel.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets });

    /// <summary>An event from another replica, sent and received at these Unix milliseconds (sent 0: not stamped).</summary>
    public void Received(string channel, long sentAt, long receivedAt)
    {
        if (sentAt <= 0)
        {
            return;
        }

        _lag.Record(Math.Max(0, receivedAt - sentAt) / 1000.0,
            new KeyValuePair<string, object?>(ChannelAttribute, ClusterChannels.All.Contains(channel) ? channel : "other"));
    }
}
