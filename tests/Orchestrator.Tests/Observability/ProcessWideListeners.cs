namespace Orchestrator.Tests.Observability;

/// <summary>Test classes whose hosts listen to something every host in the process shares (the static
/// <c>ActivitySource</c> of Orchestrator's spans) run in this collection: alone, after the others, so no other test's
/// tasks are created or handed out inside a span this class's tracer sampled.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideListeners
{
    public const string Name = "process-wide listeners (runs alone)";
}
