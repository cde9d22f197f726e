using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Tasks;

namespace Orchestrator.Streams;

/// <summary>The task streams open on this replica, one per agent, and the cluster events that concern them: a task
/// created or cancelled for an agent, an agent's credentials revoked. Events come from any replica; revocations come
/// through <see cref="RevocationList"/>, which also reports those whose event was lost.</summary>
public sealed class StreamRegistry(
    IClusterEvents events, RevocationList revocations, IHostApplicationLifetime lifetime, IMeterFactory meters, ILogger<StreamRegistry> logger)
    : IHostedService
{
    private const string RevokedReason = "The agent's credentials were revoked.";

    private readonly ConcurrentDictionary<Guid, AgentStream> _streams = new();
    private readonly List<IDisposable> _subscriptions = [];
    private CancellationTokenRegistration _stopping;

    public int Count => _streams.Count;

    /// <summary>Makes this the agent's stream; an older one is closed (a new connection replaces a stale one). Closes it
    /// at once when its certificate was revoked since the request was authenticated.</summary>
    public async Task AddAsync(AgentStream stream, CancellationToken cancellationToken)
    {
        Add(stream);
        // Authentication checked the revocation list before the Add above; a revocation handled in between looked for
        // this stream and did not find it. Looking again leaves no gap: the list marks a certificate revoked before it
        // raises Revoked, so either this read sees the mark or OnRevoked, running later, sees the stream. The barrier
        // keeps the read from being done before the Add's write is visible.
        Interlocked.MemoryBarrier();
        if (await revocations.FindAsync(stream.CertificateSerial, cancellationToken) is not { Revoked: false } entry ||
            entry.AgentId != stream.AgentId)
        {
            stream.Close(WebSocketCloseStatus.PolicyViolation, RevokedReason);
        }
    }

    private void Add(AgentStream stream)
    {
        AgentStream? previous = null;
        _streams.AddOrUpdate(stream.AgentId, stream, (_, existing) =>
        {
            previous = existing;
            return stream;
        });
        previous?.Close(AgentStream.Replaced, "Replaced by a newer stream of this agent.");
        logger.StreamOpened(stream.AgentId);
    }

    public void Remove(AgentStream stream)
    {
        if (_streams.TryRemove(new KeyValuePair<Guid, AgentStream>(stream.AgentId, stream)))
        {
            logger.StreamClosed(stream.AgentId);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Read when metrics are collected; the count is this replica's, as each replica holds its own streams.
        meters.OrchestratorMeter().CreateObservableUpDownCounter("orchestrator.task_streams.open", () => Count, "{stream}",
            "Task streams (WebSockets) open on this replica.");
        _subscriptions.Add(events.Subscribe(TaskEvents.Created,
            payload => Current(TaskEvents.Parse(payload).AgentId)?.Nudge(taskCreated: true), NudgeAll));
        _subscriptions.Add(events.Subscribe(TaskEvents.Cancelled, payload =>
        {
            var message = TaskEvents.Parse(payload);
            Current(message.AgentId)?.TaskCancelled(message.TaskId);
        }));
        revocations.Revoked += OnRevoked;
        // A changed agent (a resume above all) may have deliverable tasks that waited.
        _subscriptions.Add(events.Subscribe(ClusterChannels.AgentsChanged,
            payload => ClusterChannels.ForEachId(payload, id => Current(id)?.Nudge(), NudgeAll)));
        // Streams close cleanly (1001) when the service stops, before Kestrel stops waiting for requests.
        _stopping = lifetime.ApplicationStopping.Register(() =>
        {
            foreach (var stream in _streams.Values)
            {
                stream.Close(WebSocketCloseStatus.EndpointUnavailable, "The service is shutting down.");
            }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        revocations.Revoked -= OnRevoked;
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }

        _stopping.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>The agent's stream on this replica, if one is open.</summary>
    public AgentStream? Current(Guid agentId) => _streams.TryGetValue(agentId, out var stream) ? stream : null;

    /// <summary>Events may have been missed (a lost listener connection): every stream looks for work.</summary>
    private void NudgeAll()
    {
        foreach (var stream in _streams.Values)
        {
            stream.Nudge();
        }
    }

    private void OnRevoked(RevocationList.RevokedMessage message)
    {
        foreach (var stream in _streams.Values)
        {
            if (stream.AgentId == message.AgentId || message.Serials.Contains(stream.CertificateSerial))
            {
                stream.Close(WebSocketCloseStatus.PolicyViolation, RevokedReason);
            }
        }
    }
}
