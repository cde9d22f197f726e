using Orchestrator.Hosting;

namespace Orchestrator.Streams;

/// <summary>The task stream's registry and settings.</summary>
public static class StreamsRegistration
{
    public static IServiceCollection AddTaskStreams(this IServiceCollection services)
    {
        services.AddValidatedOptions<StreamOptions, StreamOptionsValidator>(StreamOptions.Section);
        services.AddSingleton<StreamRegistry>();
        services.AddHostedService(sp => sp.GetRequiredService<StreamRegistry>());
        return services;
    }
}
