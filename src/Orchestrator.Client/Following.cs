using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;

namespace Orchestrator.Client;

/// <summary>Waiting for something to end and following its events, for tasks and rollouts alike: the server does the
/// waiting (<c>?wait=</c>, Server-Sent Events), and these loops only reconnect when a connection or the service goes away
/// (a restart, a load balancer's idle cut).</summary>
internal static class Following
{
    /// <summary>The longest wait the server holds a request for.</summary>
    public const int MaxWaitSeconds = 60;

    /// <summary>A stream that stays silent this long is taken for dead and reopened; the server comments every 15 s.</summary>
    public static readonly TimeSpan EventStreamIdleTimeout = TimeSpan.FromSeconds(45);

    /// <summary>Asks <paramref name="get"/> (with a wait in whole seconds) until <paramref name="isFinal"/> holds, or until
    /// <paramref name="timeout"/> runs out, then returns the last answer. Dropped connections and transient answers are
    /// retried with back-off until the timeout; other refusals throw <see cref="OrchestratorApiException"/>.</summary>
    public static async Task<T> WaitAsync<T>(OrchestratorClient client, Func<int, CancellationToken, Task<T>> get, Func<T, bool> isFinal,
        TimeSpan? timeout, Action<T>? observe, CancellationToken cancellationToken)
        where T : class
    {
        var time = client.Options.Time;
        var deadline = timeout is { } t ? time.GetUtcNow() + t : (DateTimeOffset?)null;
        // A request must end before the client's own timeout cuts it.
        var longest = (int)Math.Clamp(client.Options.Timeout.TotalSeconds - 5, 0, MaxWaitSeconds);
        T? last = null;
        var failures = 0;
        while (true)
        {
            var started = time.GetUtcNow();
            var seconds = deadline is { } d ? (int)Math.Clamp(Math.Floor((d - started).TotalSeconds), 0, longest) : longest;
            try
            {
                last = await get(seconds, cancellationToken);
                failures = 0;
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                if (deadline is { } end && time.GetUtcNow() >= end)
                {
                    // Out of time: the last answer if there was one, else why there was none.
                    if (last is not null)
                    {
                        return last;
                    }

                    throw;
                }

                await Task.Delay(Backoff.Jittered(++failures, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)), time, cancellationToken);
                continue;
            }

            if (isFinal(last) || (deadline is { } e && time.GetUtcNow() >= e))
            {
                return last;
            }

            observe?.Invoke(last);
            if (time.GetUtcNow() - started < TimeSpan.FromSeconds(1))
            {
                // Answered early without an end (a service shutting down, or one that does not hold waits): never
                // turn that into a request loop.
                await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken);
            }
        }
    }

    /// <summary>Follows the event stream at <paramref name="path"/> until <paramref name="isFinal"/> holds for an event.
    /// A dropped stream is reopened with <c>Last-Event-ID</c>, so no event is missed or repeated; refusals (401, 404)
    /// throw <see cref="OrchestratorApiException"/>.</summary>
    public static async IAsyncEnumerable<TEvent> FollowAsync<TEvent>(OrchestratorClient client, string path, string? lastEventId,
        Func<SseItem<string>, string?, TEvent> parse, Func<TEvent, bool> isFinal, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var time = client.Options.Time;
        var failures = 0;
        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            HttpResponseMessage? response = null;
            try
            {
                response = await OpenEventsAsync(client, path, lastEventId, idle.Token);
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                // Reconnect below.
            }

            if (response is not null)
            {
                using (response)
                {
                    var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                    await using var body = new IdleTimeoutStream(stream, idle, EventStreamIdleTimeout);
                    await using var items = SseParser.Create(body).EnumerateAsync(idle.Token).GetAsyncEnumerator(idle.Token);
                    while (true)
                    {
                        SseItem<string> item;
                        try
                        {
                            if (!await items.MoveNextAsync())
                            {
                                break;
                            }

                            item = items.Current;
                        }
                        catch (Exception ex)
                            when ((IsTransient(ex) || ex is OperationCanceledException) && !cancellationToken.IsCancellationRequested)
                        {
                            break;
                        }

                        failures = 0;
                        lastEventId = item.EventId ?? lastEventId;
                        var parsed = parse(item, lastEventId);
                        yield return parsed;
                        if (isFinal(parsed))
                        {
                            yield break;
                        }
                    }
                }
            }

            // The stream ended before the end (the service stopped, a proxy cut it): resume after the last event.
            await Task.Delay(Backoff.Jittered(++failures, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)), time, cancellationToken);
        }
    }

    private static async Task<HttpResponseMessage> OpenEventsAsync(OrchestratorClient client, string path, string? lastEventId,
        CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        var response = await client.SendStreamingAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ApiTransport.FailureAsync(response, cancellationToken, client.Options.Time);
        }
    }

    /// <summary>Worth another try while waiting: no answer (connection refused or reset, a timeout) or a transient
    /// answer (a proxy's 502/504, a 503 of a service without its database or shutting down, 429).</summary>
    private static bool IsTransient(Exception exception) => exception switch
    {
        OrchestratorApiException api => api.Status is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable
            or HttpStatusCode.GatewayTimeout or HttpStatusCode.TooManyRequests,
        TaskCanceledException { InnerException: TimeoutException } => true,
        _ => RetryPolicy.IsTransient(exception),
    };

    /// <summary>Cancels <c>idle</c> when no byte arrived for <c>timeout</c>: a connection a proxy dropped without a word.</summary>
    private sealed class IdleTimeoutStream(Stream inner, CancellationTokenSource idle, TimeSpan timeout) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            idle.CancelAfter(timeout);
            return await inner.ReadAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Read asynchronously.");
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync();
            await base.DisposeAsync();
        }
    }
}
