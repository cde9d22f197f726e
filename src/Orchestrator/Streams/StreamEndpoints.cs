using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Options;
using Orchestrator.Certificates;
using Orchestrator.Http;
using Orchestrator.Security;

namespace Orchestrator.Streams;

public static class StreamEndpoints
{
    /// <summary>Added to the agent group.</summary>
    public static RouteGroupBuilder MapTaskStream(this RouteGroupBuilder agent)
    {
        var group = agent.MapGroup("").WithTags(ApiRoutes.AgentTag("task stream"));
        group.MapGet("/task-stream", Connect)
            .WithSummary("Open the agent's WebSocket task stream")
            .WithDescription(StreamDocs.Connect)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return group;
    }

    private static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Connect(
        Guid id, HttpContext context, StreamRegistry registry, IOptions<StreamOptions> options, TimeProvider time)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return Problems.Make(StatusCodes.Status400BadRequest, "WebSocket required", "This endpoint only accepts a WebSocket upgrade request.");
        }

        var settings = options.Value;
        // Registered before the upgrade is answered: an event that follows the agent seeing its stream open (a new task,
        // a revocation, the service stopping) then reaches this stream, waiting in its queue until the stream runs.
        var stream = new AgentStream(id, context.User.CertificateSerialOf(), context.RequestServices);
        await registry.AddAsync(stream, context.RequestAborted);
        // The request lives as long as the stream, hours, and so would its headers: the agent's bearer token (authenticated
        // above, never read again) is let go rather than kept in memory for the stream's life, a kilobyte each.
        context.Request.Headers.Authorization = default;
        // The stream lives no longer than the credentials it was opened with (the token expires with its certificate):
        // the agent reconnects with its renewed ones.
        var expiresIn = context.User.CertificateExpiresAt() - time.GetUtcNow().UtcDateTime;
        await using var expiry = time.CreateTimer(_ => stream.Close(WebSocketCloseStatus.PolicyViolation,
                "The certificate and token this stream was opened with have expired."),
            null, expiresIn > TimeSpan.Zero ? expiresIn : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        ReleaseTlsBuffers(context, settings);
        try
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = settings.KeepAliveInterval,
                KeepAliveTimeout = settings.KeepAliveTimeout,
            });
            await stream.RunAsync(socket, context.RequestAborted);
        }
        finally
        {
            registry.Remove(stream);
        }

        return TypedResults.Empty;
    }

    private static int tlsBuffersKeptLogged;

    /// <summary>A stream's connection is idle nearly all its life, so OpenSSL may free its record buffers whenever they
    /// are empty (about 33 KiB a stream). Set before the upgrade is answered, when nothing reads or writes the
    /// connection; HTTP/1.1 only, since on an HTTP/2 connection other requests use the same TLS session meanwhile.</summary>
    private static void ReleaseTlsBuffers(HttpContext context, StreamOptions settings)
    {
        if (!settings.ReleaseTlsBuffers || !HttpProtocol.IsHttp11(context.Request.Protocol) ||
            context.Features.Get<ISslStreamFeature>()?.SslStream is not { } tls)
        {
            return;
        }

        if (!TlsBufferRelease.TryRelease(tls, out var failure) && failure is not null && Interlocked.Exchange(ref tlsBuffersKeptLogged, 1) == 0)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StreamEndpoints)).TlsBuffersKept(failure);
        }
    }
}
