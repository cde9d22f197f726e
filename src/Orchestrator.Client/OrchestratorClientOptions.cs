using System.Globalization;
using System.Net.Security;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Client;

/// <summary>Where the API is and how to trust it; shared by the operator and agent halves. Settable, so that
/// <c>services.AddOrchestratorClient(o => …)</c> can configure it as options.</summary>
public sealed record OrchestratorClientOptions
{
    public required Uri Server { get; set; }

    /// <summary>The pinned CA. Null trusts the operating system's store (a server behind a load balancer with a public
    /// certificate); there is no "trust anything" setting.</summary>
    public ServerTrust? Trust { get; set; }

    /// <summary>Which failures are retried is the client's to decide (only what is safe to send again); this says how
    /// often and how long to wait in between.</summary>
    public RetryPolicy Retry { get; set; } = RetryPolicy.Default;

    /// <summary>Per attempt. Long waits (<c>?wait=</c>) add their own time to it.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>The clock the waits between retries run on.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    public string UserAgent { get; set; } = $"orchestrator-client/{Version}";

    /// <summary>The operator API key of a client from <c>AddOrchestratorClient</c> (or made with <c>new</c> without one).
    /// Never shown by <see cref="ToString"/>.</summary>
    public string? ApiKey { get; set; }

    public static string Version { get; } =
        typeof(OrchestratorClientOptions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>A handler that checks the server against <see cref="Trust"/> and, when given, presents a client certificate.
    /// Public so a caller can wrap it (a <see cref="DelegatingHandler"/> of its own) without losing the pinning.</summary>
    public SocketsHttpHandler CreateHandler(X509Certificate2? clientCertificate = null) => new()
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = Trust?.ValidationCallback,
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            LocalCertificateSelectionCallback = clientCertificate is null ? null : (_, _, _, _, _) => clientCertificate,
        },
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(15),
        // Connections are long-lived: notice a dead peer instead of waiting on it.
        KeepAlivePingDelay = TimeSpan.FromSeconds(30),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(15),
    };

    /// <summary>A client sending through <paramref name="handler"/> under the retry pipeline (<see cref="ClientResilience"/>).</summary>
    internal HttpClient CreateHttpClient(HttpMessageHandler handler, bool disposeHandler = true) =>
        Configure(new HttpClient(ClientResilience.Around(handler, this), disposeHandler));

    /// <summary>Address and user agent; no overall timeout, since <see cref="Timeout"/> bounds each attempt (below the retries).</summary>
    internal HttpClient Configure(HttpClient http)
    {
        http.BaseAddress = Server;
        http.Timeout = System.Threading.Timeout.InfiniteTimeSpan;
        http.DefaultRequestHeaders.UserAgent.ParseAdd(UserAgent);
        return http;
    }

    /// <summary>The settings, with the API key masked.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"OrchestratorClientOptions {{ Server = {Server}, Trust = {Trust}, Retry = {Retry}, Timeout = {Timeout}, Time = {Time}, " +
        $"UserAgent = {UserAgent}, ApiKey = {(ApiKey is null ? "null" : "***")} }}");
}
