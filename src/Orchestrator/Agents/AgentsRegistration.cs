using Orchestrator.Hosting;
using Orchestrator.Targets;
using Orchestrator.Tasks;

namespace Orchestrator.Agents;

public static class AgentsRegistration
{
    public static IServiceCollection AddAgents(this IServiceCollection services)
    {
        services.AddValidatedOptions<AgentOptions, AgentOptionsValidator>(AgentOptions.Section);
        services.AddScoped<AgentStore>();
        services.AddScoped<AgentDirectory>();
        services.AddScoped<ITaskAgents>(sp => sp.GetRequiredService<AgentDirectory>());
        services.AddScoped<ITargetAgents>(sp => sp.GetRequiredService<AgentDirectory>());
        services.AddSingleton<AgentStateCache>();
        services.AddSingleton<AgentMetrics>();
        services.AddSingleton<HeartbeatBuffer>();
        services.AddSingleton<HeartbeatProcessor>();
        services.AddHostedService<HeartbeatFlusher>();
        services.AddSingleton<LivenessMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<LivenessMonitor>());
        return services;
    }
}
