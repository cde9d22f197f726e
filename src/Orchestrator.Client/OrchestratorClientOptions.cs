using System.Net.Security;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Client;

/// <summary>Where the API is and how to trust it; shared by the operator and agent halves.</summary>
public sealed record OrchestratorClientOptions
{
    public required Uri Server { get; init; }

    /// <summary>The pinned CA. Null trusts the operating system's store (a server behind a load balancer with a public
    /// certificate); there is no "trust anything" setting.</summary>
    public ServerTrust? Trust { get; init; }

    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;

    /// <summary>Per attempt. Long waits (<c>?wait=</c>) add their own time to it.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(100);

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public string UserAgent { get; init; } = $"orchestrator-client/{Version}";

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

    internal HttpClient CreateHttpClient(HttpMessageHandler handler, bool disposeHandler = true)
    {
        var http = new HttpClient(handler, disposeHandler) { BaseAddress = Server, Timeout = Timeout };
        http.DefaultRequestHeaders.UserAgent.ParseAdd(UserAgent);
        return http;
    }
}
