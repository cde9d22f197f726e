namespace Orchestrator.Streams;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class StreamDocs
{
    public const string Connect =
        "Upgrade with the agent's client certificate and `Authorization: Bearer <token>`. The server sends " +
        "`task_assigned` for each waiting task and then as tasks are created, and `task_cancelled`; the agent sends " +
        "`task_progress` and `task_log`. Invalid messages get an `error` message. One stream per agent (a new one " +
        "replaces the old, close code 4000); oversized messages close with 1009, floods with 1008, revocation with 1008, " +
        "the expiry of the certificate and token it was opened with with 1008, shutdown with 1001.";
}
