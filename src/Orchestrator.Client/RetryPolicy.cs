using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Client;

/// <summary>How the client retries transient failures of idempotent calls: exponential back-off with full jitter
/// (AWS "Exponential Backoff and Jitter"), bounded by <see cref="MaxDelay"/>, honouring a server's Retry-After. The client's
/// Polly pipeline applies it (see <see cref="ClientResilience"/>); only these settings are public.</summary>
public sealed record RetryPolicy
{
    /// <summary>No retries: every failure surfaces at once.</summary>
    public static RetryPolicy None { get; } = new() { MaxAttempts = 1 };

    public static RetryPolicy Default { get; } = new();

    /// <summary>Attempts in all, the first included.</summary>
    public int MaxAttempts { get; init; } = 4;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The wait before retry number <paramref name="retry"/> (1 for the first retry): uniformly random in
    /// [0, min(MaxDelay, BaseDelay·2^(retry-1))], or the server's Retry-After when that is longer.</summary>
    internal TimeSpan DelayFor(int retry, TimeSpan? retryAfter = null, Random? random = null) =>
        Backoff.Jittered(retry, BaseDelay, MaxDelay, random) is var delay && retryAfter > delay ? Min(retryAfter.Value, MaxDelay) : delay;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Failures worth another try of an idempotent call: no answer at all (connection refused or reset, a
    /// timeout), a proxy's 502/503/504, or a 503/429 with Retry-After, the API's way of saying "transient, come back".
    /// A 503 problem from the API without Retry-After is an answer (for example "no agent matches"), not retried.</summary>
    internal static bool IsTransient(HttpStatusCode status, bool hasRetryAfter, bool isProblemFromApi) => status switch
    {
        HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout => true,
        HttpStatusCode.ServiceUnavailable => hasRetryAfter || !isProblemFromApi,
        HttpStatusCode.TooManyRequests => hasRetryAfter,
        _ => false,
    };

    internal static bool IsTransient(Exception exception) => exception switch
    {
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => false,
        HttpRequestException => true,
        IOException or SocketException => true,
        TimeoutException => true,
        _ => false,
    };
}

/// <summary>Exponential back-off with full jitter, shared by the client's retries and the agent's reconnects.</summary>
internal static class Backoff
{
    public static TimeSpan Jittered(int attempt, TimeSpan baseDelay, TimeSpan maxDelay, Random? random = null)
    {
        var ceiling = Ceiling(attempt, baseDelay, maxDelay);
        return TimeSpan.FromTicks((long)((random ?? Random.Shared).NextDouble() * ceiling.Ticks));
    }

    /// <summary>The largest wait for <paramref name="attempt"/> (1-based): base·2^(attempt-1), capped.</summary>
    public static TimeSpan Ceiling(int attempt, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ticks = baseDelay.Ticks * Math.Pow(2, exponent);
        return ticks >= maxDelay.Ticks ? maxDelay : TimeSpan.FromTicks((long)ticks);
    }
}
