namespace Orchestrator.Http;

public static class HttpRegistration
{
    /// <summary>How every endpoint reads and writes: the JSON rules, and problem details for every error.</summary>
    public static IServiceCollection AddOrchestratorHttp(this IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(options => WireJson.Configure(options.SerializerOptions));
        services.AddOrchestratorProblemDetails();
        return services;
    }
}
