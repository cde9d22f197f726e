using System.Text.Json;
using Orchestrator.Hosting;

namespace Orchestrator.Rollouts;

/// <summary>Tells every replica that a rollout changed, after the change is committed: drivers look at it at once (a
/// new rollout starts its first batch, a resumed one goes on), and waits and event streams of it read it again. The
/// message carries only the id and whether it ended; the database stays the truth.</summary>
public sealed class RolloutChanges(IClusterEvents cluster, ILogger<RolloutChanges> logger)
{
    public const string Channel = ClusterChannels.RolloutChanged;

    public sealed record Change(Guid RolloutId, bool Ended);

    public static Change? Parse(string payload)
    {
        try
        {
            return JsonSerializer.Deserialize<Change>(payload, Http.Json.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async Task PublishAsync(Guid rolloutId, bool ended)
    {
        try
        {
            // Not the caller's token: the change is committed, and its news must go out even if the caller has gone.
            await cluster.PublishAsync(Channel, JsonSerializer.Serialize(new Change(rolloutId, ended), Http.Json.Options), CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Drivers look again at their next pass; waits read again at their deadline.
            logger.RolloutEventNotPublished(ex, Channel, rolloutId);
        }
    }
}
