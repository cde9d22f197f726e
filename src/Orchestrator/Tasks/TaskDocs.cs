namespace Orchestrator.Tasks;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class TaskDocs
{
    public const string Pending =
        "Summaries of what the next delivery would hand out, highest priority first, and `cancelledTasks`: ids of tasks " +
        "to stop. Not a delivery: fetch each task with `GET …/tasks/{taskId}`.";

    public const string Fetch =
        "A delivery: an unstarted task counts as delivered now. Another agent's task: 403. A task not yet handed out, " +
        "asked for by a draining agent: 409 (it waits until the agent is resumed).";

    public const string Complete =
        "`success`, `result` and `logs` as in the spec. The same completion again is acknowledged; a different outcome " +
        "for a task that has ended is 409; another agent's task 403. Completing a cancelling task ends it cancelled.";

    public const string Create =
        "Give exactly one of `agentId` or `selector` (`capabilities` the agent must all have, `labels` it must all match; " +
        "the online, then degraded, non-draining match with the fewest unfinished tasks is chosen). `priority` 0-100 " +
        "(default 0, higher first), `timeout` in seconds counted from delivery (default 300). `credentials` are encrypted " +
        "at rest, sent only to the agent and never shown again. With `idempotencyKey`, repeating the request answers 200 " +
        "with the first task instead of creating another.";

    public const string List =
        "Filter with `agentId`, `rolloutId` (the tasks a rollout created) and `status` (pending, assigned, running, " +
        "succeeded, failed, cancelling, cancelled, timed_out). Paged with `limit` and `after`; the next page is in the " +
        "`Link` header. `logs` is an empty array here: get the task for its log lines.";

    public const string Cancel =
        "A pending task is cancelled at once. A delivered or running task becomes `cancelling`: its agent is told to stop " +
        "it, and it ends `cancelled` when the agent reports back or the grace period passes. A task that has ended: 409.";

    public const string Get =
        "With `wait` (whole seconds, 0-60) the answer comes as soon as the task has ended (succeeded, failed, " +
        "cancelled, timed_out), on whichever replica it ended, or with the task as it is when the wait runs out: check `status` " +
        "and ask again. The wait holds no database connection and costs no polling; a replica that is stopping answers at once. " +
        "Anything but 0-60 is a 400 naming `wait`. `orchestrator tasks wait` does this in a loop; see docs/tasks.md.";

    public const string Events =
        "`text/event-stream`. Events: `status` (`{status, at, statusReason}`: every state the task reaches, in " +
        "order), `progress` (`{progress, message}`: the latest progress), `log` (`{timestamp, level, message}`: each stored line, " +
        "redacted as stored). Every event has an `id`; the stream ends after the `status` event of a final state. Reconnect " +
        "with the last id received as `Last-Event-ID` to resume without gaps or repeats, on any replica and across restarts; " +
        "once the final event was received the answer is 204. An idle stream carries a comment every 15 s. See docs/tasks.md.";
}
