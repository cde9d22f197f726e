namespace Orchestrator.Rollouts;

/// <summary>What the API documentation says about each route of rollouts; summaries stay beside their routes.</summary>
internal static class RolloutDocs
{
    public const string Create =
        "The task fields are those of `POST /api/v1/tasks` (`taskType`, `payload`, `credentials`, `priority`, `timeout`); " +
        "give exactly one of `selector` or `agentIds`. The targets are fixed now: the agents named or matched that are not " +
        "draining, in name order (none: 422; an unknown id: 422 naming it). `strategy`: `batchSize` (default 1) or " +
        "`batchPercent` (1-100 of the targets, rounded up); `maxFailures` (default 0) or `maxFailurePercent` (of the targets, " +
        "rounded down): one failure more stops the rollout; `pauseSeconds` between batches; `canary`: agents in a first " +
        "batch after which the rollout pauses until resumed. With `idempotencyKey` (or the `Idempotency-Key` header) a repeated " +
        "request answers 200 with the first rollout. See docs/rollouts.md.";

    public const string List =
        "Filter with `status` (pending, running, paused, succeeded, failed, cancelling, cancelled). Paged with `limit` and " +
        "`after`; the next page is in the `Link` header. `targets` is an empty array here: get the rollout for them.";

    public const string Get =
        "`counts` add up to `total`. A target is `pending` until its task runs, then `running`, then its task's outcome " +
        "(`failed` also when it timed out, `cancelled`), or `skipped` (offline or draining when its batch started; not a " +
        "failure) or `not_started` (the rollout ended before its batch). `currentBatch` is 0 until the first batch starts. " +
        "With `wait` (whole seconds, 0-60) the answer comes as soon as the rollout has ended (succeeded, failed, cancelled), " +
        "on whichever replica, or as it is when the wait runs out; anything but 0-60 is a 400 naming `wait`.";

    public const string Events =
        "`text/event-stream` of what happens, in order: `status` (`{status, at, statusReason, counts}`: created, each " +
        "batch started, paused, resumed, cancelling, ended), `batch` (`{batch, batchCount, at, targets}`: a batch started), " +
        "`target` (`{agentId, agentName, batch, taskId, status, statusReason, at}`: a target's task created, started or " +
        "ended, or the target skipped or not started). Every event has an `id`; the stream ends after the `status` event of " +
        "a final state. Reconnect with the last id as `Last-Event-ID` to resume without gaps or repeats; once the end was " +
        "received the answer is 204. An idle stream carries a comment every 15 s.";

    public const string Pause =
        "No batch starts until the rollout is resumed; tasks already running go on. On a paused rollout nothing changes; " +
        "one that has ended or is being cancelled: 409.";

    public const string Resume =
        "Goes on from a pause, including the pause after the canary batch. On a rollout that is not paused nothing changes; " +
        "one that has ended or is being cancelled: 409.";

    public const string Cancel =
        "No batch starts any more; targets still waiting end `not_started`; its unfinished tasks are cancelled as with " +
        "`POST /api/v1/tasks/{taskId}/cancel`. The rollout is `cancelling` until they have ended, then `cancelled`. " +
        "A rollout that has ended: 409.";
}
