using System.Text.Json;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>Tells every replica about task changes an agent's stream should hear at once. Best effort: the database
/// stays the truth, and heartbeats and polls carry the same news.</summary>
public sealed class TaskEvents(IClusterEvents cluster, ILogger<TaskEvents> logger)
{
    /// <summary>A task was created for the agent (<see cref="ClusterChannels.TaskCreated"/>).</summary>
    public const string Created = ClusterChannels.TaskCreated;

    /// <summary>The agent must stop the task (<see cref="ClusterChannels.TaskCancelled"/>).</summary>
    public const string Cancelled = ClusterChannels.TaskCancelled;

    public sealed record Payload(Guid TaskId, Guid AgentId);

    public static Payload Parse(string payload) => JsonSerializer.Deserialize<Payload>(payload, Http.WireJson.Options)!;

    public Task CreatedAsync(Guid taskId, Guid agentId, CancellationToken cancellationToken) =>
        PublishAsync(Created, taskId, agentId, cancellationToken);

    public Task CancelledAsync(Guid taskId, Guid agentId, CancellationToken cancellationToken) =>
        PublishAsync(Cancelled, taskId, agentId, cancellationToken);

    private async Task PublishAsync(string channel, Guid taskId, Guid agentId, CancellationToken cancellationToken)
    {
        try
        {
            await cluster.PublishAsync(channel, JsonSerializer.Serialize(new Payload(taskId, agentId), Http.WireJson.Options), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The change is committed; the agent still learns of it from its next heartbeat or poll.
            logger.TaskEventNotPublished(ex, channel, taskId);
        }
    }
}
