namespace Orchestrator.Hosting;

/// <summary>Tells every replica (this one included) that something happened: a task was created or cancelled, an
/// agent's credentials were revoked. On PostgreSQL this is LISTEN/NOTIFY; a single SQLite instance needs only itself.
/// Delivery is best effort: subscribers keep the database as the truth and use events to act sooner, and
/// <see cref="Subscribe"/>'s <c>resync</c> tells them when events may have been missed (a lost connection). The channels
/// are listed in <see cref="ClusterChannels"/>.</summary>
public interface IClusterEvents
{
    /// <summary>Delivers the event to subscribers here at once and on other replicas as soon as they hear it. Callers
    /// publish after their change is committed, so this never throws for a failed send: a change that happened must
    /// not be answered with an error the caller would retry. It returns once the event is on its way to the other
    /// replicas, or after a short bounded wait while the sender retries in the background.</summary>
    Task PublishAsync(string channel, string payload, CancellationToken cancellationToken);

    /// <summary>Handlers must be quick and must not throw; they run on the listener's thread.</summary>
    IDisposable Subscribe(string channel, Action<string> handler, Action? resync = null);
}
