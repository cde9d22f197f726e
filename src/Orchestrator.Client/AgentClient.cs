using System.Net.Http.Headers;
using System.Net.WebSockets;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>The agent half of the API: registration (with a registration token), then every call over mutual TLS with
/// the agent's certificate and its bound token. <see cref="UseCredentials"/> swaps both at once (after a renewal): calls
/// already under way finish on the connections and token they started with, new calls use the new pair, so no call
/// fails because of a renewal.</summary>
public sealed class AgentClient : IDisposable
{
    public const string RegistrationTokenHeader = "X-Agent-Token";

    private readonly OrchestratorClientOptions _options;
    private readonly ApiTransport _transport;
    private readonly HttpClient _anonymous;
    private readonly HttpClient _api;
    private readonly Lock _lock = new();
    private Session? _session;
    private bool _disposed;

    public AgentClient(OrchestratorClientOptions options)
    {
        _options = options;
        _transport = new ApiTransport(options.Time);
        _anonymous = options.CreateHttpClient(options.CreateHandler());
        _api = options.CreateHttpClient(new CurrentSession(this));
    }

    public Uri Server => _options.Server;

    /// <summary>The credentials in use, or null before <see cref="UseCredentials"/>.</summary>
    public AgentCredentials? Credentials => _session?.Credentials;

    private Guid AgentId => Credentials?.AgentId ?? throw new InvalidOperationException("The agent has no credentials yet: register first.");

    /// <summary>Presents these credentials from now on (new connections; open ones finish their calls and close).</summary>
    public void UseCredentials(AgentCredentials credentials)
    {
        Session? previous;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            previous = _session;
            _session = new Session(credentials, _options);
        }

        previous?.Retire();
    }

    /// <summary><c>POST /api/v1/agents/register</c>. Spends the token, so never retried.</summary>
    public async Task<RegisterResponse> RegisterAsync(string registrationToken, RegisterRequest request, CancellationToken cancellationToken = default)
    {
        var answer = await _transport.SendAsync(_anonymous.SendAsync, HttpMethod.Post, "/api/v1/agents/register",
            ApiTransport.Json(request, OrchestratorJsonContext.Default.RegisterRequest), OrchestratorJsonContext.Default.RegisterResponse,
            idempotent: false, cancellationToken, message => message.Headers.Add(RegistrationTokenHeader, registrationToken));
        AdoptBundle(answer.Certificate.Ca);
        return answer;
    }

    /// <summary>A heartbeat. Not retried here: the next beat is the retry, and a beat must not arrive late and twice.
    /// <para>A <c>certificateRenewal</c> in the answer brings the CA bundle too: it is pinned at once (see <see cref="RenewAsync"/>).</para></summary>
    public async Task<HeartbeatResponse> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(HttpMethod.Post, $"/api/v1/agents/{AgentId}/heartbeat",
            ApiTransport.Json(request, OrchestratorJsonContext.Default.HeartbeatRequest), OrchestratorJsonContext.Default.HeartbeatResponse,
            idempotent: false, cancellationToken);
        AdoptBundle(answer.CertificateRenewal?.Ca);
        return answer;
    }

    /// <summary>Renews the certificate and token now; with a CSR, for the CSR's (new) key. The answer's CA bundle came
    /// over a connection the pinned CA accepted, so it becomes the pin (<see cref="ServerTrust.Adopt"/>): after a CA
    /// rotation, the server moves to a certificate from the new root only once every agent has renewed since, and by
    /// then this client accepts it.</summary>
    public async Task<RenewalResponse> RenewAsync(string? csr, CancellationToken cancellationToken = default)
    {
        var answer = await SendAsync(HttpMethod.Post, $"/api/v1/agents/{AgentId}/certificate/renew",
            ApiTransport.Json(new RenewRequest(csr), OrchestratorJsonContext.Default.RenewRequest), OrchestratorJsonContext.Default.RenewalResponse,
            idempotent: false, cancellationToken);
        AdoptBundle(answer.Ca);
        return answer;
    }

    private void AdoptBundle(string? bundlePem)
    {
        if (bundlePem is { Length: > 0 })
        {
            _options.Trust?.Adopt(bundlePem);
        }
    }

    /// <summary>Who the credentials say the agent is; a cheap check that they still work.</summary>
    public Task<IdentityResponse> GetIdentityAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/v1/agents/{AgentId}/identity", null, OrchestratorJsonContext.Default.IdentityResponse, idempotent: true,
            cancellationToken);

    /// <summary>The poll: summaries of waiting tasks (not a delivery) and ids of tasks to stop.</summary>
    public Task<PendingTasksResponse> GetPendingTasksAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/v1/agents/{AgentId}/tasks", null, OrchestratorJsonContext.Default.PendingTasksResponse, idempotent: true,
            cancellationToken);

    /// <summary>One task with payload and credentials (a delivery).</summary>
    public Task<AgentTaskResponse> FetchTaskAsync(Guid taskId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"/api/v1/agents/{AgentId}/tasks/{taskId}", null, OrchestratorJsonContext.Default.AgentTaskResponse,
            idempotent: true, cancellationToken);

    /// <summary>Reports a task's outcome. Retried: the server acknowledges the same completion again, and answers 409 to a
    /// different one for a task that has already ended (final: stop retrying).</summary>
    public Task<AcknowledgedResponse> CompleteTaskAsync(Guid taskId, CompleteTaskRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"/api/v1/agents/{AgentId}/tasks/{taskId}/complete",
            ApiTransport.Json(request, OrchestratorJsonContext.Default.CompleteTaskRequest), OrchestratorJsonContext.Default.AcknowledgedResponse,
            idempotent: true, cancellationToken);

    /// <summary>Opens the WebSocket task stream with the current credentials. A refused upgrade surfaces as
    /// <see cref="OrchestratorApiException"/> (401 when the credentials are revoked).</summary>
    public async Task<TaskStream> ConnectTaskStreamAsync(CancellationToken cancellationToken = default)
    {
        var session = Lease();
        var socket = new ClientWebSocket();
        try
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {session.Credentials.Token}");
            socket.Options.SetRequestHeader("User-Agent", _options.UserAgent);
            socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(20);
            socket.Options.CollectHttpResponseDetails = true;
            var builder = new UriBuilder(new Uri(_options.Server, $"/api/v1/agents/{session.Credentials.AgentId}/task-stream"))
            {
                Scheme = _options.Server.Scheme == Uri.UriSchemeHttp ? "ws" : "wss",
            };
            using var invoker = new HttpMessageInvoker(session.Handler, disposeHandler: false);
            try
            {
                await socket.ConnectAsync(builder.Uri, invoker, cancellationToken);
            }
            catch (WebSocketException) when (socket.HttpStatusCode is not (System.Net.HttpStatusCode)0 and not System.Net.HttpStatusCode.SwitchingProtocols)
            {
                throw new OrchestratorApiException(socket.HttpStatusCode,
                    new ProblemDocument(null, socket.HttpStatusCode.ToString(), (int)socket.HttpStatusCode, "The task stream upgrade was refused.", null, null, null));
            }

            return new TaskStream(socket, session);
        }
        catch
        {
            socket.Dispose();
            session.Release();
            throw;
        }
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, Func<HttpContent>? body,
        System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> answer, bool idempotent, CancellationToken cancellationToken) =>
        await _transport.SendAsync((message, ct) => _api.SendAsync(message, HttpCompletionOption.ResponseContentRead, ct), method, path, body,
            answer, idempotent, cancellationToken);

    private Session Lease()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var session = _session ?? throw new InvalidOperationException("The agent has no credentials yet: register first.");
            session.Acquire();
            return session;
        }
    }

    public void Dispose()
    {
        Session? session;
        lock (_lock)
        {
            _disposed = true;
            session = _session;
            _session = null;
        }

        session?.Retire();
        _anonymous.Dispose();
        _api.Dispose();
    }

    /// <summary>The bottom of <see cref="_api"/>, under the retry pipeline: each attempt takes the credentials current at
    /// that moment, and keeps their connection pool alive until its answer is read.</summary>
    private sealed class CurrentSession(AgentClient client) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var session = client.Lease();
            HttpResponseMessage? response = null;
            try
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", session.Credentials.Token);
                response = await session.Invoker.SendAsync(request, cancellationToken);
                await response.Content.LoadIntoBufferAsync(cancellationToken);
                return response;
            }
            catch
            {
                response?.Dispose();
                throw;
            }
            finally
            {
                session.Release();
            }
        }
    }

    /// <summary>One credential pair and the connections opened with it. Disposed once retired and no call uses it.</summary>
    internal sealed class Session
    {
        private int _users = 1; // the client's own reference, dropped by Retire
        private int _retired;

        public Session(AgentCredentials credentials, OrchestratorClientOptions options)
        {
            Credentials = credentials;
            Handler = options.CreateHandler(credentials.Certificate);
            Invoker = new HttpMessageInvoker(Handler, disposeHandler: false);
        }

        public AgentCredentials Credentials { get; }
        public SocketsHttpHandler Handler { get; }
        public HttpMessageInvoker Invoker { get; }

        public void Acquire() => Interlocked.Increment(ref _users);

        public void Release()
        {
            if (Interlocked.Decrement(ref _users) == 0)
            {
                Invoker.Dispose();
                Handler.Dispose();
            }
        }

        public void Retire()
        {
            if (Interlocked.Exchange(ref _retired, 1) == 0)
            {
                Release();
            }
        }
    }
}
