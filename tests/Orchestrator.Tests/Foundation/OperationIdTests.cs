using System.Net;
using System.Text.RegularExpressions;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>Generated clients name their methods after operationIds: every operation has one, unique and stable.</summary>
public sealed partial class OperationIdTests(SharedApps apps) : IClassFixture<SharedApps>
{
    private static readonly string[] Expected =
    [
        "DELETE /api/v1/agents/{id} deleteAgent",
        "DELETE /api/v1/api-keys/{id} deleteApiKey",
        "DELETE /api/v1/registration-tokens/{id} deleteRegistrationToken",
        "DELETE /api/v1/targets/{id} deleteTarget",
        "GET /api/v1/agents listAgents",
        "GET /api/v1/agents/{id} getAgent",
        "GET /api/v1/agents/{id}/identity getAgentIdentity",
        "GET /api/v1/agents/{id}/task-stream getAgentTaskStream",
        "GET /api/v1/agents/{id}/tasks listAgentTasks",
        "GET /api/v1/agents/{id}/tasks/{taskId} getAgentTask",
        "GET /api/v1/api-keys listApiKeys",
        "GET /api/v1/audit listAuditEvents",
        "GET /api/v1/ca getCa",
        "GET /api/v1/registration-tokens listRegistrationTokens",
        "GET /api/v1/rollouts listRollouts",
        "GET /api/v1/rollouts/{rolloutId} getRollout",
        "GET /api/v1/rollouts/{rolloutId}/events listRolloutEvents",
        "GET /api/v1/targets listTargets",
        "GET /api/v1/targets/{id} getTarget",
        "GET /api/v1/tasks listTasks",
        "GET /api/v1/tasks/{taskId} getTask",
        "GET /api/v1/tasks/{taskId}/events listTaskEvents",
        "POST /api/v1/agents/register registerAgent",
        "POST /api/v1/agents/{id}/certificate/renew renewAgentCertificate",
        "POST /api/v1/agents/{id}/drain drainAgent",
        "POST /api/v1/agents/{id}/heartbeat heartbeatAgent",
        "POST /api/v1/agents/{id}/resume resumeAgent",
        "POST /api/v1/agents/{id}/tasks/{taskId}/complete completeAgentTask",
        "POST /api/v1/api-keys createApiKey",
        "POST /api/v1/ca/rotate rotateCa",
        "POST /api/v1/registration-tokens createRegistrationToken",
        "POST /api/v1/rollouts createRollout",
        "POST /api/v1/rollouts/{rolloutId}/cancel cancelRollout",
        "POST /api/v1/rollouts/{rolloutId}/pause pauseRollout",
        "POST /api/v1/rollouts/{rolloutId}/resume resumeRollout",
        "POST /api/v1/targets createTarget",
        "POST /api/v1/tasks createTask",
        "POST /api/v1/tasks/{taskId}/cancel cancelTask",
        "PUT /api/v1/agents/{id} updateAgent",
    ];

    [Fact]
    public async Task Every_operation_has_a_unique_stable_operation_id()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var document = await (await app.Client().GetAsync("/swagger/v1/swagger.json")).ShouldBe(HttpStatusCode.OK);

        var operations = document.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(operation =>
                $"{operation.Name.ToUpperInvariant()} {path.Name} {(operation.Value.TryGetProperty("operationId", out var id) ? id.GetString() : "-")}"))
            .Order(StringComparer.Ordinal).ToList();
        var ids = operations.Select(o => o.Split(' ')[2]).ToList();
        Assert.All(ids, id => Assert.Matches(CamelCase(), id));
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(Expected, operations);
    }

    [GeneratedRegex("^[a-z][A-Za-z0-9]*$")]
    private static partial Regex CamelCase();
}
