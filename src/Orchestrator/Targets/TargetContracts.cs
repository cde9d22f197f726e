using System.Text.Json;

namespace Orchestrator.Targets;

// The target endpoints' wire records, nested in TargetEndpoints so their published OpenAPI schema names stay as they are.
public static partial class TargetEndpoints
{
    public sealed record CreateTargetRequest(string? Name, string? Type, Guid? AgentId, JsonElement? Properties);

    public sealed record TargetResponse(Guid Id, string Name, string Type, Guid? AgentId, JsonElement? Properties, DateTime CreatedAt);

    public sealed record DeletedResponse(bool Deleted);
}
