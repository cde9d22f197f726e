using Orchestrator.Hosting;

namespace Orchestrator.Registration;

/// <summary>Agent registration: its rate limit, metrics and settings.</summary>
public static class RegistrationRegistration
{
    public static IServiceCollection AddRegistration(this IServiceCollection services)
    {
        services.AddValidatedOptions<RateLimitOptions, RateLimitOptionsValidator>(RateLimitOptions.Section);
        services.AddSingleton<RegistrationMetrics>();
        services.AddSingleton<RegistrationTokenUses>();
        services.AddSingleton<RegistrationRateLimit>();
        return services;
    }
}
