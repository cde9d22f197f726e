using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>Tells every replica's waiting requests (<c>?wait=</c>) and event streams that a task changed, so they read
/// it again from the database instead of polling it. A change is published after it is committed; the message carries
/// only the task id and whether the task has ended, never its content, so a reader always gets the stored (redacted)
/// truth. Best effort like every cluster event: readers also read again after a resync, when the agent of their task
/// changed (deleting an agent ends its tasks), and at their own deadlines.</summary>
public sealed class TaskChanges : IDisposable
{
    /// <summary>Payload <see cref="Change"/>: a task's status, progress or logs changed.</summary>
    public const string Channel = ClusterChannels.TaskChanged;

    public sealed record Change(Guid TaskId, bool Ended);

    private readonly IClusterEvents _cluster;
    private readonly ILogger<TaskChanges> _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, List<TaskWatch>> _watches = [];
    private readonly ConcurrentDictionary<Guid, Publishing> _publishing = new();
    private readonly IDisposable[] _subscriptions;

    public TaskChanges(IClusterEvents cluster, ILogger<TaskChanges> logger)
    {
        _cluster = cluster;
        _logger = logger;
        _subscriptions =
        [
            cluster.Subscribe(Channel, OnChanged, WakeAll),
            // Deleting an agent ends its unfinished tasks in the transaction that removes it, announced as an agent change.
            cluster.Subscribe(ClusterChannels.AgentsChanged, OnAgentsChanged, WakeAll),
        ];
    }

    /// <summary>Watches now open on this replica (waits and event streams), of one task or of all.</summary>
    public int Watching(Guid? taskId = null)
    {
        lock (_lock)
        {
            return taskId is { } id ? _watches.GetValueOrDefault(id)?.Count ?? 0 : _watches.Values.Sum(w => w.Count);
        }
    }

    /// <summary>Publishes that the task changed. A chatty task (a log line at a time) costs at most one message in flight
    /// per task: changes made while one is being sent are folded into one more sent after it, so the last message always
    /// follows the last change.</summary>
    public Task PublishAsync(Guid taskId, bool ended)
    {
        var publishing = _publishing.GetOrAdd(taskId, _ => new Publishing());
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

        return SendAsync(taskId, publishing);
    }

    private async Task SendAsync(Guid taskId, Publishing publishing)
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
                await _cluster.PublishAsync(Channel, JsonSerializer.Serialize(new Change(taskId, ended), Http.Json.Options), CancellationToken.None);
            }
            catch (Exception ex)
            {
                // The change is committed; waits read again at their deadline and streams at their next check.
                _logger.TaskEventNotPublished(ex, Channel, taskId);
            }

            lock (publishing)
            {
                if (!publishing.Again)
                {
                    publishing.Running = false;
                    _publishing.TryRemove(KeyValuePair.Create(taskId, publishing));
                    return;
                }
            }
        }
    }

    /// <summary>Starts watching a task. Open the watch before reading the task, so a change between the read and the
    /// wait is not missed. With <paramref name="endOnly"/> only the end of the task (or a resync) wakes it.</summary>
    public TaskWatch Watch(Guid taskId, Guid agentId, bool endOnly)
    {
        var watch = new TaskWatch(this, taskId, agentId, endOnly);
        lock (_lock)
        {
            if (!_watches.TryGetValue(taskId, out var list))
            {
                _watches[taskId] = list = [];
            }

            list.Add(watch);
        }

        return watch;
    }

    internal void Remove(TaskWatch watch)
    {
        lock (_lock)
        {
            if (_watches.TryGetValue(watch.TaskId, out var list) && list.Remove(watch) && list.Count == 0)
            {
                _watches.Remove(watch.TaskId);
            }
        }
    }

    /// <summary>A message of <see cref="Channel"/>, or null for one that is not (to be ignored).</summary>
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

    private void OnChanged(string payload)
    {
        if (Parse(payload) is { } change)
        {
            Wake(w => w.TaskId == change.TaskId && (change.Ended || !w.EndOnly), change.TaskId);
        }
    }

    private void OnAgentsChanged(string payload) =>
        ClusterChannels.ForEachId(payload, agentId => Wake(w => w.AgentId == agentId, null), WakeAll);

    private void WakeAll() => Wake(_ => true, null);

    private void Wake(Func<TaskWatch, bool> which, Guid? taskId)
    {
        TaskWatch[] woken;
        lock (_lock)
        {
            woken = taskId is { } id
                ? _watches.TryGetValue(id, out var list) ? [.. list.Where(which)] : []
                : [.. _watches.Values.SelectMany(l => l).Where(which)];
        }

        foreach (var watch in woken)
        {
            watch.Signal();
        }
    }

    public void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
    }

    private sealed class Publishing
    {
        public bool Running;
        public bool Again;
        public bool Ended;
    }
}

/// <summary>One waiting request's or stream's interest in a task: a signal that holds at most one wake-up, so changes
/// that come while the reader is busy collapse into one more read.</summary>
public sealed class TaskWatch : IDisposable
{
    private readonly TaskChanges _owner;
    private readonly Channel<bool> _signal = System.Threading.Channels.Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    internal TaskWatch(TaskChanges owner, Guid taskId, Guid agentId, bool endOnly)
    {
        _owner = owner;
        TaskId = taskId;
        AgentId = agentId;
        EndOnly = endOnly;
    }

    public Guid TaskId { get; }
    public Guid AgentId { get; }
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

    public void Dispose() => _owner.Remove(this);
}
