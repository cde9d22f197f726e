using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Orchestrator.Http;

namespace Orchestrator.Registration;

/// <summary>The registration rate limit: <c>Orchestrator:RateLimits:RegistrationsPerMinute</c> per client address, a
/// fixed one-minute window, answered with 429 and <c>Retry-After</c> before the request's body is read.
/// <para>Not ASP.NET Core's rate-limiting middleware: that middleware makes a limiter with a timer of its own and never
/// disposes it (dotnet/aspnetcore#66434), so a stopped host stays reachable from the process's timer queue with all its
/// services, and its timer keeps ticking. One service per process does not notice; the test processes start hundreds
/// (heap dumps of the server tests held their limiters' timers). This limiter is a singleton of the host, disposed with
/// it.</para></summary>
public sealed class RegistrationRateLimit : IAsyncDisposable
{
    /// <summary>Marks the endpoints the limit applies to.</summary>
    public sealed record Applies;

    private readonly PartitionedRateLimiter<string> _limiter;

    public RegistrationRateLimit(IOptions<RateLimitOptions> options)
    {
        var perMinute = options.Value.RegistrationsPerMinute;
        _limiter = PartitionedRateLimiter.Create<string, string>(caller => RateLimitPartition.GetFixedWindowLimiter(caller,
            _ => new FixedWindowRateLimiterOptions { PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
    }

    /// <summary>Takes one registration from the caller's allowance; a lease not acquired carries when to retry.</summary>
    public RateLimitLease Acquire(HttpContext context) =>
        _limiter.AttemptAcquire(context.Connection.RemoteIpAddress?.ToString() ?? "unknown");

    public ValueTask DisposeAsync() => _limiter.DisposeAsync();
}

public static class RegistrationRateLimitMiddleware
{
    /// <summary>Applies <see cref="RegistrationRateLimit"/> to the endpoints marked with
    /// <see cref="RegistrationRateLimit.Applies"/>; placed after the forwarded-header handling, so the client address is
    /// the one a trusted proxy forwarded.</summary>
    public static IApplicationBuilder UseRegistrationRateLimit(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<RegistrationRateLimit.Applies>() is null)
            {
                await next(context);
                return;
            }

            using var lease = context.RequestServices.GetRequiredService<RegistrationRateLimit>().Acquire(context);
            if (lease.IsAcquired)
            {
                await next(context);
                return;
            }

            context.RequestServices.GetRequiredService<RegistrationMetrics>().Outcome("rate_limited");
            if (lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
            {
                context.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            await Problems.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Too many requests",
                "Too many registrations from this address; try again later (Orchestrator:RateLimits:RegistrationsPerMinute).");
        });
}
