namespace Orchestrator.Tests.Observability;

/// <summary>Test classes that observe something every host in the process shares run in this collection: alone, after
/// the others. Tracing listens to the static <c>ActivitySource</c> of Orchestrator's spans, so no other test's tasks may
/// be created or handed out inside a span its tracer sampled; <c>HostLifetimeTests</c> asks the garbage collector, whose
/// full collections would stop the other tests' services meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideListeners
{
    public const string Name = "process-wide listeners (runs alone)";
}
