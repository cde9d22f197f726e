using Orchestrator.Agent.Tests.Docs;
using Orchestrator.Testing;

// The docs pages first, the heavy classes last, the rest in xunit's own order; the classes that run are counted, so the
// heavy ones can wait for the others to end.
[assembly: TestCollectionOrderer(StartOrderer.TypeName, StartOrderer.AssemblyName)]
[assembly: TestFramework(CountingTestFramework.TypeName, CountingTestFramework.AssemblyName)]

namespace Orchestrator.Agent.Tests.Support;

/// <summary>Test classes that load the machine (a fleet of 200 simulated agents, six agents and a second Docker Engine)
/// run in this collection, after every other class but the docs pages has ended, so they cannot starve the classes that
/// measure time (certificate renewal within seconds, revocation within two heartbeats): CI runs beside them twice saw
/// the renewal test's task wait 30 s on a machine at load 20 to 30. The collection starts last and each test first waits
/// (<see cref="WaitForTheOthersAsync"/>). The docs pages (<see cref="DocsFirst"/>, about two minutes) measure no time,
/// so these run beside them: when they ran alone after the docs, the agent tests ended about 20 s after everything else,
/// with most of the machine idle (the fleet test is bound by its round trips, not by CPU). Their times in the TRX files
/// (and among CI's slowest classes) include that wait.</summary>
[CollectionDefinition(Name)]
[StartsLast]
public sealed class HeavyLast
{
    public const string Name = "heavy (last, beside the docs only)";

    /// <summary>Returns once no test class of this process is running but <paramref name="self"/> and the docs pages (this
    /// collection's other classes run one after another, never beside it).</summary>
    public static Task WaitForTheOthersAsync(Type self) =>
        RunningClasses.OthersEndedAsync(self, [typeof(DocsThatRunTests)], TimeSpan.FromMinutes(5));
}
