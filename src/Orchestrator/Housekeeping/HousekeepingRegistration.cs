using Orchestrator.Hosting;

namespace Orchestrator.Housekeeping;

/// <summary>The retention sweep and its settings.</summary>
public static class HousekeepingRegistration
{
    public static IServiceCollection AddHousekeeping(this IServiceCollection services)
    {
        services.AddValidatedOptions<RetentionOptions, RetentionOptionsValidator>(RetentionOptions.Section);
        services.AddSingleton<Retention>();
        services.AddHostedService(sp => sp.GetRequiredService<Retention>());
        return services;
    }
}
