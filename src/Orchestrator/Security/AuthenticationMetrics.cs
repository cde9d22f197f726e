using System.Diagnostics.Metrics;
using Orchestrator.Hosting;

namespace Orchestrator.Security;

/// <summary>Refused credentials, counted by scheme and a fixed reason code, so a spike (a leaked key tried from
/// outside, a fleet whose certificates expired, a clock gone wrong) shows on a dashboard without reading logs. The
/// reason is a code from a closed set, never the presented key, token or certificate.</summary>
public sealed class AuthenticationMetrics
{
    public const string SchemeAttribute = "orchestrator.auth.scheme";
    public const string ReasonAttribute = "orchestrator.auth.failure.reason";

    private readonly Counter<long> _failures;

    public AuthenticationMetrics(IMeterFactory meters) =>
        _failures = meters.OrchestratorMeter().CreateCounter<long>("orchestrator.auth.failures", "{failure}",
            "Requests whose credentials were refused, by scheme (api_key, agent) and reason.");

    /// <param name="scheme"><c>api_key</c> or <c>agent</c>.</param>
    /// <param name="reason">A fixed snake_case code (see docs/observability.md).</param>
    public void Failed(string scheme, string reason) =>
        _failures.Add(1, new KeyValuePair<string, object?>(SchemeAttribute, scheme), new KeyValuePair<string, object?>(ReasonAttribute, reason));
}
