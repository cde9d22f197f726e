
namespace Orchestrator.Agents;

public static class AgentsRegistration
{
    public static IServiceCollection AddAgents(this IServiceCollection services)
    {
        services.AddScoped<AgentStore>();
        services.AddSingleton<AgentStateCache>();
        services.AddSingleton<HeartbeatBuffer>();
        services.AddSingleton<HeartbeatProcessor>();
        services.AddHostedService<HeartbeatFlusher>();
        services.AddSingleton<LivenessMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<LivenessMonitor>());
        return services;
    }
}
