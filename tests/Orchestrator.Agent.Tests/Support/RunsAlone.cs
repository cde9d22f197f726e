using Orchestrator.Testing;

// Long collections first (DocsFirst), the rest in xunit's own order.
[assembly: TestCollectionOrderer(StartsFirstOrderer.TypeName, StartsFirstOrderer.AssemblyName)]

namespace Orchestrator.Agent.Tests.Support;

/// <summary>Test classes that load the machine (a fleet of 200 simulated agents, six agents and a second Docker Engine)
/// run in this collection: alone, after the others, so they cannot starve the classes that measure time (certificate
/// renewal within seconds, revocation within two heartbeats). CI runs beside them twice saw the renewal test's task wait
/// 30 s on a machine at load 20 to 30.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "heavy (runs alone)";
}
