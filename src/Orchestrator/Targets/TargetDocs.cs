namespace Orchestrator.Targets;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class TargetDocs
{
    public const string Create =
        "`name` is unique (409 when taken). `agentId` must name an existing agent (404 otherwise). `properties` is an " +
        "optional JSON object (at most 16 KiB) for the agent's use; it is returned as given, so it must not hold secrets.";

    public const string List =
        "Filters: `agentId`, `type`. Ordered by name; paged with `limit` and `after`, the next page's URL is in the " +
        "`Link` header. A target whose agent was deleted has `agentId` null.";
}
