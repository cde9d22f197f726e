using Orchestrator.Data;

namespace Orchestrator.Health;

/// <summary>The health checks behind /health/live and /health/ready.</summary>
public static class HealthRegistration
{
    public static IServiceCollection AddOrchestratorHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks().AddDbContextCheck<OrchestratorDbContext>("database", tags: ["ready"]);
        return services;
    }
}
