using System.Collections.Concurrent;

namespace Orchestrator.Hosting;

/// <summary>Subscriber bookkeeping shared by both transports.</summary>
public abstract class ClusterEventsBase : IClusterEvents
{
    private readonly ConcurrentDictionary<string, ImmutableHandlers> _handlers = new(StringComparer.Ordinal);

    public abstract Task PublishAsync(string channel, string payload, CancellationToken cancellationToken);

    public IDisposable Subscribe(string channel, Action<string> handler, Action? resync = null)
    {
        var subscription = new Subscription(this, channel, handler, resync);
        _handlers.AddOrUpdate(channel, _ => new([subscription]), (_, existing) => new([.. existing.Items, subscription]));
        return subscription;
    }

    protected void Deliver(string channel, string payload, ILogger logger)
    {
        if (!_handlers.TryGetValue(channel, out var handlers))
        {
            return;
        }

        foreach (var subscription in handlers.Items)
        {
            try
            {
                subscription.Handler(payload);
            }
            catch (Exception ex)
            {
                logger.ClusterHandlerFailed(ex, channel);
            }
        }
    }

    protected void Resync(ILogger logger)
    {
        foreach (var subscription in _handlers.Values.SelectMany(h => h.Items))
        {
            try
            {
                subscription.Resync?.Invoke();
            }
            catch (Exception ex)
            {
                logger.ClusterResyncHandlerFailed(ex, subscription.Channel);
            }
        }
    }

    private void Remove(Subscription subscription) =>
        _handlers.AddOrUpdate(subscription.Channel, _ => new([]), (_, existing) => new([.. existing.Items.Where(s => s != subscription)]));

    private sealed record ImmutableHandlers(Subscription[] Items);

    private sealed class Subscription(ClusterEventsBase owner, string channel, Action<string> handler, Action? resync) : IDisposable
    {
        public string Channel { get; } = channel;
        public Action<string> Handler { get; } = handler;
        public Action? Resync { get; } = resync;

        public void Dispose() => owner.Remove(this);
    }
}
