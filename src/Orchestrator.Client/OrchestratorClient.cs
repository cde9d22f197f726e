using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>The operator half of the API (header <c>X-Api-Key</c>): registration tokens, agents, tasks, rollouts, targets, audit,
/// API keys and the CA. Thread-safe; keep one per process.</summary>
public sealed class OrchestratorClient : IDisposable
{
    public const string ApiKeyHeader = "X-Api-Key";

    private readonly HttpClient _http;

    public OrchestratorClient(OrchestratorClientOptions options, string? apiKey)
        : this(options, apiKey, null)
    {
    }

    /// <summary>With a handler of your own (tests, proxies); the trust of <paramref name="options"/> is then the handler's job.</summary>
    public OrchestratorClient(OrchestratorClientOptions options, string? apiKey, HttpMessageHandler? handler)
    {
        Options = options;
        PinsItsOwnTrust = handler is null;
        _http = options.CreateHttpClient(handler ?? options.CreateHandler(), disposeHandler: handler is null);
        if (apiKey is not null)
        {
            _http.DefaultRequestHeaders.Add(ApiKeyHeader, apiKey);
        }

        Transport = new ApiTransport(options.Retry, options.Time);
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
    internal Task<HttpResponseMessage> SendStreamingAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    internal async Task<string> GetTextAsync(string path, CancellationToken cancellationToken) =>
        (await Transport.SendCoreAsync(Send, HttpMethod.Get, path, null, (r, ct) => r.Content.ReadAsStringAsync(ct), idempotent: true,
            cancellationToken)).Value;

    public void Dispose() => _http.Dispose();
}
