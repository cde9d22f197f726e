using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using Orchestrator.ApiKeys;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Swashbuckle.AspNetCore.SwaggerGen;

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
            options.DocumentFilter<TaskPayloadSchemas>();
            // An endpoint's own name (WithName) wins; otherwise the route says it (see OperationIds).
            options.CustomOperationIds(api =>
                api.ActionDescriptor.EndpointMetadata.OfType<IEndpointNameMetadata>().FirstOrDefault()?.EndpointName
                ?? OperationIds.For(api.HttpMethod ?? "GET", api.RelativePath ?? ""));
            options.SupportNonNullableReferenceTypes();
            options.CustomSchemaIds(type => type.FullName!.Replace("Orchestrator.", string.Empty, StringComparison.Ordinal).Replace('+', '.'));
        });
        return services;
    }

    public static WebApplication UseOrchestratorSwagger(this WebApplication app)
    {
        var settings = app.Services.GetRequiredService<IOptions<OrchestratorOptions>>().Value;
        app.UseSwagger();
        app.UseSwaggerUI(options =>
        {
            options.SwaggerEndpoint("/swagger/v1/swagger.json", "Orchestrator v1");
            options.DocumentTitle = "Orchestrator API";
            options.ConfigObject.PersistAuthorization = settings.SwaggerPersistAuthorization;
        });
        // A browser pointed at the service lands on what it can do, not on a 404.
        app.MapGet("/", () => TypedResults.Redirect("/swagger")).AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    /// <summary>Publishes the payload schema of each built-in task type as the component <c>Payload.&lt;type&gt;</c>, from the
    /// same text the service validates with (<see cref="PayloadSchemas"/>), so the document cannot drift from the check.</summary>
    private sealed class TaskPayloadSchemas : IDocumentFilter
    {
        public void Apply(OpenApiDocument document, DocumentFilterContext context)
        {
            document.Components ??= new OpenApiComponents();
            document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            foreach (var (taskType, text) in PayloadSchemas.Texts.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                var schema = OpenApiModelFactory.Parse<OpenApiSchema>(text, OpenApiSpecVersion.OpenApi3_0, document, out _, "json")
                             ?? throw new InvalidOperationException($"The payload schema of {taskType} is not a schema.");
                schema.Title = $"Payload of {taskType}";
                document.Components.Schemas[$"Payload.{taskType}"] = schema;
            }
        }
    }
}
