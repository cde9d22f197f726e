using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;
using Orchestrator.Http;

namespace Orchestrator.Registration;

/// <summary>Agent registration: its rate limit, metrics and settings.</summary>
public static class RegistrationRegistration
{
    public static IServiceCollection AddRegistration(this IServiceCollection services)
    {
        services.AddValidatedOptions<RateLimitOptions, RateLimitOptionsValidator>(RateLimitOptions.Section);
        services.AddSingleton<RegistrationMetrics>();
        services.AddSingleton<RegistrationTokenUses>();
        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RegisterEndpoint.RateLimitPolicy, context =>
            {
                var perMinute = context.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value.RegistrationsPerMinute;
                var caller = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
                return RateLimitPartition.GetFixedWindowLimiter(caller, _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = perMinute,
                    Window = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                });
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var http = rejected.HttpContext;
                http.RequestServices.GetRequiredService<RegistrationMetrics>().Outcome("rate_limited");
                if (rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
                {
                    http.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                }

                await Problems.WriteAsync(http, StatusCodes.Status429TooManyRequests, "Too many requests",
                    "Too many registrations from this address; try again later (Orchestrator:RateLimits:RegistrationsPerMinute).");
            };
        });
        return services;
    }
}
