using System.Text.Json.Nodes;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Orchestrator.Web;

/// <summary>An example and the required fields on every request body, which Swagger UI pre-fills for "Try it out": each is a request the
/// service accepts as it stands (on a fleet with at least one agent; an example that names an agent names
/// <see cref="PlaceholderAgentId"/>), never the generated placeholders ("string", 0)
/// it would refuse. OpenApiDocumentTests sends every operator example and expects it to succeed.</summary>
internal sealed class RequestExamples : ISchemaFilter
{
    /// <summary>Stands for an agent of the reader's fleet in examples that name one (a target is bound to its agent):
    /// the one value to replace before "Execute".</summary>
    public const string PlaceholderAgentId = "01936f3e-0000-7000-8000-000000000001";

    private static readonly Dictionary<Type, string> Examples = new()
    {
        [typeof(CreateApiKeyRequest)] = """{ "name": "ci-pipeline", "role": "operator" }""",
        [typeof(CreateTokenRequest)] = """{ "description": "web fleet, eu-1", "expiresInMinutes": 60, "maxUses": 5, "labels": { "zone": "eu-1" } }""",
        [typeof(CreateTargetRequest)] =
            $$"""{ "name": "web-01", "type": "ssh", "agentId": "{{PlaceholderAgentId}}", "properties": { "host": "10.0.0.5", "port": 22 } }""",
        [typeof(UpdateAgentRequest)] = """{ "labels": { "zone": "eu-1" } }""",
        [typeof(DrainRequest)] = """{ "reason": "kernel upgrade" }""",
        [typeof(CreateTaskRequest)] = """{ "taskType": "agent.noop", "selector": { "labels": {} }, "timeout": 300 }""",
        [typeof(CreateRolloutRequest)] =
            """
            { "name": "noop across the fleet", "taskType": "agent.noop", "selector": { "labels": {} },
              "strategy": { "batchSize": 1, "maxFailures": 0 } }
            """,
        [typeof(RegisterRequest)] =
            """
            { "name": "web-01", "version": "1.4.0", "capabilities": ["docker"], "labels": { "zone": "eu-1" },
              "taskTypes": ["docker.pull", "docker.run"] }
            """,
        [typeof(HeartbeatRequest)] = """{ "status": "healthy", "resourceUsage": { "cpu": 12.5, "memory": 40.1, "disk": 55 }, "runningTasks": 0 }""",
        [typeof(RenewRequest)] =
            """{ "csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIBKTCB0AIBADBuMQ8wDQYDVQQDDAZ3ZWItMDE…\n-----END CERTIFICATE REQUEST-----\n" }""",
        [typeof(CompleteTaskRequest)] =
            """
            { "success": true, "result": { "imageId": "sha256:3f2a9c" },
              "logs": [{ "timestamp": "2026-01-31T12:00:00Z", "level": "info", "message": "Pulled nginx:1.27" }] }
            """,
    };

    /// <summary>The fields the service refuses a request without (400 naming the field). The records leave every field
    /// nullable so the service, not the JSON reader, says what is missing; the document says it up front.</summary>
    private static readonly Dictionary<Type, string[]> Required = new()
    {
        [typeof(CreateApiKeyRequest)] = ["name", "role"],
        [typeof(CreateTargetRequest)] = ["name", "type", "agentId"],
        [typeof(CreateTaskRequest)] = ["taskType"],
        [typeof(CreateRolloutRequest)] = ["taskType"],
        [typeof(RegisterRequest)] = ["name", "version"],
        [typeof(HeartbeatRequest)] = ["status"],
        [typeof(CompleteTaskRequest)] = ["success"],
    };

    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        if (schema is not OpenApiSchema concrete)
        {
            return;
        }

        if (Examples.TryGetValue(context.Type, out var example))
        {
            concrete.Example = JsonNode.Parse(example);
        }

        if (Required.TryGetValue(context.Type, out var required))
        {
            concrete.Required = new HashSet<string>(required, StringComparer.Ordinal);
        }
    }
}
