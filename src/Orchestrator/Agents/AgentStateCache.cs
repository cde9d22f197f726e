using System.Collections.Concurrent;
using Orchestrator.Hosting;

namespace Orchestrator.Agents;

/// <summary>What this replica believes an agent's status and capabilities are, so a routine heartbeat needs no
/// database read. Any replica that changes an agent publishes <see cref="Channel"/> and every replica forgets its
/// entry; a lost event is harmless for correctness because status changes are conditional UPDATEs that fail on a
/// stale belief, and the heartbeat flush revives an agent the database holds offline.</summary>
public sealed class AgentStateCache : IDisposable
{
    public const string Channel = ClusterChannels.AgentsChanged;

    // Ids go out in chunks: PostgreSQL NOTIFY payloads are limited to 8000 bytes.
    private const int IdsPerEvent = 100;

    private readonly ConcurrentDictionary<Guid, AgentState> _states = new();
    private readonly IClusterEvents _events;
    private readonly IDisposable _subscription;
    private long _generation;

    public AgentStateCache(IClusterEvents events)
    {
        _events = events;
        _subscription = events.Subscribe(Channel, OnChanged, resync: Clear);
    }

    /// <summary><paramref name="TaskTypes"/> empty: the agent reported none. <paramref name="MissingCapabilities"/> in its
    /// stored form (<see cref="AgentRules.StoredMissingCapabilities"/>), null for none.</summary>
    public sealed record AgentState(AgentStatus Status, string[] Capabilities, string[] TaskTypes, string? MissingCapabilities);

    /// <summary>Read before loading from the database; <see cref="Store"/> ignores a load that an invalidation overtook.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    public bool TryGet(Guid agentId, out AgentState state) => _states.TryGetValue(agentId, out state!);

    public void Store(Guid agentId, AgentState state, long generation)
    {
        _states[agentId] = state;
        if (Generation != generation)
        {
            _states.TryRemove(agentId, out _);
        }
    }

    /// <summary>Records a change this replica itself committed.</summary>
    public void Set(Guid agentId, AgentState state) => _states[agentId] = state;

    public void Forget(Guid agentId)
    {
        Interlocked.Increment(ref _generation);
        _states.TryRemove(agentId, out _);
    }

    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _states.Clear();
    }

    /// <summary>Tells every replica (this one too) to forget these agents. Call after the change is committed.</summary>
    public async Task PublishChangedAsync(IReadOnlyCollection<Guid> agentIds, CancellationToken cancellationToken)
    {
        foreach (var chunk in agentIds.Chunk(IdsPerEvent))
        {
            await _events.PublishAsync(Channel, string.Join(',', chunk), cancellationToken);
        }
    }

    private void OnChanged(string payload) => ClusterChannels.ForEachId(payload, Forget, Clear);

    public void Dispose() => _subscription.Dispose();
}
