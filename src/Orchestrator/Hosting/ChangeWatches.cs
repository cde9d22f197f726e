using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;

namespace Orchestrator.Hosting;

/// <summary>"This thing changed" news on one cluster channel, for requests that wait on a thing (<c>?wait=</c>) or follow
/// it (event streams) without polling: a change is published after it is committed, carries only the thing's id and
/// whether it has ended (never its content, so a reader always reads the stored truth), and wakes the watches of that id
/// on every replica. Best effort like every cluster event: a resync wakes every watch, and readers also read again at
/// their own deadlines. Tasks and rollouts each own one (<c>TaskChanges</c>, <c>RolloutChanges</c>).</summary>
public sealed class ChangeWatches : IDisposable
{
    private readonly IClusterEvents _cluster;
    private readonly string _channel;
    private readonly string _idName;
    private readonly Action<Exception, Guid> _notPublished;
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, List<ChangeWatch>> _watches = [];
    private readonly ConcurrentDictionary<Guid, Publishing> _publishing = new();
    private readonly IDisposable _subscription;

    /// <param name="cluster">Where the news travels.</param>
    /// <param name="channel">Its channel (<see cref="ClusterChannels"/>); messages are <c>{"idName": id, "ended": bool}</c>.</param>
    /// <param name="idName">The message's name for the id (<c>taskId</c>, <c>rolloutId</c>).</param>
    /// <param name="notPublished">Told when a message could not be sent (the change is committed all the same).</param>
    public ChangeWatches(IClusterEvents cluster, string channel, string idName, Action<Exception, Guid> notPublished)
    {
        _cluster = cluster;
        _channel = channel;
        _idName = idName;
        _notPublished = notPublished;
        _subscription = cluster.Subscribe(channel, OnChanged, WakeAll);
    }

    /// <summary>A message of this channel, or null for one that is not (to be ignored).</summary>
    public static (Guid Id, bool Ended)? Parse(string payload, string idName)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            return root.TryGetProperty(idName, out var id) && id.TryGetGuid(out var value) &&
                root.TryGetProperty("ended", out var ended) && ended.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? (value, ended.GetBoolean())
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Watches now open on this replica, of one id or of all.</summary>
    public int Watching(Guid? id = null)
    {
        lock (_lock)
        {
            return id is { } one ? _watches.GetValueOrDefault(one)?.Count ?? 0 : _watches.Values.Sum(w => w.Count);
        }
    }

    /// <summary>Publishes that the thing changed. A chatty thing (a task's log line at a time) costs at most one message in
    /// flight per id: changes made while one is being sent are folded into one more sent after it, so the last message
    /// always follows the last change.</summary>
    public Task PublishAsync(Guid id, bool ended)
    {
        var publishing = _publishing.GetOrAdd(id, _ => new Publishing());
        lock (publishing)
        {
            publishing.Ended |= ended;
            if (publishing.Running)
            {
                publishing.Again = true;
                return Task.CompletedTask;
            }

            publishing.Running = true;
        }

        return SendAsync(id, publishing);
    }

    private async Task SendAsync(Guid id, Publishing publishing)
    {
        while (true)
        {
            bool ended;
            lock (publishing)
            {
                ended = publishing.Ended;
                publishing.Ended = false;
                publishing.Again = false;
            }

            try
            {
                // Not the caller's token: other callers' changes folded into this message must go out even if this
                // caller has gone away.
                var message = new Dictionary<string, object> { [_idName] = id, ["ended"] = ended };
                await _cluster.PublishAsync(_channel, JsonSerializer.Serialize(message), CancellationToken.None);
            }
            catch (Exception ex)
            {
                // The change is committed; waits read again at their deadline and streams at their next check.
                _notPublished(ex, id);
            }

            lock (publishing)
            {
                if (!publishing.Again)
                {
                    publishing.Running = false;
                    _publishing.TryRemove(KeyValuePair.Create(id, publishing));
                    return;
                }
            }
        }
    }

    /// <summary>Starts watching an id. Open the watch before reading the thing, so a change between the read and the wait
    /// is not missed. With <paramref name="endOnly"/> only the end (or a resync) wakes it. <paramref name="group"/> is an
    /// id of something else whose change also concerns it (a task's agent: see <see cref="WakeGroup"/>).</summary>
    public ChangeWatch Watch(Guid id, bool endOnly, Guid group = default)
    {
        var watch = new ChangeWatch(this, id, group, endOnly);
        lock (_lock)
        {
            if (!_watches.TryGetValue(id, out var list))
            {
                _watches[id] = list = [];
            }

            list.Add(watch);
        }

        return watch;
    }

    internal void Remove(ChangeWatch watch)
    {
        lock (_lock)
        {
            if (_watches.TryGetValue(watch.Id, out var list) && list.Remove(watch) && list.Count == 0)
            {
                _watches.Remove(watch.Id);
            }
        }
    }

    /// <summary>Wakes the watches opened with this <c>group</c>.</summary>
    public void WakeGroup(Guid group) => Wake(w => w.Group == group, null);

    public void WakeAll() => Wake(_ => true, null);

    private void OnChanged(string payload)
    {
        if (Parse(payload, _idName) is var (id, ended))
        {
            Wake(w => ended || !w.EndOnly, id);
        }
    }

    private void Wake(Func<ChangeWatch, bool> which, Guid? id)
    {
        ChangeWatch[] woken;
        lock (_lock)
        {
            woken = id is { } one
                ? _watches.TryGetValue(one, out var list) ? [.. list.Where(which)] : []
                : [.. _watches.Values.SelectMany(l => l).Where(which)];
        }

        foreach (var watch in woken)
        {
            watch.Signal();
        }
    }

    public void Dispose() => _subscription.Dispose();

    private sealed class Publishing
    {
        public bool Running;
        public bool Again;
        public bool Ended;
    }
}

/// <summary>One waiting request's or stream's interest in a thing: a signal that holds at most one wake-up, so changes
/// that come while the reader is busy collapse into one more read.</summary>
public sealed class ChangeWatch : IDisposable
{
    private readonly ChangeWatches _owner;
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    internal ChangeWatch(ChangeWatches owner, Guid id, Guid group, bool endOnly)
    {
        _owner = owner;
        Id = id;
        Group = group;
        EndOnly = endOnly;
    }

    public Guid Id { get; }
    public Guid Group { get; }
    public bool EndOnly { get; }

    internal void Signal() => _signal.Writer.TryWrite(true);

    /// <summary>True when woken, false when <paramref name="timeout"/> passed first. No thread or database connection
    /// is held while it waits.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (_signal.Reader.TryRead(out _))
        {
            return true;
        }

        if (timeout <= TimeSpan.Zero)
        {
            return false;
        }

        using var expiry = new CancellationTokenSource(timeout, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(expiry.Token, cancellationToken);
        try
        {
            await _signal.Reader.ReadAsync(either.Token);
            return true;
        }
        catch (OperationCanceledException) when (expiry.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary><see cref="WaitAsync"/> up to a point in time. The clock is read again once the timer is armed: time that
    /// passed while it was being made (a fake clock moved by another thread) would otherwise be counted twice.</summary>
    private async Task<bool> WaitUntilAsync(DateTimeOffset deadline, TimeProvider time, CancellationToken cancellationToken)
    {
        if (_signal.Reader.TryRead(out _))
        {
            return true;
        }

        var remaining = deadline - time.GetUtcNow();
        if (remaining <= TimeSpan.Zero)
        {
            return false;
        }

        using var expiry = new CancellationTokenSource(remaining, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(expiry.Token, cancellationToken);
        if (time.GetUtcNow() >= deadline)
        {
            return _signal.Reader.TryRead(out _);
        }

        try
        {
            await _signal.Reader.ReadAsync(either.Token);
            return true;
        }
        catch (OperationCanceledException) when (expiry.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Waits until <paramref name="ended"/> says the thing has ended (or is gone), <paramref name="deadline"/> has
    /// passed, the client has gone, or the service is stopping (the client then asks again, of a replica that is up). It
    /// reads once more after the watch is open, so an end committed just before is not missed; the caller reads the
    /// thing afterwards.</summary>
    /// <remarks><paramref name="deadline"/> is fixed by the caller before it opens the watch: whoever sees the watch
    /// counted (a test advancing a fake clock) then moves time after the deadline was set, never before.</remarks>
    public async Task UntilEndedAsync(DateTimeOffset deadline, Func<CancellationToken, Task<bool>> ended, TimeProvider time,
        IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        while (!await ended(cancellationToken))
        {
            try
            {
                if (!await WaitUntilAsync(deadline, time, stopping.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
                when (lifetime.ApplicationStopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    public void Dispose() => _owner.Remove(this);
}
