using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>Which agents this replica knows to have nothing waiting, so that a heartbeat from an idle agent (nearly
/// every heartbeat) is answered without reading the tasks table, and an idle agent's task stream ticks without reading
/// it. An agent is known idle after a read found nothing for it, until the next of: a <see cref="TaskEvents"/> event
/// about it from any replica, the earliest redelivery its unstarted tasks are due for, a change to the agent
/// (<see cref="ClusterChannels.AgentsChanged"/>: a resume makes waiting tasks deliverable), or the
/// <see cref="IdleSweep"/> finding work for it (every <see cref="TaskOptions.IdleRecheckInterval"/>, which so bounds
/// the delay a lost event could cause). A lost listener connection, or a sweep that fails, forgets everything.</summary>
public sealed class AgentWorkHints : IDisposable
{
    private readonly ConcurrentDictionary<Guid, Entry> _entries = new();
    private readonly TimeProvider _time;
    private readonly IOptions<TaskOptions> _options;
    private readonly IDisposable[] _subscriptions;

    public AgentWorkHints(IClusterEvents events, TimeProvider time, IOptions<TaskOptions> options)
    {
        _time = time;
        _options = options;
        _subscriptions =
        [
            events.Subscribe(TaskEvents.Created, Forget, _entries.Clear),
            events.Subscribe(TaskEvents.Cancelled, Forget, _entries.Clear),
            events.Subscribe(ClusterChannels.AgentsChanged,
                payload => ClusterChannels.ForEachId(payload, id => _entries.TryRemove(id, out _), _entries.Clear),
                _entries.Clear),
        ];
    }

    /// <summary>Compared by reference: an event replaces or removes the entry, so a read that started before the
    /// event cannot record its now stale answer (see <see cref="RecordIdle"/>).</summary>
    public sealed class Entry(DateTime idleUntil)
    {
        public DateTime IdleUntil { get; } = idleUntil;
    }

    /// <summary>The agent's current entry; <see cref="IsIdle"/> says whether a read can be skipped.</summary>
    public Entry Observe(Guid agentId) => _entries.GetOrAdd(agentId, static _ => new Entry(DateTime.MinValue));

    public bool IsIdle(Entry entry) => entry.IdleUntil > _time.GetUtcNow().UtcDateTime;

    /// <summary>Whether the agent is known to have nothing waiting now, so a heartbeat may answer "nothing" unread.</summary>
    public bool KnowsIdle(Guid agentId) => IsIdle(Observe(agentId));

    /// <summary>Records that a read begun after <paramref name="observed"/> found nothing to hand out or cancel. The
    /// agent stays idle until <paramref name="nextRedeliveryAt"/> at the latest, or until an event or the sweep says
    /// otherwise. With an <see cref="TaskOptions.IdleRecheckInterval"/> of zero nothing is remembered. Read as the service
    /// started, as <see cref="IdleSweep"/> reads it: an idle agent is remembered only while a sweep runs to forget it.</summary>
    public void RecordIdle(Guid agentId, Entry observed, DateTime? nextRedeliveryAt)
    {
        var until = _options.Value.IdleRecheckInterval <= TimeSpan.Zero
            ? _time.GetUtcNow().UtcDateTime
            : nextRedeliveryAt ?? DateTime.MaxValue;
        _entries.TryUpdate(agentId, new Entry(until), observed);
    }

    /// <summary>Forgets what is known of these agents: their next read goes to the database.</summary>
    public void Forget(IEnumerable<Guid> agentIds)
    {
        foreach (var agentId in agentIds)
        {
            _entries.TryRemove(agentId, out _);
        }
    }

    /// <summary>Forgets every agent (what a lost event feed or a failed sweep leaves unknown).</summary>
    public void ForgetAll() => _entries.Clear();

    private void Forget(string payload) => _entries.TryRemove(TaskEvents.Parse(payload).AgentId, out _);

    public void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
    }
}
