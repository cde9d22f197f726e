namespace Orchestrator.Agents;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class AgentDocs
{
    public const string List =
        "Filters: `status` (online, offline, degraded), `capability` (docker, compose, ssh, winrm, ecs, nomad; " +
        "repeatable, all must match) and `label=key=value` (repeatable, all must match). Ordered by name; paged with " +
        "`limit` and `after`, the next page's URL is in the `Link` header.";

    public const string Get =
        "The list fields plus labels, assigned targets, drain state, certificate expiry, registration time, running " +
        "tasks, the task types the agent runs, and `missingCapabilities`: the capabilities the agent looked for and did " +
        "not find, each with the agent's reason (empty when none).";

    public const string Update =
        "Each field given replaces the stored set; an omitted field stays as it is. The agent is the authority on " +
        "capabilities: its next heartbeat that reports capabilities replaces these.";

    public const string Delete =
        "Revokes every certificate and token of the agent at once and removes its registration. Its targets stay, " +
        "unassigned.";

    public const string Drain =
        "A draining agent gets no new tasks and finishes what it runs. `deadline` (optional, in the future) is when its " +
        "remaining tasks should be done. Draining again updates reason and deadline.";

    public const string Heartbeat =
        "`status` `healthy` keeps or makes the agent online, `degraded` degraded. Stores resource usage, running task " +
        "count and, when sent, the capabilities, task types and `missingCapabilities` (each replacing the stored one). " +
        "Answers pending `tasks`, `cancelledTasks` " +
        "(ids to stop) and, only while the presented certificate is within `Orchestrator:Certificates:RenewBefore` of its " +
        "end, `certificateRenewal` (a new certificate for the same key, or for `csr`'s key, and its bound token).";
}
