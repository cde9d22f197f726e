namespace Orchestrator.ApiKeys;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class ApiKeyDocs
{
    public const string Create =
        "Roles: `viewer` (reads), `operator` (agents, tokens, tasks, targets), `admin` (also API keys, audit and CA). The " +
        "key is in this answer only; it is stored hashed.";

    public const string Revoke =
        "Takes effect on the next request. The last active admin key cannot be revoked (409), so the service cannot be " +
        "locked.";
}
