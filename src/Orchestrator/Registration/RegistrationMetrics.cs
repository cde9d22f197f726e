using System.Diagnostics.Metrics;
using Orchestrator.Hosting;

namespace Orchestrator.Registration;

/// <summary>Registration attempts by outcome: a fleet rollout shows as <c>registered</c>, a leaked or stale token as
/// <c>bad_token</c>, a crash-looping agent as <c>name_conflict</c> or <c>rate_limited</c>.</summary>
public sealed class RegistrationMetrics
{
    public const string OutcomeAttribute = "orchestrator.registration.outcome";

    private readonly Counter<long> _registrations;

    public RegistrationMetrics(IMeterFactory meters) =>
        _registrations = meters.OrchestratorMeter().CreateCounter<long>("orchestrator.agent.registrations", "{registration}",
            "Registration attempts by outcome: registered, reenrolled, invalid_request, no_token, bad_token, name_conflict, rate_limited.");

    public void Outcome(string outcome) => _registrations.Add(1, new KeyValuePair<string, object?>(OutcomeAttribute, outcome));
}
