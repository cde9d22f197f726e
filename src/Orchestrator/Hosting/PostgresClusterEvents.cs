using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Npgsql;

namespace Orchestrator.Hosting;

/// <summary>PostgreSQL LISTEN/NOTIFY: one dedicated connection listens, reconnecting with a resync after any loss, and
/// one dedicated connection sends, in batches, so publishing never takes a connection from the request pool and a
/// burst of events costs one round trip, not one connection each. A failed send is retried (the events wait, in
/// order) until it goes out; publishing never fails the caller, whose change is already committed.</summary>
public sealed class PostgresClusterEvents(
    DatabaseConnection database, ClusterEventMetrics metrics, TimeProvider time, ILogger<PostgresClusterEvents> logger)
    : ClusterEventsBase, IHostedService, IAsyncDisposable
{
    private const string PgChannel = "orchestrator_events";

    // Bounds the wait of a publisher whose event cannot be sent yet (the database is away); the sender keeps trying.
    private static readonly TimeSpan PublishWait = TimeSpan.FromSeconds(5);

    // Events waiting to be sent. Bounded: in a long outage the oldest go first (subscribers keep the database as the
    // truth, and revocations are also reconciled from it periodically).
    private const int MaxWaiting = 10_000;
    private const int BatchSize = 200;

    // PostgreSQL's limit for a NOTIFY payload (in the default configuration).
    private const int MaxPayloadBytes = 8000;

    // How long the listening connection may stay quiet before it is probed with a query of its own, and how long the
    // probe may take: a connection that died silently (a NAT or firewall dropped it, its backend stopped) is found
    // within the sum and replaced a second later. Npgsql's own keepalive waits for its answer as long as the command
    // timeout and then for a cancellation, which came to 12 s on a loaded machine. TCP keepalives, probing sooner, also
    // end a connection whose peer is gone while nothing is in flight.
    private static readonly TimeSpan ListenQuietFor = TimeSpan.FromSeconds(2);
    private const int ListenProbeSeconds = 2;

    // Lets a replica ignore the echo of its own notifications, which it already delivered locally.
    private readonly string _origin = Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Channel<Outgoing> _outbox = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(MaxWaiting)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
    }, dropped => dropped.Sent.TrySetResult());
    private Task? _loop;
    private Task? _sender;
    private bool _sendFailing;
    private int _listenerProcessId;

    /// <summary>The PostgreSQL backend of the listening connection (0 before it is open), for tests that cut it.</summary>
    internal int ListenerProcessId => Volatile.Read(ref _listenerProcessId);

    /// <summary>For tests: while set, notifications from other replicas are dropped as they arrive, as on a connection that
    /// died without closing and so gets no resync. What must hold without events is tested with it.</summary>
    internal bool Deaf { get; set; }

    private sealed record Outgoing(string Message, TaskCompletionSource Sent);

    public override async Task PublishAsync(string channel, string payload, CancellationToken cancellationToken)
    {
        Deliver(channel, payload, logger);
        var message = JsonSerializer.Serialize(new Envelope(_origin, channel, payload, time.GetUtcNow().ToUnixTimeMilliseconds()));
        if (Encoding.UTF8.GetByteCount(message) >= MaxPayloadBytes)
        {
            // PostgreSQL would refuse it, and the sender would retry it forever ahead of every later event. Publishers
            // chunk their payloads, so this is a bug: say so, and keep the events behind it moving.
            logger.ClusterEventTooLarge(channel, Encoding.UTF8.GetByteCount(message));
            return;
        }

        var outgoing = new Outgoing(message, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_outbox.Writer.TryWrite(outgoing))
        {
            // Stopping: the outbox takes nothing more.
            return;
        }

        // Usually a few milliseconds: callers return once the other replicas can hear the event (a revoked agent's
        // stream closes everywhere before the DELETE answers). While sends fail, callers do not wait at all.
        if (Volatile.Read(ref _sendFailing))
        {
            return;
        }

        try
        {
            await outgoing.Sent.Task.WaitAsync(PublishWait, cancellationToken);
        }
        catch (TimeoutException)
        {
            // Still queued; the sender keeps trying.
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => ListenLoopAsync(_stopping.Token), CancellationToken.None);
        _sender = Task.Run(() => SendLoopAsync(_stopping.Token), CancellationToken.None);
        // Start serving only once this replica hears the others, so nothing published after start is missed.
        await Task.WhenAny(_listening.Task, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // What is still waiting goes out first (the last heartbeat flush and stream closes publish while stopping).
        _outbox.Writer.TryComplete();
        if (_sender is not null)
        {
            await Task.WhenAny(_sender, Task.Delay(PublishWait, cancellationToken));
        }

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
                var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString)
                {
                    Pooling = false,
                    CommandTimeout = ListenProbeSeconds,
                    // A probe that times out breaks the connection at once: a stopped backend answers no cancellation.
                    CancellationTimeout = -1,
                    TcpKeepAlive = true,
                    TcpKeepAliveTime = (int)ListenQuietFor.TotalSeconds,
                    TcpKeepAliveInterval = 1,
                };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(stopping);
                Volatile.Write(ref _listenerProcessId, connection.ProcessID);
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
                await using var probe = new NpgsqlCommand("SELECT 1", connection);
                while (!stopping.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(ListenQuietFor, stopping))
                    {
                        await probe.ExecuteScalarAsync(stopping);
                    }
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

    /// <summary>Sends what waits in the outbox, in order, as many events per statement as are waiting (PostgreSQL folds
    /// identical events of one statement into one, which is harmless: every event here means the same thing twice as
    /// once). On failure the
    /// batch is kept and sent again on a new connection after a growing pause (0.1 s doubling to 5 s).</summary>
    private async Task SendLoopAsync(CancellationToken stopping)
    {
        var batch = new List<Outgoing>(BatchSize);
        NpgsqlConnection? connection = null;
        var failures = 0;
        try
        {
            while (batch.Count > 0 || await _outbox.Reader.WaitToReadAsync(stopping))
            {
                while (batch.Count < BatchSize && _outbox.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                }

                try
                {
                    connection ??= await OpenSenderAsync(stopping);
                    await using var command = new NpgsqlCommand("SELECT pg_notify(@channel, m) FROM unnest(@messages) AS m", connection);
                    command.Parameters.AddWithValue("channel", PgChannel);
                    command.Parameters.AddWithValue("messages", batch.Select(o => o.Message).ToArray());
                    await command.ExecuteNonQueryAsync(stopping);
                    if (failures > 0)
                    {
                        logger.ClusterEventsSendingAgain(failures);
                    }

                    failures = 0;
                    Volatile.Write(ref _sendFailing, false);
                    batch.ForEach(o => o.Sent.TrySetResult());
                    batch.Clear();
                }
                catch (Exception ex) when (!stopping.IsCancellationRequested)
                {
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                        connection = null;
                    }

                    failures++;
                    // Publishers stop waiting (their events stay in the batch and go out with the retry): waiting only
                    // helps while the sender works, and a request must not be held for a database that is away.
                    Volatile.Write(ref _sendFailing, true);
                    batch.ForEach(o => o.Sent.TrySetResult());
                    var pause = TimeSpan.FromMilliseconds(Math.Min(5000, 100 * Math.Pow(2, Math.Min(failures - 1, 10))));
                    // The first failure of a run says why; later ones would repeat it every few seconds of an outage.
                    if (failures == 1)
                    {
                        logger.ClusterEventsNotSent(ex, batch.Count);
                    }

                    await Task.Delay(pause, stopping);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private async Task<NpgsqlConnection> OpenSenderAsync(CancellationToken stopping)
    {
        // Its own connection, outside the request pool, so a pool that is busy serving a reconnect herd does not hold
        // back the events that tell other replicas about it.
        var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false, KeepAlive = 15 };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(stopping);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
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

        if (envelope is not null && envelope.Origin != _origin && !Deaf)
        {
            metrics.Received(envelope.Channel, envelope.SentAt, time.GetUtcNow().ToUnixTimeMilliseconds());
            Deliver(envelope.Channel, envelope.Payload, logger);
        }
    }

    /// <summary><paramref name="SentAt"/>: the sender's clock, Unix milliseconds (0 from a replica of an earlier version).</summary>
    private sealed record Envelope(string Origin, string Channel, string Payload, long SentAt = 0);
}
