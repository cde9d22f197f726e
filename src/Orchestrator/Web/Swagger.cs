using Microsoft.OpenApi;
using Orchestrator.ApiKeys;
using Orchestrator.Certificates;

namespace Orchestrator.Web;

public static class Swagger
{
    public static IServiceCollection AddOrchestratorSwagger(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(options =>
        {
            options.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "Orchestrator",
                Version = "v1",
                Description = "Control plane for deployment agents. Operators and CI authenticate with `X-Api-Key`; " +
                              "agents with their client certificate and `Authorization: Bearer <token>`.",
            });
            options.AddSecurityDefinition(ApiKeyAuthenticationHandler.SchemeName, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = ApiKeyAuthenticationHandler.HeaderName,
                Description = "An API key (viewer, operator or admin).",
            });
            options.AddSecurityDefinition(AgentAuthenticationHandler.SchemeName, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "Agent endpoints: the agent's client certificate (mutual TLS, not settable in a browser) and the token " +
                              "from registration or renewal.",
            });
            options.AddSecurityRequirement(document => new OpenApiSecurityRequirement
            {
                [new OpenApiSecuritySchemeReference(ApiKeyAuthenticationHandler.SchemeName, document)] = [],
            });
            options.SupportNonNullableReferenceTypes();
            options.CustomSchemaIds(type => type.FullName!.Replace("Orchestrator.", string.Empty, StringComparison.Ordinal).Replace('+', '.'));
        });
        return services;
    }

    public static WebApplication UseOrchestratorSwagger(this WebApplication app)
    {
        app.UseSwagger();
        app.UseSwaggerUI(options =>
        {
            options.SwaggerEndpoint("/swagger/v1/swagger.json", "Orchestrator v1");
            options.DocumentTitle = "Orchestrator API";
            options.EnablePersistAuthorization();
        });
        return app;
    }
}
