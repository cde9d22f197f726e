using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>Filters of <c>GET /api/v1/agents</c>; all given must match.</summary>
public sealed record AgentFilter(AgentStatus? Status = null, IReadOnlyList<string>? Capabilities = null,
    IReadOnlyDictionary<string, string>? Labels = null);

/// <summary><c>/api/v1/agents</c> for operators.</summary>
public sealed class AgentsApi
{
    private readonly OrchestratorClient _client;
    private static OrchestratorJsonContext Json => OrchestratorJsonContext.Default;

    internal AgentsApi(OrchestratorClient client) => _client = client;

    public async Task<Page<AgentSummary>> ListAsync(AgentFilter? filter = null, int? limit = null, string? after = null,
        CancellationToken cancellationToken = default)
    {
        var parameters = new List<(string, string?)> { ("limit", ApiTransport.Text(limit)), ("after", after) };
        if (filter?.Status is { } status)
        {
            parameters.Add(("status", WireNames.Of(status)));
        }

        parameters.AddRange((filter?.Capabilities ?? []).Select(c => ("capability", (string?)c)));
        parameters.AddRange((filter?.Labels ?? new Dictionary<string, string>()).Select(l => ("label", (string?)$"{l.Key}={l.Value}")));
        var (items, next) = await _client.Transport.SendWithLinkAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query("/api/v1/agents", [.. parameters]), null, Json.ListAgentSummary, idempotent: true, cancellationToken);
        return new Page<AgentSummary>(items, next);
    }

    /// <summary>Every agent matching the filter, following the pages.</summary>
    public IAsyncEnumerable<AgentSummary> ListAllAsync(AgentFilter? filter = null, CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => ListAsync(filter, null, after, ct), cancellationToken);

    public Task<AgentDetails> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Get, $"/api/v1/agents/{id}", null, Json.AgentDetails, idempotent: true, cancellationToken);

    /// <summary>Each field given replaces the stored set (PUT: retried, since repeating it changes nothing).</summary>
    public Task<AgentDetails> UpdateAsync(Guid id, UpdateAgentRequest request, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Put, $"/api/v1/agents/{id}", ApiTransport.Json(request, Json.UpdateAgentRequest),
            Json.AgentDetails, idempotent: true, cancellationToken);

    /// <summary>Revokes the agent's credentials and removes it.</summary>
    public Task<DeletedResponse> DeleteAsync(Guid id, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Delete, $"/api/v1/agents/{id}", null, Json.DeletedResponse, idempotent: false, cancellationToken);

    public Task<AgentDetails> DrainAsync(Guid id, DrainRequest? request = null, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, $"/api/v1/agents/{id}/drain",
            ApiTransport.Json(request ?? new DrainRequest(null, null), Json.DrainRequest), Json.AgentDetails, idempotent: true, cancellationToken);

    public Task<AgentDetails> ResumeAsync(Guid id, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, $"/api/v1/agents/{id}/resume", null, Json.AgentDetails, idempotent: true,
            cancellationToken);
}

/// <summary><c>/api/v1/tasks</c>.</summary>
public sealed partial class TasksApi
{
    private readonly OrchestratorClient _client;
    private static OrchestratorJsonContext Json => OrchestratorJsonContext.Default;

    internal TasksApi(OrchestratorClient client) => _client = client;

    /// <summary>Creates a task. Retried on transient failures only when it carries an <c>idempotencyKey</c>, since the
    /// server then answers a repeat with the first task instead of creating another. A 503 "no agent matches" is
    /// an answer, never retried.</summary>
    public Task<TaskResponse> CreateAsync(CreateTaskRequest request, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, "/api/v1/tasks", ApiTransport.Json(request, Json.CreateTaskRequest),
            Json.TaskResponse, idempotent: request.IdempotencyKey is not null, cancellationToken);

    /// <summary>The task with its logs. With <paramref name="wait"/> (whole seconds, up to 60) the server answers as soon
    /// as the task has ended, or with its current state when the wait runs out.</summary>
    public Task<TaskResponse> GetAsync(Guid taskId, int? wait = null, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Get, ApiTransport.Query($"/api/v1/tasks/{taskId}", ("wait", ApiTransport.Text(wait))),
            null, Json.TaskResponse, idempotent: true, cancellationToken);

    public Task<Page<TaskResponse>> ListAsync(Guid? agentId = null, AgentTaskStatus? status = null, int? limit = null, string? after = null,
        CancellationToken cancellationToken = default) =>
        QueryAsync(agentId, rolloutId: null, status, limit, after, cancellationToken);

    public IAsyncEnumerable<TaskResponse> ListAllAsync(Guid? agentId = null, AgentTaskStatus? status = null, CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => QueryAsync(agentId, null, status, null, after, ct), cancellationToken);

    /// <summary>The tasks a rollout created (<c>?rolloutId=</c>), newest first.</summary>
    public Task<Page<TaskResponse>> ListByRolloutAsync(Guid rolloutId, AgentTaskStatus? status = null, int? limit = null, string? after = null,
        CancellationToken cancellationToken = default) =>
        QueryAsync(agentId: null, rolloutId, status, limit, after, cancellationToken);

    public IAsyncEnumerable<TaskResponse> ListAllByRolloutAsync(Guid rolloutId, AgentTaskStatus? status = null,
        CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => QueryAsync(null, rolloutId, status, null, after, ct), cancellationToken);

    private async Task<Page<TaskResponse>> QueryAsync(Guid? agentId, Guid? rolloutId, AgentTaskStatus? status, int? limit, string? after,
        CancellationToken cancellationToken)
    {
        var (items, next) = await _client.Transport.SendWithLinkAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query("/api/v1/tasks", ("agentId", agentId?.ToString()), ("rolloutId", rolloutId?.ToString()),
                ("status", status is { } s ? WireNames.Of(s) : null), ("limit", ApiTransport.Text(limit)), ("after", after)),
            null, Json.ListTaskResponse, idempotent: true, cancellationToken);
        return new Page<TaskResponse>(items, next);
    }

    /// <summary>202: the task as it is now (<c>cancelled</c> when it was pending, else <c>cancelling</c>). An ended task: 409.</summary>
    public Task<TaskResponse> CancelAsync(Guid taskId, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, $"/api/v1/tasks/{taskId}/cancel", null, Json.TaskResponse, idempotent: false,
            cancellationToken);
}

/// <summary><c>/api/v1/registration-tokens</c>.</summary>
public sealed class RegistrationTokensApi
{
    private readonly OrchestratorClient _client;
    private static OrchestratorJsonContext Json => OrchestratorJsonContext.Default;

    internal RegistrationTokensApi(OrchestratorClient client) => _client = client;

    /// <summary>The token is in this answer only. Not retried (a retry could mint a second token).</summary>
    public Task<CreatedTokenResponse> CreateAsync(CreateTokenRequest? request = null, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, "/api/v1/registration-tokens",
            ApiTransport.Json(request ?? new CreateTokenRequest(null, null, null, null), Json.CreateTokenRequest), Json.CreatedTokenResponse,
            idempotent: false, cancellationToken);

    public async Task<Page<TokenResponse>> ListAsync(int? limit = null, string? after = null, CancellationToken cancellationToken = default)
    {
        var (items, next) = await _client.Transport.SendWithLinkAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query("/api/v1/registration-tokens", ("limit", ApiTransport.Text(limit)), ("after", after)), null, Json.ListTokenResponse,
            idempotent: true, cancellationToken);
        return new Page<TokenResponse>(items, next);
    }

    public IAsyncEnumerable<TokenResponse> ListAllAsync(CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => ListAsync(null, after, ct), cancellationToken);

    public Task<DeletedResponse> RevokeAsync(Guid id, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Delete, $"/api/v1/registration-tokens/{id}", null, Json.DeletedResponse,
            idempotent: false, cancellationToken);
}

/// <summary><c>/api/v1/targets</c>.</summary>
public sealed class TargetsApi
{
    private readonly OrchestratorClient _client;
    private static OrchestratorJsonContext Json => OrchestratorJsonContext.Default;

    internal TargetsApi(OrchestratorClient client) => _client = client;

    public Task<TargetResponse> CreateAsync(CreateTargetRequest request, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, "/api/v1/targets", ApiTransport.Json(request, Json.CreateTargetRequest),
            Json.TargetResponse, idempotent: false, cancellationToken);

    public Task<TargetResponse> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Get, $"/api/v1/targets/{id}", null, Json.TargetResponse, idempotent: true, cancellationToken);

    public async Task<Page<TargetResponse>> ListAsync(Guid? agentId = null, string? type = null, int? limit = null, string? after = null,
        CancellationToken cancellationToken = default)
    {
        var (items, next) = await _client.Transport.SendWithLinkAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query("/api/v1/targets", ("agentId", agentId?.ToString()), ("type", type), ("limit", ApiTransport.Text(limit)), ("after", after)),
            null, Json.ListTargetResponse, idempotent: true, cancellationToken);
        return new Page<TargetResponse>(items, next);
    }

    public IAsyncEnumerable<TargetResponse> ListAllAsync(Guid? agentId = null, string? type = null, CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => ListAsync(agentId, type, null, after, ct), cancellationToken);

    public Task<DeletedResponse> DeleteAsync(Guid id, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Delete, $"/api/v1/targets/{id}", null, Json.DeletedResponse, idempotent: false,
            cancellationToken);
}

/// <summary><c>/api/v1/audit</c> (admin), newest first.</summary>
public sealed class AuditApi
{
    private readonly OrchestratorClient _client;

    internal AuditApi(OrchestratorClient client) => _client = client;

    public async Task<Page<AuditEventResponse>> ListAsync(string? action = null, string? subjectId = null, int? limit = null, string? after = null,
        CancellationToken cancellationToken = default)
    {
        var (items, next) = await _client.Transport.SendWithLinkAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query("/api/v1/audit", ("action", action), ("subjectId", subjectId), ("limit", ApiTransport.Text(limit)), ("after", after)),
            null, OrchestratorJsonContext.Default.ListAuditEventResponse, idempotent: true, cancellationToken);
        return new Page<AuditEventResponse>(items, next);
    }

    /// <summary>Every matching event, newest first, following the pages (stop enumerating to stop fetching).</summary>
    public IAsyncEnumerable<AuditEventResponse> ListAllAsync(string? action = null, string? subjectId = null, CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => ListAsync(action, subjectId, null, after, ct), cancellationToken);
}

/// <summary><c>/api/v1/api-keys</c> (admin).</summary>
public sealed class ApiKeysApi
{
    private readonly OrchestratorClient _client;
    private static OrchestratorJsonContext Json => OrchestratorJsonContext.Default;

    internal ApiKeysApi(OrchestratorClient client) => _client = client;

    /// <summary>The key is in this answer only.</summary>
    public Task<CreatedApiKeyResponse> CreateAsync(CreateApiKeyRequest request, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, "/api/v1/api-keys", ApiTransport.Json(request, Json.CreateApiKeyRequest),
            Json.CreatedApiKeyResponse, idempotent: false, cancellationToken);

    public async Task<Page<ApiKeyResponse>> ListAsync(int? limit = null, string? after = null, CancellationToken cancellationToken = default)
    {
        var (items, next) = await _client.Transport.SendWithLinkAsync(_client.Send, HttpMethod.Get,
            ApiTransport.Query("/api/v1/api-keys", ("limit", ApiTransport.Text(limit)), ("after", after)), null, Json.ListApiKeyResponse,
            idempotent: true, cancellationToken);
        return new Page<ApiKeyResponse>(items, next);
    }

    public IAsyncEnumerable<ApiKeyResponse> ListAllAsync(CancellationToken cancellationToken = default) =>
        Paging.All((after, ct) => ListAsync(null, after, ct), cancellationToken);

    public Task<DeletedResponse> RevokeAsync(Guid id, CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Delete, $"/api/v1/api-keys/{id}", null, Json.DeletedResponse, idempotent: false,
            cancellationToken);
}

/// <summary><c>/api/v1/ca</c>.</summary>
public sealed class CaApi
{
    private readonly OrchestratorClient _client;

    internal CaApi(OrchestratorClient client) => _client = client;

    /// <summary>Every currently trusted root, as PEM.</summary>
    public Task<string> GetBundleAsync(CancellationToken cancellationToken = default) => _client.GetTextAsync("/api/v1/ca", cancellationToken);

    /// <summary>Fetches the bundle and pins it in place of <see cref="OrchestratorClientOptions.Trust"/>'s (see
    /// <see cref="ServerTrust.Adopt"/>): after a CA rotation, call it before the server moves to a certificate from the
    /// new root. Safe only because the bundle arrives over a connection the current pin accepted; with a handler of
    /// your own (which then does the trust) or without a pin, nothing is adopted. Returns whether the pin changed.</summary>
    public async Task<bool> RefreshTrustAsync(CancellationToken cancellationToken = default)
    {
        var bundle = await GetBundleAsync(cancellationToken);
        return _client.PinsItsOwnTrust && _client.Options.Trust is { } trust && trust.Adopt(bundle);
    }

    /// <summary>Rotates the CA root and the token signing key (admin).</summary>
    public Task<RotatedResponse> RotateAsync(CancellationToken cancellationToken = default) =>
        _client.Transport.SendAsync(_client.Send, HttpMethod.Post, "/api/v1/ca/rotate", null, OrchestratorJsonContext.Default.RotatedResponse,
            idempotent: false, cancellationToken);
}
