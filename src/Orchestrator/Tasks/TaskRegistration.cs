using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

public static class TaskRegistration
{
    public static IServiceCollection AddTasks(this IServiceCollection services)
    {
        services.AddValidatedOptions<TaskOptions, TaskOptionsValidator>(TaskOptions.Section);
        services.AddSingleton<TaskCredentials>();
        services.AddSingleton<TaskEvents>();
        services.AddSingleton<TaskChanges>();
        services.AddSingleton<TaskMetrics>();
        services.AddSingleton<AgentWorkHints>();
        services.AddScoped<TaskCommands>();
        services.AddScoped<TaskCancellation>();
        services.AddScoped<TaskQueries>();
        services.AddScoped<TaskClaims>();
        services.AddScoped<TaskSweeper>();
        services.AddScoped<TaskDelivery>();
        services.AddSingleton<TaskMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<TaskMonitor>());
        services.AddSingleton<IdleSweep>();
        services.AddHostedService(sp => sp.GetRequiredService<IdleSweep>());
        return services;
    }
}
