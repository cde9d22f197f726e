using Orchestrator.Http;

namespace Orchestrator.Rollouts;

public enum RolloutOutcome
{
    Ok,
    Replayed,
    NotFound,
    Conflict,

    /// <summary>Well-formed, but naming agents that do not exist, or no agent at all (422 naming the field).</summary>
    Unprocessable,
}

public sealed record RolloutResult(RolloutOutcome Outcome, Rollout? Rollout = null, string? Detail = null, Validation? Errors = null)
{
    public static RolloutResult NotFound(Guid rolloutId) => new(RolloutOutcome.NotFound, Detail: $"No rollout has id {rolloutId}.");

    public static RolloutResult Unprocessable(string field, string message) =>
        new(RolloutOutcome.Unprocessable, Errors: new Validation().Add(field, message));
}
