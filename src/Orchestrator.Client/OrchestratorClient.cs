using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>The operator half of the API (header <c>X-Api-Key</c>): registration tokens, agents, tasks, rollouts, targets, audit,
/// API keys and the CA. Thread-safe; keep one per process.</summary>
public sealed class OrchestratorClient : IDisposable
{
    public const string ApiKeyHeader = "X-Api-Key";

    private readonly HttpClient _http;

    /// <summary>With <paramref name="apiKey"/>, else <see cref="OrchestratorClientOptions.ApiKey"/>. In a program with
    /// dependency injection, <c>services.AddOrchestratorClient(o => …)</c> registers it instead.</summary>
    public OrchestratorClient(OrchestratorClientOptions options, string? apiKey)
        : this(options, apiKey, null)
    {
    }

    /// <summary>With a handler of your own (tests, proxies) under the client's retries; the trust of
    /// <paramref name="options"/> is then the handler's job.</summary>
    public OrchestratorClient(OrchestratorClientOptions options, string? apiKey, HttpMessageHandler? handler)
        : this(options.CreateHttpClient(handler ?? options.CreateHandler(), disposeHandler: handler is null), options, apiKey,
            pinsItsOwnTrust: handler is null)
    {
    }

    /// <summary>Over an <see cref="HttpClient"/> from <c>IHttpClientFactory</c>, whose handlers already hold the retry
    /// pipeline and the pinned trust (<c>AddOrchestratorClient</c>).</summary>
    internal OrchestratorClient(HttpClient http, OrchestratorClientOptions options, string? apiKey, bool pinsItsOwnTrust)
    {
        Options = options;
        PinsItsOwnTrust = pinsItsOwnTrust;
        _http = http;
        if ((apiKey ?? options.ApiKey) is { } key)
        {
            _http.DefaultRequestHeaders.Add(ApiKeyHeader, key);
        }

        Transport = new ApiTransport(options.Time);
        Agents = new AgentsApi(this);
        Tasks = new TasksApi(this);
        Rollouts = new RolloutsApi(this);
        RegistrationTokens = new RegistrationTokensApi(this);
        Targets = new TargetsApi(this);
        Audit = new AuditApi(this);
        ApiKeys = new ApiKeysApi(this);
        Ca = new CaApi(this);
    }

    public OrchestratorClientOptions Options { get; }
    public AgentsApi Agents { get; }
    public TasksApi Tasks { get; }
    public RolloutsApi Rollouts { get; }
    public RegistrationTokensApi RegistrationTokens { get; }
    public TargetsApi Targets { get; }
    public AuditApi Audit { get; }
    public ApiKeysApi ApiKeys { get; }
    public CaApi Ca { get; }

    internal ApiTransport Transport { get; }

    /// <summary>Whether connections are checked against <see cref="OrchestratorClientOptions.Trust"/> (not a caller's handler).</summary>
    internal bool PinsItsOwnTrust { get; }

    /// <summary>Any call as raw JSON (for printing exactly what the API answered). Retried only for GET.</summary>
    public async Task<JsonElement> SendRawAsync(HttpMethod method, string pathAndQuery, JsonElement? body = null,
        CancellationToken cancellationToken = default) =>
        await Transport.SendAsync(Send, method, pathAndQuery,
            body is null ? null : ApiTransport.Json(body.Value, OrchestratorJsonContext.Default.JsonElement),
            OrchestratorJsonContext.Default.JsonElement, idempotent: method == HttpMethod.Get, cancellationToken);

    internal Task<HttpResponseMessage> Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);

    /// <summary>Answers as soon as the headers arrive, for bodies read as they come (the task event stream); the client's
    /// per-attempt timeout then covers only the wait for the headers.</summary>
    internal Task<HttpResponseMessage> SendStreamingAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Options.Set(ClientResilience.Streaming, true);
        return _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    internal async Task<string> GetTextAsync(string path, CancellationToken cancellationToken) =>
        (await Transport.SendCoreAsync(Send, HttpMethod.Get, path, null, (r, ct) => r.Content.ReadAsStringAsync(ct), idempotent: true,
            cancellationToken)).Value;

    public void Dispose() => _http.Dispose();
}
