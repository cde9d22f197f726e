using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Orchestrator.Hosting;

/// <summary>The one name Orchestrator's own metrics and spans go out under, and what its instruments share. Each feature
/// creates its instruments beside the code that records them (<c>AgentMetrics</c>, <c>TaskMetrics</c>, …) from the
/// host's <see cref="IMeterFactory"/>, so two hosts in one process (tests, benchmarks) never count into each other;
/// Observability exports whatever is published under <see cref="Name"/>.</summary>
public static class Telemetry
{
    public const string Name = "Orchestrator";

    /// <summary>Spans of task creation, claims, dispatch, completion, certificate issuance and rollout batches. Static,
    /// as an <see cref="ActivitySource"/> must be: spans are only recorded when a tracer provider listens (tracing on) or
    /// a test listens.</summary>
    public static readonly ActivitySource Source = new(Name);

    /// <summary>The W3C <c>traceparent</c> of the current span, kept with work that outlives the request that made it (a
    /// task), so its delivery and completion join that request's trace. Null without a sampled current span: ASP.NET
    /// Core gives every request an activity, but one nobody traces (no tracing here, no sampled trace from the caller)
    /// is not worth storing or handing to an agent.</summary>
    public static string? CurrentTraceParent() =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C, Recorded: true } current ? current.Id : null;

    /// <summary>Starts a span in the trace of work that outlives requests: a child of the current span when that is
    /// already in the work's trace (an agent that propagated it), otherwise a child of the work's stored
    /// <paramref name="traceParent"/>, linked to the current span (the heartbeat or stream that carried it). Null when
    /// nothing listens, and when there is no trace to join at all (an untraced task handed out outside any request): a
    /// root span of its own would be sampled by whichever tracer listens and hand the agent a trace nobody started.</summary>
    public static Activity? StartInTrace(string name, string? traceParent, ActivityKind kind = ActivityKind.Internal)
    {
        var current = Activity.Current;
        if (!Source.HasListeners() || (traceParent is null && current is null))
        {
            return null;
        }

        if (traceParent is null || !ActivityContext.TryParse(traceParent, null, out var stored) ||
            (current is not null && current.TraceId == stored.TraceId))
        {
            return Source.StartActivity(name, kind);
        }

        ActivityLink[]? links = current is null ? null : [new ActivityLink(current.Context)];
        return Source.StartActivity(name, kind, stored, links: links);
    }

    /// <summary>Bucket boundaries (seconds) for work done inside one request: a heartbeat, an authentication.</summary>
    public static readonly IReadOnlyList<double> RequestBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    /// <summary>Bucket boundaries (seconds) for waits that span requests: a task from creation to its agent.</summary>
    public static readonly IReadOnlyList<double> WaitBuckets =
        [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    /// <summary>The host's meter for Orchestrator's instruments (the factory returns the same one on every call).</summary>
    public static Meter OrchestratorMeter(this IMeterFactory meters) => meters.Create(Name);
}
