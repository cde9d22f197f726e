using Xunit.Abstractions;
using Xunit.Sdk;

namespace Orchestrator.Testing;

/// <summary>Marks a collection definition whose tests take far longer than any other class of their project: its
/// collection starts before the others (<see cref="StartOrderer"/>).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class StartsFirstAttribute : Attribute;

/// <summary>Marks a collection definition that starts after every other collection of its project has started
/// (<see cref="StartOrderer"/>); with <see cref="RunningClasses"/> its tests can wait until those have ended.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class StartsLastAttribute : Attribute;

/// <summary>xunit starts at most <c>maxParallelThreads</c> collections at a time, in the order of the collection
/// orderer, and starts the next as one ends (its semaphore serves waiters in turn). Its default order is random, so a
/// collection of two minutes that came late ran on after every other class of its project had ended, and the whole run
/// waited for it. Collections marked <see cref="StartsFirstAttribute"/> come first, those marked
/// <see cref="StartsLastAttribute"/> last, the rest between in the default order. A test project opts in with
/// <c>[assembly: TestCollectionOrderer(StartOrderer.TypeName, StartOrderer.AssemblyName)]</c>; with xunit's diagnostic
/// messages on, the orderer names the collections it put first and last.</summary>
public sealed class StartOrderer(IMessageSink diagnostics) : ITestCollectionOrderer
{
    public const string TypeName = "Orchestrator.Testing.StartOrderer";
    public const string AssemblyName = "Orchestrator.Testing";

    private readonly DefaultTestCollectionOrderer _default = new();

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections)
    {
        // OrderBy is stable: within each group the default order stays.
        var ordered = _default.OrderTestCollections(testCollections).OrderBy(Rank).ToList();
        diagnostics.OnMessage(new DiagnosticMessage(
            $"StartOrderer: first: {Names(ordered.Where(c => Rank(c) == 0))}; last: {Names(ordered.Where(c => Rank(c) == 2))}"));
        return ordered;
    }

    private static int Rank(ITestCollection collection) =>
        Marked<StartsFirstAttribute>(collection) ? 0 : Marked<StartsLastAttribute>(collection) ? 2 : 1;

    private static bool Marked<TAttribute>(ITestCollection collection) =>
        collection.CollectionDefinition?.GetCustomAttributes(typeof(TAttribute)).Any() == true;

    private static string Names(IEnumerable<ITestCollection> collections) => string.Join(", ", collections.Select(c => c.DisplayName));
}
