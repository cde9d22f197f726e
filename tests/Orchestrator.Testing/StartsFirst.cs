using Xunit.Abstractions;
using Xunit.Sdk;

namespace Orchestrator.Testing;

/// <summary>Marks a collection definition whose tests take far longer than any other class of their project: its
/// collection starts before the others (<see cref="StartsFirstOrderer"/>).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class StartsFirstAttribute : Attribute;

/// <summary>xunit starts at most <c>maxParallelThreads</c> collections at a time, in the order of the collection
/// orderer, and starts the next as one ends. Its default order is random, so a collection of two minutes that came late
/// ran on after every other class of its project had ended, and the whole run waited for it. Collections
/// marked <see cref="StartsFirstAttribute"/> come first, and the rest follow in the default order. A test project opts
/// in with <c>[assembly: TestCollectionOrderer(StartsFirstOrderer.TypeName, StartsFirstOrderer.AssemblyName)]</c>; with
/// xunit's diagnostic messages on, the orderer names the collections it put first.</summary>
public sealed class StartsFirstOrderer(IMessageSink diagnostics) : ITestCollectionOrderer
{
    public const string TypeName = "Orchestrator.Testing.StartsFirstOrderer";
    public const string AssemblyName = "Orchestrator.Testing";

    private readonly DefaultTestCollectionOrderer _default = new();

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections)
    {
        // OrderBy is stable: within each group the default order stays.
        var ordered = _default.OrderTestCollections(testCollections).OrderBy(c => StartsFirst(c) ? 0 : 1).ToList();
        var first = ordered.TakeWhile(StartsFirst).Select(c => c.DisplayName);
        diagnostics.OnMessage(new DiagnosticMessage($"StartsFirstOrderer: starting first: {string.Join(", ", first)}"));
        return ordered;
    }

    private static bool StartsFirst(ITestCollection collection) =>
        collection.CollectionDefinition?.GetCustomAttributes(typeof(StartsFirstAttribute)).Any() == true;
}
