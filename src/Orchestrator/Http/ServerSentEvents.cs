using Microsoft.AspNetCore.Http.Features;

namespace Orchestrator.Http;

/// <summary>How the API writes Server-Sent Events (<c>text/event-stream</c>): a task's events and a rollout's. Every
/// event has an id a client sends back as <c>Last-Event-ID</c> to resume after it.</summary>
public static class ServerSentEvents
{
    /// <summary>How often an idle stream sends a comment (keeps proxies from cutting it) and reads its subject again
    /// (bounds what a lost cluster event can delay).</summary>
    public static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(15);

    /// <summary>The stream's headers, and how soon a client that lost it reconnects.</summary>
    public static async Task StartAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Nginx and similar proxies would otherwise hold events back in their buffers.
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.WriteAsync("retry: 2000\n\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    public static Task WriteEventAsync(HttpResponse response, string id, string type, string json, CancellationToken cancellationToken) =>
        response.WriteAsync($"id: {id}\nevent: {type}\ndata: {json}\n\n", cancellationToken);

    public static Task KeepAliveAsync(HttpResponse response, CancellationToken cancellationToken) =>
        response.WriteAsync(": keep-alive\n\n", cancellationToken);
}
