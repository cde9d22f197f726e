using System.Collections.Concurrent;
using System.Text.Json;
using Npgsql;

namespace Orchestrator.Hosting;

/// <summary>Tells every replica (this one included) that something happened: a task was created or cancelled, an
/// agent's credentials were revoked. On PostgreSQL this is LISTEN/NOTIFY; a single SQLite instance needs only itself.
/// Delivery is best effort: subscribers keep the database as the truth and use events to act sooner, and
/// <see cref="Subscribe"/>'s <c>resync</c> tells them when events may have been missed (a lost connection). The channels
/// are listed in <see cref="ClusterChannels"/>.</summary>
public interface IClusterEvents
{
    /// <summary>Delivers the event to subscribers here at once and on other replicas as soon as they hear it.</summary>
    Task PublishAsync(string channel, string payload, CancellationToken cancellationToken);

    /// <summary>Handlers must be quick and must not throw; they run on the listener's thread.</summary>
    IDisposable Subscribe(string channel, Action<string> handler, Action? resync = null);
}

public static class ClusterRegistration
{
    public static IServiceCollection AddClusterEvents(this IServiceCollection services)
    {
        services.AddSingleton<PostgresClusterEvents>();
        services.AddSingleton<LocalClusterEvents>();
        services.AddSingleton<IClusterEvents>(sp => sp.GetRequiredService<DatabaseConnection>().Provider == DatabaseProvider.Postgres
            ? sp.GetRequiredService<PostgresClusterEvents>()
            : sp.GetRequiredService<LocalClusterEvents>());
        // AddSingleton, not AddHostedService: the latter refuses a factory typed as IHostedService itself.
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<DatabaseConnection>().Provider == DatabaseProvider.Postgres
            ? sp.GetRequiredService<PostgresClusterEvents>()
            : (IHostedService)sp.GetRequiredService<LocalClusterEvents>());
        return services;
    }
}

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

/// <summary>Single instance (SQLite): events only need to reach this process.</summary>
public sealed class LocalClusterEvents(ILogger<LocalClusterEvents> logger) : ClusterEventsBase, IHostedService
{
    public override Task PublishAsync(string channel, string payload, CancellationToken cancellationToken)
    {
        Deliver(channel, payload, logger);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>PostgreSQL LISTEN/NOTIFY on one dedicated connection, reconnecting with a resync after any loss.</summary>
public sealed class PostgresClusterEvents(DatabaseConnection database, ILogger<PostgresClusterEvents> logger)
    : ClusterEventsBase, IHostedService, IAsyncDisposable
{
    private const string PgChannel = "orchestrator_events";

    // Lets a replica ignore the echo of its own notifications, which it already delivered locally.
    private readonly string _origin = Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;

    public override async Task PublishAsync(string channel, string payload, CancellationToken cancellationToken)
    {
        Deliver(channel, payload, logger);
        var message = JsonSerializer.Serialize(new Envelope(_origin, channel, payload));
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT pg_notify(@channel, @message)", connection);
        command.Parameters.AddWithValue("channel", PgChannel);
        command.Parameters.AddWithValue("message", message);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => ListenLoopAsync(_stopping.Token), CancellationToken.None);
        // Start serving only once this replica hears the others, so nothing published after start is missed.
        await Task.WhenAny(_listening.Task, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await Task.WhenAny(_loop, Task.Delay(Timeout.Infinite, cancellationToken));
        }
    }

    // The container may dispose this once per registration that hands it out, and a host that is torn down while
    // stopping may still call StopAsync afterwards, so the token source is only ever cancelled, never disposed (it
    // holds no timer, so nothing leaks).
    public async ValueTask DisposeAsync() => await _stopping.CancelAsync();

    private async Task ListenLoopAsync(CancellationToken stopping)
    {
        var first = true;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { KeepAlive = 15, Pooling = false };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(stopping);
                connection.Notification += (_, e) => OnNotification(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {PgChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stopping);
                }

                if (!first)
                {
                    Resync(logger);
                    logger.ClusterListenerReconnected();
                }

                first = false;
                _listening.TrySetResult();
                while (!stopping.IsCancellationRequested)
                {
                    await connection.WaitAsync(stopping);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.ClusterListenerLost(ex);
                first = false;
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void OnNotification(string message)
    {
        Envelope? envelope;
        try
        {
            envelope = JsonSerializer.Deserialize<Envelope>(message);
        }
        catch (JsonException)
        {
            return;
        }

        if (envelope is not null && envelope.Origin != _origin)
        {
            Deliver(envelope.Channel, envelope.Payload, logger);
        }
    }

    private sealed record Envelope(string Origin, string Channel, string Payload);
}
