using Orchestrator.Hosting;

namespace Orchestrator.Rollouts;

/// <summary>Tells every replica that a rollout changed, after the change is committed (<see cref="ChangeWatches"/>):
/// drivers look at it at once (a new rollout starts its first batch, a resumed one goes on), and waits and event streams
/// of it read it again. The message carries only the id and whether it ended; the database stays the truth.</summary>
public sealed class RolloutChanges : IDisposable
{
    /// <summary>Payload <c>{"rolloutId","ended"}</c>.</summary>
    public const string Channel = ClusterChannels.RolloutChanged;

    private readonly ChangeWatches _watches;

    public RolloutChanges(IClusterEvents cluster, ILogger<RolloutChanges> logger) =>
        _watches = new ChangeWatches(cluster, Channel, "rolloutId", (ex, rolloutId) => logger.RolloutEventNotPublished(ex, Channel, rolloutId));

    /// <summary>Watches (waits and event streams) now open on this replica, of one rollout or of all.</summary>
    public int Watching(Guid? rolloutId = null) => _watches.Watching(rolloutId);

    public Task PublishAsync(Guid rolloutId, bool ended) => _watches.PublishAsync(rolloutId, ended);

    /// <summary>Open the watch before reading the rollout, so a change between the read and the wait is not missed.</summary>
    public ChangeWatch Watch(Guid rolloutId, bool endOnly) => _watches.Watch(rolloutId, endOnly);

    public void Dispose() => _watches.Dispose();
}
