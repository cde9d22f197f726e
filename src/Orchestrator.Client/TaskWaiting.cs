using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>One event of a task's event stream: its cursor (<see cref="Id"/>), its type (<see cref="TaskEventTypes"/>)
/// and the payload of that type; events of types this client does not know carry no payload.</summary>
public sealed record TaskEvent(string? Id, string Type, TaskStatusEvent? Status = null, TaskProgressEvent? Progress = null, TaskLogResponse? Log = null)
{
    /// <summary>The status event of a final state: the last event of the stream.</summary>
    public bool IsFinal => Status?.Status.IsFinal() == true;
}

/// <summary>Waiting for a task and following it: the server does the waiting (<c>?wait=</c>, Server-Sent Events), and
/// these loops only reconnect when a connection or the service goes away (a restart, a load balancer's idle cut).</summary>
public sealed partial class TasksApi
{
    /// <summary>The longest wait the server holds a request for.</summary>
    public const int MaxWaitSeconds = 60;

    /// <summary>A stream that stays silent this long is taken for dead and reopened; the server comments every 15 s.</summary>
    internal static readonly TimeSpan EventStreamIdleTimeout = TimeSpan.FromSeconds(45);

    /// <summary>Waits until the task reaches a final state and returns it, or, when <paramref name="timeout"/> runs out
    /// first, returns the task as it is then (not final: check <see cref="WireNames.IsFinal(AgentTaskStatus)"/>). Each request asks the
    /// server to hold it up to 60 s; dropped connections and transient answers (502/503/504, a restarting service) are
    /// retried with back-off until the timeout, other refusals (401, 404) throw <see cref="OrchestratorApiException"/>.
    /// <paramref name="observe"/> sees every non-final answer (for showing what the wait is waiting for).</summary>
    public async Task<TaskResponse> WaitAsync(Guid taskId, TimeSpan? timeout = null, Action<TaskResponse>? observe = null,
        CancellationToken cancellationToken = default)
    {
        var time = _client.Options.Time;
        var deadline = timeout is { } t ? time.GetUtcNow() + t : (DateTimeOffset?)null;
        // A request must end before the client's own timeout cuts it.
        var longest = (int)Math.Clamp(_client.Options.Timeout.TotalSeconds - 5, 0, MaxWaitSeconds);
        TaskResponse? last = null;
        var failures = 0;
        while (true)
        {
            var started = time.GetUtcNow();
            var seconds = deadline is { } d ? (int)Math.Clamp(Math.Floor((d - started).TotalSeconds), 0, longest) : longest;
            try
            {
                last = await GetAsync(taskId, seconds, cancellationToken);
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

            if (last.Status.IsFinal() || (deadline is { } e && time.GetUtcNow() >= e))
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

    /// <summary>Follows <c>GET /api/v1/tasks/{taskId}/events</c>: status changes, progress and log lines as they happen,
    /// ending after the final status. A dropped stream is reopened with <c>Last-Event-ID</c>, so no event is missed or
    /// repeated; give <paramref name="lastEventId"/> to resume where an earlier follow stopped. Refusals (401, 404)
    /// throw <see cref="OrchestratorApiException"/>.</summary>
    public async IAsyncEnumerable<TaskEvent> FollowAsync(Guid taskId, string? lastEventId = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var time = _client.Options.Time;
        var failures = 0;
        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            HttpResponseMessage? response = null;
            try
            {
                response = await OpenEventsAsync(taskId, lastEventId, idle.Token);
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                // Reconnect below.
            }

            if (response is not null)
            {
                using (response)
                {
                    await using var body = new IdleTimeoutStream(await response.Content.ReadAsStreamAsync(cancellationToken), idle, EventStreamIdleTimeout);
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
                        catch (Exception ex) when ((IsTransient(ex) || ex is OperationCanceledException) && !cancellationToken.IsCancellationRequested)
                        {
                            break;
                        }

                        failures = 0;
                        lastEventId = item.EventId ?? lastEventId;
                        var parsed = Parse(item, lastEventId);
                        yield return parsed;
                        if (parsed.IsFinal)
                        {
                            yield break;
                        }
                    }
                }
            }

            // The stream ended before the final status (the service stopped, a proxy cut it): resume after the last event.
            await Task.Delay(Backoff.Jittered(++failures, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)), time, cancellationToken);
        }
    }

    private async Task<HttpResponseMessage> OpenEventsAsync(Guid taskId, string? lastEventId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/tasks/{taskId}/events");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        var response = await _client.SendStreamingAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ApiTransport.FailureAsync(response, cancellationToken);
        }
    }

    private static TaskEvent Parse(SseItem<string> item, string? id)
    {
        var json = OrchestratorJsonContext.Default;
        return item.EventType switch
        {
            TaskEventTypes.Status => new TaskEvent(id, item.EventType, Status: JsonSerializer.Deserialize(item.Data, json.TaskStatusEvent)),
            TaskEventTypes.Progress => new TaskEvent(id, item.EventType, Progress: JsonSerializer.Deserialize(item.Data, json.TaskProgressEvent)),
            TaskEventTypes.Log => new TaskEvent(id, item.EventType, Log: JsonSerializer.Deserialize(item.Data, json.TaskLogResponse)),
            _ => new TaskEvent(id, item.EventType),
        };
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
