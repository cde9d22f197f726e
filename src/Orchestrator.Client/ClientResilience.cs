using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.Retry;

namespace Orchestrator.Client;

/// <summary>The client's one retry pipeline (Polly v8), built the same way for clients made with <c>new</c> and for those
/// from <c>AddOrchestratorClient</c>: a request marked <see cref="Idempotent"/> is sent again after a transient failure
/// (see <see cref="RetryPolicy.IsTransient(HttpStatusCode, bool, bool)"/>), up to <see cref="RetryPolicy.MaxAttempts"/> in
/// all, waiting <see cref="RetryPolicy.DelayFor"/> on <see cref="OrchestratorClientOptions.Time"/>; any other request is
/// sent once. Below it, <see cref="AttemptHandler"/> bounds each attempt by <see cref="OrchestratorClientOptions.Timeout"/>.</summary>
internal static class ClientResilience
{
    public const string PipelineName = "orchestrator-retry";

    /// <summary>Set on a request that is safe to send again: reads, PUTs, and calls the server deduplicates (a task with an
    /// idempotency key, a completion). Absent, the request is never retried.</summary>
    public static readonly HttpRequestOptionsKey<bool> Idempotent = new("Orchestrator.Idempotent");

    /// <summary>Set on a request whose body is read as it arrives (an event stream): the attempt ends with the headers.</summary>
    public static readonly HttpRequestOptionsKey<bool> Streaming = new("Orchestrator.Streaming");

    public static void Configure(ResiliencePipelineBuilder<HttpResponseMessage> builder, OrchestratorClientOptions options)
    {
        builder.TimeProvider = options.Time;
        var policy = options.Retry;
        if (policy.MaxAttempts <= 1)
        {
            return;
        }

        builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            Name = PipelineName,
            MaxRetryAttempts = policy.MaxAttempts - 1,
            ShouldHandle = args => ValueTask.FromResult(IsIdempotent(args.Context) && IsTransient(args.Outcome, options.Time)),
            // Polly counts retries from 0; the policy from 1 (the first retry).
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(
                policy.DelayFor(args.AttemptNumber + 1, args.Outcome.Result is { } answer ? RetryAfter(answer, options.Time) : null)),
        });
    }

    /// <summary><paramref name="transport"/> under the retry pipeline and the per-attempt timeout, for a client made with <c>new</c>.</summary>
    public static HttpMessageHandler Around(HttpMessageHandler transport, OrchestratorClientOptions options)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        Configure(builder, options);
        return new ResilienceHandler(builder.Build()) { InnerHandler = new AttemptHandler(options.Timeout) { InnerHandler = transport } };
    }

    private static bool IsIdempotent(ResilienceContext context) =>
        context.GetRequestMessage()?.Options.TryGetValue(Idempotent, out var idempotent) == true && idempotent;

    private static bool IsTransient(Outcome<HttpResponseMessage> outcome, TimeProvider time) => outcome switch
    {
        { Exception: { } exception } => RetryPolicy.IsTransient(exception) || exception is TaskCanceledException { InnerException: TimeoutException },
        { Result: { IsSuccessStatusCode: false } answer } => RetryPolicy.IsTransient(answer.StatusCode, RetryAfter(answer, time) is not null,
            answer.Content.Headers.ContentType?.MediaType == "application/problem+json"),
        _ => false,
    };

    /// <summary>The answer's <c>Retry-After</c>, a date counted from <paramref name="time"/>'s now.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, TimeProvider time)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }
}

/// <summary>One attempt, under the retry pipeline: bounded by the client's timeout (on the real clock, as
/// <see cref="HttpClient.Timeout"/> is, and failing the same way), with the answer's body read within it unless the
/// request is <see cref="ClientResilience.Streaming"/>, so a body cut off half-way is a failed attempt, retried like any other.</summary>
internal sealed class AttemptHandler(TimeSpan timeout) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(timeout);
        HttpResponseMessage? response = null;
        try
        {
            response = await base.SendAsync(request, attempt.Token);
            if (!(request.Options.TryGetValue(ClientResilience.Streaming, out var streaming) && streaming))
            {
                await response.Content.LoadIntoBufferAsync(attempt.Token);
            }

            return response;
        }
        catch (OperationCanceledException ex) when (attempt.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            response?.Dispose();
            throw new TaskCanceledException($"The request was canceled due to the configured timeout of {timeout.TotalSeconds} seconds elapsing.",
                new TimeoutException(ex.Message, ex));
        }
        catch
        {
            response?.Dispose();
            throw;
        }
    }
}
