using System.Net;

namespace Orchestrator.Client.Tests;

/// <summary>The real TLS handler with the pinned CA, counting requests; <see cref="FailFirst"/> answers the first
/// requests as a failing proxy in front of the service would.</summary>
internal sealed class CountingHandler : DelegatingHandler
{
    private int _requests;

    public CountingHandler(ServerTrust trust)
        : base(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = trust.ValidationCallback } })
    {
    }

    public int Requests => _requests;
    public int FailFirst { get; init; }
    public HttpStatusCode FailWith { get; init; } = HttpStatusCode.BadGateway;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _requests) <= FailFirst)
        {
            return new HttpResponseMessage(FailWith) { Content = new StringContent("<html>bad gateway</html>"), RequestMessage = request };
        }

        return await base.SendAsync(request, cancellationToken);
    }
}
