
namespace Orchestrator.Health;

public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder routes)
    {
        // Liveness says the process answers; readiness says it can do work (the database answers).
        routes.MapHealthChecks("/health/live", new() { Predicate = _ => false }).WithTags("Health").WithSummary("The process is alive");
        routes.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") })
            .WithTags("Health").WithSummary("The database answers");
        return routes;
    }
}
