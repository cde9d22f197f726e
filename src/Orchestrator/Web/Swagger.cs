using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using Orchestrator.ApiKeys;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Http;
using Orchestrator.Security;
using Orchestrator.Tasks;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Orchestrator.Web;

public static partial class Swagger
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
            // Relative: "Try it out" calls the service that served the document, under whatever name it was reached.
            options.AddServer(new OpenApiServer { Url = "/", Description = "This service" });
            options.OperationFilter<SecurityPerOperation>();
            options.OperationFilter<RouteParametersDeclared>();
            options.OperationFilter<QueryParametersDeclared>();
            options.OperationFilter<ResponseHeadersDocumented>();
            options.DocumentFilter<TaskPayloadSchemas>();
            options.DocumentFilter<TagDescriptions>();
            options.DocumentFilter<NullableReferencesTyped>();
            options.SchemaFilter<RequestExamples>();
            // An endpoint's own name (WithName) wins; otherwise the route says it (see OperationIds).
            options.CustomOperationIds(api =>
                api.ActionDescriptor.EndpointMetadata.OfType<IEndpointNameMetadata>().FirstOrDefault()?.EndpointName
                ?? OperationIds.For(api.HttpMethod ?? "GET", api.RelativePath ?? ""));
            options.SupportNonNullableReferenceTypes();
            // A nullable property of a record type (an agent's `drain`) says so: OpenAPI 3.0 ignores siblings of a
            // `$ref`, so `nullable` goes beside an `allOf` holding the reference (OpenApiResponseTests checks answers).
            options.UseAllOfToExtendReferenceSchemas();
            options.CustomSchemaIds(type => type.FullName!.Replace("Orchestrator.", string.Empty, StringComparison.Ordinal).Replace('+', '.'));
        });
        return services;
    }

    public static WebApplication UseOrchestratorSwagger(this WebApplication app)
    {
        var settings = app.Services.GetRequiredService<IOptions<OrchestratorOptions>>().Value;
        app.UseMiddleware<DocumentCache>();
        app.UseSwagger();
        app.UseSwaggerUI(options =>
        {
            options.SwaggerEndpoint("/swagger/v1/swagger.json", "Orchestrator v1");
            options.DocumentTitle = "Orchestrator API";
            options.ConfigObject.PersistAuthorization = settings.SwaggerPersistAuthorization;
        });
        // A browser pointed at the service lands on what it can do, not on a 404.
        app.MapMethods("/", [HttpMethods.Get, HttpMethods.Head], () => TypedResults.Redirect("/swagger"))
            .AllowAnonymous()
            .ExcludeFromDescription();
        return app;
    }

    /// <summary>Serves each OpenAPI document (<c>GET /swagger/{name}/swagger.json</c>) as the first request for it was
    /// answered. Swashbuckle builds the document anew for every request (about 70 ms of CPU for 160 kB of JSON, each time
    /// Swagger UI opens); it cannot change while the service runs (its endpoints and the task types' payload schemas are
    /// fixed at start), so it is built once. Two first requests at once may both build it; the first stored is kept.</summary>
    private sealed class DocumentCache(RequestDelegate next)
    {
        private readonly ConcurrentDictionary<string, (string? ContentType, byte[] Body)> _documents = new(StringComparer.Ordinal);

        public async Task InvokeAsync(HttpContext context)
        {
            var path = context.Request.Path.Value ?? "";
            if (!HttpMethods.IsGet(context.Request.Method) || !path.StartsWith("/swagger/", StringComparison.Ordinal) ||
                !path.EndsWith("/swagger.json", StringComparison.Ordinal))
            {
                await next(context);
                return;
            }

            var key = context.Request.PathBase + path;
            if (!_documents.TryGetValue(key, out var document))
            {
                var body = context.Response.Body;
                using var built = new MemoryStream();
                context.Response.Body = built;
                try
                {
                    await next(context);
                }
                finally
                {
                    context.Response.Body = body;
                }

                if (context.Response.StatusCode != StatusCodes.Status200OK)
                {
                    // An unknown document's 404, say: passed on as it is, and not kept.
                    built.Position = 0;
                    await built.CopyToAsync(body, context.RequestAborted);
                    return;
                }

                document = _documents.GetOrAdd(key, (context.Response.ContentType, built.ToArray()));
            }

            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = document.ContentType;
            context.Response.ContentLength = document.Body.Length;
            await context.Response.Body.WriteAsync(document.Body, context.RequestAborted);
        }
    }

    /// <summary>Each operation names the credentials it takes, from its endpoint's own authorization: an agent route the
    /// agent's (mutual TLS and its token), an anonymous one none (<c>security: []</c>), every other one an API key.</summary>
    private sealed class SecurityPerOperation : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            var metadata = context.ApiDescription.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<IAllowAnonymous>().Any())
            {
                operation.Security = [];
                return;
            }

            var scheme = metadata.OfType<IAuthorizeData>().Any(a => a.Policy == Policies.Agent)
                ? AgentAuthenticationHandler.SchemeName
                : ApiKeyAuthenticationHandler.SchemeName;
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [] }];
        }
    }

    /// <summary>A route parameter the handler does not bind (agent routes read the agent from its credentials, yet the
    /// route names it) is still a parameter of the operation: declared, required, a string.</summary>
    private sealed partial class RouteParametersDeclared : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            foreach (Match match in RouteParameter().Matches(context.ApiDescription.RelativePath ?? ""))
            {
                var name = match.Groups[1].Value;
                operation.Parameters ??= [];
                if (operation.Parameters.Any(p => p.In == ParameterLocation.Path && p.Name == name))
                {
                    continue;
                }

                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = name,
                    In = ParameterLocation.Path,
                    Required = true,
                    Description = name == "id" ? "The agent's id: the agent the credentials were issued to." : null,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = name == "id" ? "uuid" : null },
                });
            }
        }

        [GeneratedRegex(@"\{([A-Za-z]+)(?::[^}]*)?\}")]
        private static partial Regex RouteParameter();
    }

    /// <summary>The query parameters an endpoint declares with <see cref="QueryParameters.WithQuery{TBuilder}"/>: added
    /// when the handler reads them itself, and typed exactly when the framework binds them as text.</summary>
    private sealed class QueryParametersDeclared : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            foreach (var declared in context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<QueryParameter>())
            {
                operation.Parameters ??= [];
                var bound = operation.Parameters.FirstOrDefault(p => p.In == ParameterLocation.Query && p.Name == declared.Name);
                if (bound is not null)
                {
                    operation.Parameters.Remove(bound);
                }

                var value = new OpenApiSchema
                {
                    Type = declared.IsInteger ? JsonSchemaType.Integer : JsonSchemaType.String,
                    Format = declared.IsInteger ? "int32" : declared.IsUuid ? "uuid" : null,
                    Minimum = declared.Minimum?.ToString(CultureInfo.InvariantCulture),
                    Maximum = declared.Maximum?.ToString(CultureInfo.InvariantCulture),
                    Enum = declared.Allowed?.Select(a => (JsonNode)JsonValue.Create(a)).ToList(),
                };
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = declared.Name,
                    In = ParameterLocation.Query,
                    Description = declared.Description,
                    Schema = declared.Repeats ? new OpenApiSchema { Type = JsonSchemaType.Array, Items = value } : value,
                    Style = declared.Repeats ? ParameterStyle.Form : null,
                    Explode = declared.Repeats,
                });
            }
        }
    }

    /// <summary>The headers answers carry, on the answers that carry them: <c>Location</c> on every 201 and 202, <c>Link</c> on
    /// a paged list's 200, <c>Retry-After</c> on 429 and 503 (and on a registration's 409, sent when waiting helps).
    /// OpenApiResponseTests checks every such header a workflow's answers carried against the document.</summary>
    private sealed class ResponseHeadersDocumented : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            var paged = context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<QueryParameter>()
                .Any(p => p.Name == QueryParameter.Limit.Name);
            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (response is not OpenApiResponse answer)
                {
                    continue;
                }

                var header = status switch
                {
                    "201" or "202" =>
                        ("Location", "Where the resource is read (the one created, or the one whose change was accepted).", JsonSchemaType.String),
                    "200" when paged =>
                        ("Link", "The next page, as <…?after=CURSOR>; rel=\"next\"; absent on the last page.", JsonSchemaType.String),
                    "429" or "503" => ("Retry-After", "Seconds to wait before trying again.", JsonSchemaType.Integer),
                    "409" when operation.OperationId == "registerAgent" =>
                        ("Retry-After", "Present only when waiting can resolve the conflict: seconds until then.", JsonSchemaType.Integer),
                    _ => default,
                };
                if (header.Item1 is null)
                {
                    continue;
                }

                answer.Headers ??= new Dictionary<string, IOpenApiHeader>();
                answer.Headers[header.Item1] = new OpenApiHeader { Description = header.Item2, Schema = new OpenApiSchema { Type = header.Item3 } };
            }
        }
    }

    /// <summary>What each group of operations is for, shown above the group in Swagger UI; the operators' groups first,
    /// the agent's own (mutual TLS only) after them.</summary>
    private sealed class TagDescriptions : IDocumentFilter
    {
        private const string AgentsOnly = "Agents only, over mutual TLS with the agent's certificate and token; a browser cannot call these. ";

        public void Apply(OpenApiDocument document, DocumentFilterContext context)
        {
            var tags = document.Tags ?? new HashSet<OpenApiTag>();
            foreach (var tag in tags)
            {
                tag.Description ??= tag.Name switch
                {
                    "Agents" => "Registered agents: list, inspect, update, drain, resume, delete.",
                    "Registration" => "An agent's registration with a single-use token (the agent calls it, with `X-Agent-Token`).",
                    "Registration tokens" => "Tokens agents register with: create, list, revoke (operators).",
                    "Tasks" => "Work for one agent: create, list, wait for, follow and cancel tasks.",
                    "Rollouts" => "A task for a fleet, in batches, with a canary, pauses and a failure limit.",
                    "Targets" => "Deployment targets: named groups of agents by labels.",
                    "Certificate authority" => "The CA bundle agents and clients pin.",
                    "API keys" => "Keys for operators, CI and viewers (admin only).",
                    "Audit" => "Who changed what, and when.",
                    _ when tag.Name?.StartsWith(ApiRoutes.AgentTagPrefix, StringComparison.Ordinal) == true => AgentsOnly + tag.Name switch
                    {
                        var n when n.EndsWith("heartbeat", StringComparison.Ordinal) => "Liveness, status and the work and renewal it answers with.",
                        var n when n.EndsWith("credentials", StringComparison.Ordinal) => "The agent's identity and certificate renewal.",
                        var n when n.EndsWith("task stream", StringComparison.Ordinal) => "Tasks pushed over a WebSocket as they are created.",
                        _ => "The agent's side of tasks: fetch, report progress and logs, complete.",
                    },
                    _ => $"{tag.Name} operations.",
                };
            }

            document.Tags = new HashSet<OpenApiTag>(tags
                .OrderBy(t => t.Name?.StartsWith(ApiRoutes.AgentTagPrefix, StringComparison.Ordinal) == true)
                .ThenBy(t => t.Name, StringComparer.Ordinal));
        }
    }

    /// <summary>Publishes the payload schema of each built-in task type as the component <c>Payload.&lt;type&gt;</c>, from the
    /// same text the service validates with (<see cref="PayloadSchemas"/>), so the document cannot drift from the check.</summary>
    /// <summary>A nullable reference (<c>allOf</c> of one <c>$ref</c>, marked nullable) also states the referenced
    /// schema's type: OpenAPI 3.0 gives <c>nullable</c> meaning only beside <c>type</c> (Redocly's
    /// nullable-type-sibling), and generators read it from there.</summary>
    private sealed class NullableReferencesTyped : IDocumentFilter
    {
        public void Apply(OpenApiDocument document, DocumentFilterContext context)
        {
            var schemas = document.Components?.Schemas ?? new Dictionary<string, IOpenApiSchema>();
            foreach (var property in schemas.Values.SelectMany(s => s.Properties?.Values ?? []).OfType<OpenApiSchema>())
            {
                // The reference is looked up by id: its target is not resolved while filters run.
                if (property is { AllOf: [OpenApiSchemaReference { Reference.Id: { } id }] } &&
                    (property.Type ?? JsonSchemaType.Null) == JsonSchemaType.Null &&
                    schemas.TryGetValue(id, out var target) && target.Type is { } type)
                {
                    property.Type = type | JsonSchemaType.Null;
                }
            }
        }
    }

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
