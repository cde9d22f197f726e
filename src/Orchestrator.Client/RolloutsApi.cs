using System.Net.ServerSentEvents;
using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>One event of a rollout's event stream: its id, its type (<see cref="RolloutEventTypes"/>) and the payload of
/// that type; events of types this client does not know carry no payload.</summary>
public sealed record RolloutEvent(
    string? Id, string Type, RolloutStatusEvent? Status = null, RolloutBatchEvent? Batch = null, RolloutTargetEvent? Target = null)
{
    /// <summary>The status event of a final state: the last event of the stream.</summary>
    public bool IsFinal => Status?.Status.IsFinal() == true;
}

/// <summary><c>/api/v1/rollouts</c>: one task for every agent of a set, batch by batch (docs/rollouts.md).</summary>
public sealed class RolloutsApi
{
    private readonly OrchestratorClient _client;
    private static OrchestratorJsonContext Json => OrchestratorJsonContext.Default;

    internal RolloutsApi(OrchestratorClient client) => _client = client;

    /// <summary>Creates a rollout. Retried on transient failures only when it carries an <c>idempotencyKey</c>, since the
    /// server then answers a repeat with the first rollout instead of creating another.</summary>
    public Task<RolloutResponse> CreateAsync(CreateRolloutRequest request, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, "/api/v1/rollouts", ApiTransport.Json(request, Json.CreateRolloutRequest),
            Json.RolloutResponse, idempotent: request.IdempotencyKey is not null, cancellationToken);

    /// <summary>The rollout with its counts and targets. With <paramref name="wait"/> (whole seconds, up to 60) the server
    /// answers as soon as the rollout has ended, or with its current state when the wait runs out.</summary>
    public Task<RolloutResponse> GetAsync(Guid rolloutId, int? wait = null, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query($"/api/v1/rollouts/{rolloutId}", ("wait", ApiTransport.Text(wait))), null, Json.RolloutResponse, idempotent: true,
            cancellationToken);

    /// <summary>Newest first; <c>targets</c> is null in lists.</summary>
    public async Task<Page<RolloutResponse>> ListAsync(RolloutStatus? status = null, int? limit = null, string? after = null,
        CancellationToken cancellationToken = default)
    {
        var (items, next) = await _client.Transport.SendWithLinkAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query("/api/v1/rollouts", ("status", status is { } s ? WireNames.Of(s) : null), ("limit", ApiTransport.Text(limit)),
                ("after", after)),
            null, Json.ListRolloutResponse, idempotent: true, cancellationToken);
        return new Page<RolloutResponse>(items, next);
    }

    public IAsyncEnumerable<RolloutResponse> ListAllAsync(RolloutStatus? status = null, CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => ListAsync(status, null, after, ct), cancellationToken);

    /// <summary>202: no batch starts until resumed. A rollout that has ended: 409.</summary>
    public Task<RolloutResponse> PauseAsync(Guid rolloutId, CancellationToken cancellationToken = default) =>
        ControlAsync(rolloutId, "pause", cancellationToken);

    /// <summary>202: goes on from a pause, the canary's included. A rollout that has ended: 409.</summary>
    public Task<RolloutResponse> ResumeAsync(Guid rolloutId, CancellationToken cancellationToken = default) =>
        ControlAsync(rolloutId, "resume", cancellationToken);

    /// <summary>202: no batch starts and unfinished tasks are cancelled. A rollout that has ended: 409.</summary>
    public Task<RolloutResponse> CancelAsync(Guid rolloutId, CancellationToken cancellationToken = default) =>
        ControlAsync(rolloutId, "cancel", cancellationToken);

    /// <summary>Waits until the rollout has ended and returns it, or, when <paramref name="timeout"/> runs out first, returns
    /// it as it is then (check <see cref="WireNames.IsFinal(RolloutStatus)"/>); as <see cref="TasksApi.WaitAsync"/> does
    /// for a task. <paramref name="observe"/> sees every answer before the end.</summary>
    public Task<RolloutResponse> WaitAsync(Guid rolloutId, TimeSpan? timeout = null, Action<RolloutResponse>? observe = null,
        CancellationToken cancellationToken = default) =>
        Following.WaitAsync(_client, (seconds, ct) => GetAsync(rolloutId, seconds, ct), r => r.Status.IsFinal(), timeout, observe, cancellationToken);

    /// <summary>Follows <c>GET /api/v1/rollouts/{rolloutId}/events</c> from the rollout's creation (or after
    /// <paramref name="lastEventId"/>) until its end, reconnecting without gaps or repeats.</summary>
    public IAsyncEnumerable<RolloutEvent> FollowAsync(Guid rolloutId, string? lastEventId = null, CancellationToken cancellationToken = default) =>
        Following.FollowAsync(_client, $"/api/v1/rollouts/{rolloutId}/events", lastEventId, Parse, e => e.IsFinal, cancellationToken);

    private Task<RolloutResponse> ControlAsync(Guid rolloutId, string action, CancellationToken cancellationToken) =>
        // Repeating a pause, resume or cancel that is in effect changes nothing, so a retry is safe.
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, $"/api/v1/rollouts/{rolloutId}/{action}", null, Json.RolloutResponse,
            idempotent: true, cancellationToken);

    private static RolloutEvent Parse(SseItem<string> item, string? id) => item.EventType switch
    {
        RolloutEventTypes.Status => new RolloutEvent(id, item.EventType, Status: JsonSerializer.Deserialize(item.Data, Json.RolloutStatusEvent)),
        RolloutEventTypes.Batch => new RolloutEvent(id, item.EventType, Batch: JsonSerializer.Deserialize(item.Data, Json.RolloutBatchEvent)),
        RolloutEventTypes.Target => new RolloutEvent(id, item.EventType, Target: JsonSerializer.Deserialize(item.Data, Json.RolloutTargetEvent)),
        _ => new RolloutEvent(id, item.EventType),
    };
}
