using System.Net;

namespace Orchestrator.Client.Tests;

/// <summary>The real TLS handler with the pinned CA, counting requests; <see cref="FailFirst"/> answers the first
/// requests as a failing proxy in front of the service would (or, with <see cref="RetryAfter"/>, as the API does when it
/// asks the client to come back later).</summary>
internal sealed class CountingHandler : DelegatingHandler
{
    private int _requests;

    public CountingHandler(ServerTrust trust)
        : base(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = trust.ValidationCallback } })
    {
    }

    /// <summary>For a handler chain that supplies the inner handler (<c>IHttpClientFactory</c>).</summary>
    public CountingHandler()
    {
    }

    public int Requests => _requests;
    public int FailFirst { get; init; }
    public HttpStatusCode FailWith { get; set; } = HttpStatusCode.BadGateway;
    public TimeSpan? RetryAfter { get; private set; }

    /// <summary>Fails as the API does when it asks to be called again later: problem details and <c>Retry-After</c>.</summary>
    public void AnswerAsTheApi(HttpStatusCode status, TimeSpan retryAfter) => (FailWith, RetryAfter) = (status, retryAfter);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _requests) <= FailFirst)
        {
            if (RetryAfter is { } wait)
            {
                var problem = new StringContent($"{{\"title\":\"Unavailable\",\"status\":{(int)FailWith}}}", null, "application/problem+json");
                var answer = new HttpResponseMessage(FailWith) { Content = problem, RequestMessage = request };
                answer.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(wait);
                return answer;
            }

            return new HttpResponseMessage(FailWith) { Content = new StringContent("<html>bad gateway</html>"), RequestMessage = request };
        }

        return await base.SendAsync(request, cancellationToken);
    }
}
