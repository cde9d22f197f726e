using Orchestrator.Hosting;

namespace Orchestrator.Rollouts;

public static class RolloutRegistration
{
    public static IServiceCollection AddRollouts(this IServiceCollection services)
    {
        services.AddValidatedOptions<RolloutOptions, RolloutOptionsValidator>(RolloutOptions.Section);
        services.AddSingleton<RolloutChanges>();
        services.AddSingleton<RolloutMetrics>();
        services.AddScoped<RolloutRecorder>();
        services.AddScoped<RolloutCommands>();
        services.AddScoped<RolloutQueries>();
        services.AddScoped<RolloutSteps>();
        services.AddSingleton<RolloutDriver>();
        services.AddHostedService(sp => sp.GetRequiredService<RolloutDriver>());
        return services;
    }
}
